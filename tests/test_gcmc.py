"""fix gcmc and fix widom through the bridge reproduce LAMMPS' native pair style exactly.

ASE's LennardJones (not smoothed) is lj/cut with pair_modify shift yes.  With the same seed the
Monte Carlo chains are identical move for move as long as every trial energy agrees to
round-off, so the atom counts after the same number of cycles must be equal.  Trial deletions
work only because the bridge drops atoms that fix gcmc excludes from all interactions.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_EXAMPLE = Path(__file__).parents[1] / "examples" / "argon_gcmc" / "run.py"
_spec = importlib.util.spec_from_file_location("argon_gcmc_example", _EXAMPLE)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)
argon = example.argon  # the example's setup: its box, ASE LJ via the bridge or native lj/cut


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

"""Gather (and cluster) mode on 1, 2 and 4 MPI ranks: identical to the direct call.

Each case runs in its own `mpirun` (4 ranks oversubscribe a 2-core machine: correctness, not
speed).  A hang would hit the subprocess timeout and fail the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    LammpsResult,
    ase_virial,
    assert_matches,
    cluster_virial,
    mpirun_command,
    requires_mpi,
)
from mpi_cases import CASES

pytestmark = requires_mpi

HERE = Path(__file__).parent
NPROCS = (1, 2, 4)


def clean_mpi_environment() -> dict[str, str]:
    """os.environ is Python's startup snapshot; an MPI singleton initialised in this process
    (any earlier LAMMPS test) adds OMPI_/PMIX_ variables to the C environment that would make
    a child mpirun believe it runs inside another job."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}


def mpirun(case: str, nprocs: int, tmp_path: Path) -> dict:
    out = tmp_path / f"{case}-{nprocs}.json"
    cmd = mpirun_command(nprocs) + [sys.executable, str(HERE / "mpi_driver.py"), case, str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env=clean_mpi_environment())
    assert out.exists(), f"no result (exit {proc.returncode}):\n{proc.stdout[-3000:]}" \
                         f"\n{proc.stderr[-3000:]}"
    record = json.loads(out.read_text())
    assert record["nprocs"] == nprocs
    return record


def reference(case: str):
    atoms, _, kwargs = CASES[case]()
    calc_atoms = atoms
    if "extra" in kwargs:  # the exclusions case: atoms 5, 17, 18 are not part of the system
        calc_atoms = atoms.copy()
        del calc_atoms[[4, 16, 17]]
    calc_atoms.calc = CASES[case]()[1]
    virial = ase_virial(calc_atoms) if calc_atoms.pbc.any() else cluster_virial(calc_atoms)
    return atoms, calc_atoms, virial


@pytest.mark.parametrize("nprocs", NPROCS)
@pytest.mark.parametrize("case", ["emt_orthogonal", "emt_triclinic_real", "charge_spin",
                                  "cluster_in_one_corner", "exclusions", "lj_cluster"])
def test_mpi_matches_direct_call(case, nprocs, tmp_path):
    record = mpirun(case, nprocs, tmp_path)
    assert "error" not in record, record["error"]
    atoms, calc_atoms, virial = reference(case)
    forces = np.array(record["forces"])
    if "extra" in CASES[case]()[2]:
        keep = np.setdiff1d(np.arange(len(atoms)), [4, 16, 17])
        assert np.all(forces[[4, 16, 17]] == 0.0)
        forces = forces[keep]
    result = LammpsResult(record["energy"], forces, np.array(record["virial"]), None)
    assert_matches(result, calc_atoms.get_potential_energy(), calc_atoms.get_forces(), virial)
    if record["energies"] is not None:
        assert np.abs(np.array(record["energies"]) - calc_atoms.get_potential_energies()).max() \
            < 1e-10


def test_calculator_error_stops_all_ranks_with_its_message(tmp_path):
    record = mpirun("exploding", 2, tmp_path)
    assert "RuntimeError: the model exploded on purpose" in record["error"]


def test_periodic_mode_on_several_ranks_is_refused(tmp_path):
    record = mpirun("periodic_on_two_ranks", 2, tmp_path)
    assert "ParallelModeError: mode='periodic' evaluates the owned atoms of one rank" \
        in record["error"]


def test_setup_error_on_one_rank_stops_all_ranks(tmp_path):
    """Patch 0014: the ranks whose setup succeeded must not wait forever for the failing one."""
    record = mpirun("setup_fails_on_one_rank", 2, tmp_path)
    assert "mliappy unified setup failed on rank 1: UnsupportedUnitsError" in record["error"]

"""Pair files written by every past release load, through plain `lmp` and through Python.

Why: pair files are user data that live for years in job folders.  A release that added an
attribute to the pickled interface without a default broke every older file at its first use
(`AttributeError: ... 'energy_only_trials'`).  tests/data/pair_files/ keeps files written by
the past releases' own code (README.md there: the commits and the command); each must give what
a pair file written today gives, and what the calculator called directly gives.  A file from a
newer release ends in one line naming the release that wrote it (docs/pair-files.md).
"""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.adapter import pairfile
from lammps_mliap_ase.errors import PairFileError
from lammps_mliap_ase.models.registry import make_calculator

from conftest import ase_virial, assert_matches, run_bridge

DATA = Path(__file__).resolve().parent / "data"
FILES = DATA / "pair_files"
BIN = Path(sys.executable).parent
PAIR_FILES = sorted(FILES.glob("*.pkl"))
sys.path.insert(0, str(FILES))
from write_pair_files import LJ_OPTIONS  # noqa: E402 - the options the old files hold


def fresh(path: Path) -> UniversalASEUnifiedMLIAPInterface:
    """The interface that `path` holds, as this release builds it."""
    if path.stem.endswith("lj-recipe"):
        return UniversalASEUnifiedMLIAPInterface.from_registry("lj", dict(LJ_OPTIONS))
    return UniversalASEUnifiedMLIAPInterface(EMT())


def reference(path: Path):
    """The calculator `path` wraps, called directly."""
    if path.stem.endswith("lj-recipe"):
        return make_calculator("lj", **LJ_OPTIONS).calculator
    return EMT()


def test_every_kind_of_past_pair_file_is_kept():
    """At least EMT and a registry recipe from before the package layout change and from
    before energy-only trials, and the unversioned files of the last release."""
    names = {p.stem for p in PAIR_FILES}
    for tag in ("6e5fd11-before-folders", "a054968-before-energy-only", "cdaad32-energy-only"):
        assert {f"format1-{tag}-emt", f"format1-{tag}-lj-recipe"} <= names, names


@pytest.mark.parametrize("path", PAIR_FILES, ids=lambda p: p.stem)
def test_an_old_pair_file_has_every_attribute_of_a_fresh_one(path):
    """Fails when an attribute is added to the pickled interface without an entry in
    STATE_DEFAULTS: the oldest files do not have it."""
    loaded = pickle.loads(path.read_bytes())
    assert type(loaded) is UniversalASEUnifiedMLIAPInterface
    assert sorted(vars(loaded)) == sorted(vars(fresh(path)))


@pytest.mark.parametrize("path", PAIR_FILES, ids=lambda p: p.stem)
def test_an_old_pair_file_through_python_equals_the_calculator(path):
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(0.05, seed=3)
    result = run_bridge(atoms, pickle.loads(path.read_bytes()))
    atoms.calc = reference(path)
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), ase_virial(atoms))
    result.lmp.close()


def plain_lmp(pair: Path, cwd: Path) -> str:
    """Thermo rows (step temp pe etotal press, 12 digits) of 20 NVE steps under plain `lmp`."""
    proc = subprocess.run([str(BIN / "lmp"), "-in", str(DATA / "in.cu_nve"), "-var", "pairfile",
                           str(pair), "-var", "steps", "20", "-nocite", "-log", "none"],
                          cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = re.findall(r"^\s+(\d+(?:\s+-?[\d.e+-]+){4})\s*$", proc.stdout, re.MULTILINE)
    assert len(rows) == 3, proc.stdout[-3000:]
    return rows


@pytest.mark.parametrize("path", PAIR_FILES, ids=lambda p: p.stem)
def test_an_old_pair_file_under_plain_lmp_equals_a_fresh_one(path, tmp_path):
    """Energy, pressure and a 20-step trajectory (it follows the forces) digit for digit."""
    new = tmp_path / "fresh.pkl"
    fresh(path).pickle(str(new))
    assert plain_lmp(path, tmp_path) == plain_lmp(new, tmp_path)


def newer_pair_file(path: Path) -> None:
    """A pair file as a later release (format PAIR_FORMAT + 1) would write it."""
    interface = UniversalASEUnifiedMLIAPInterface(EMT())

    class Later(pickle.Pickler):
        def reducer_override(self, obj):
            if obj is not interface:
                return NotImplemented
            reduced = list(obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL))
            reduced[2] = reduced[2] | {"pair_format": pairfile.PAIR_FORMAT + 1,
                                       "written_by": "lammps-mliap-ase 9.9.0"}
            return tuple(reduced)

    with open(path, "wb") as out:
        Later(out).dump(interface)


def test_a_fresh_pair_file_says_its_format_and_writer():
    state = UniversalASEUnifiedMLIAPInterface(EMT()).__getstate__()
    assert state["pair_format"] == pairfile.PAIR_FORMAT
    assert state["written_by"].startswith("lammps-mliap-ase ")


def test_a_pair_file_of_a_newer_release_is_refused_in_one_line(tmp_path):
    path = tmp_path / "later.pkl"
    newer_pair_file(path)
    with pytest.raises(PairFileError, match=r"written by lammps-mliap-ase 9\.9\.0 \(pair-file "
                                            r"format \d+\); .* reads formats up to \d+"):
        pickle.loads(path.read_bytes())
    proc = subprocess.run([str(BIN / "lmp"), "-in", str(DATA / "in.cu_nve"), "-var", "pairfile",
                           str(path), "-var", "steps", "0", "-nocite", "-log", "none"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "written by lammps-mliap-ase 9.9.0" in errors[0], \
        proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_loaded_pair_file_keeps_no_transient_state_of_the_writer():
    """Caches and the coupling object are this process' own (pairfile's docstring)."""
    interface = UniversalASEUnifiedMLIAPInterface.from_registry("emt", lammps_units="metal")
    interface._last_trial = ("atoms", 1.0)
    loaded = pickle.loads(pickle.dumps(interface))
    assert loaded._last_trial is None and loaded.cache.atoms is None
    assert loaded.units == interface.units and loaded.interface is None
    np.testing.assert_equal(loaded.energy_only_trials, True)

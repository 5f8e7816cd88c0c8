"""Models exported for LAMMPS' ML-IAP unified interface by their own libraries run on the
plain (non-KOKKOS) build: the per-atom exchange of patch 0019 and SevenNet-0 exported by
sevenn's own tool (`lammps-ase export sevennet-0` = `sevenn_get_model 7net-0 --use_mliap`).

The exchange is checked by atom ID at every force call (tests/exchange_probe.py) on 1, 2 and
4 ranks.  SevenNet-0's export is compared with SevenNetCalculator('7net-0') called directly
(the registry's sevennet-0) on an MgO slab with a CO2 molecule in the vacuum gap, on 1, 2 and
4 ranks by domain decomposition (each rank evaluates its own atoms and ghosts), and 4-rank NVE
follows the 1-rank trajectory.  Tolerances are SevenNet's float32 noise as tests/test_sevennet.py
measured it (energy 8e-8 relative, forces 8e-7 eV/A, stress 4e-7 relative; we allow ~10x):
the export computes in float32 as the calculator does, in another order (LAMMPS' pair list).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretrained
import pytest
import sevenn  # noqa: F401  not importorskip: CI installs [sevennet]; its absence must fail
from exchange_probe import ExchangeProbe
from export_run import run_file_model
from test_cli import thermo_rows
from test_cli_errors import BIN, lammps_ase, one_error
from test_mpi import clean_mpi_environment

from lammps_mliap_ase.models.registry import make_calculator

from conftest import LammpsResult, assert_matches, mpirun_command, requires_mpi
from systems import mgo_slab_with_co2, orthogonal

TOL = {"e_rel": 1e-6, "f_abs": 1e-5, "v_rel": 1e-5}
HERE = Path(__file__).parent


def mpirun_file_model(system: str, model, nprocs: int, tmp_path, steps: int = 0) -> dict:
    """export_driver.py on `nprocs` ranks: its record (checked for an error)."""
    out = tmp_path / f"{system}-{nprocs}.json"
    cmd = mpirun_command(nprocs) + [sys.executable, str(HERE / "export_driver.py"),
                                    system, str(model), str(out), str(steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env=clean_mpi_environment())
    assert out.exists(), f"no result (exit {proc.returncode}):\n{proc.stdout[-3000:]}" \
                         f"\n{proc.stderr[-3000:]}"
    record = json.loads(out.read_text())
    assert "error" not in record, record["error"]
    assert record["nprocs"] == nprocs
    return record


def devices() -> tuple[str, ...]:
    import torch

    return ("numpy", "cpu") + (("cuda",) if torch.cuda.is_available() else ())


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """The exchange probe (LJ in metal units on Cu, 5.5 A cutoff) as a pair file."""
    path = tmp_path_factory.mktemp("probe") / "probe.pkl"
    path.write_bytes(pickle.dumps(ExchangeProbe(["Cu"], devices(), epsilon=0.2, sigma=2.3,
                                                rcutfac=2.75)))
    return path


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """SevenNet-0 exported by sevenn's own exporter through `lammps-ase export`."""
    folder = tmp_path_factory.mktemp("export")
    proc = lammps_ase("export", "sevennet-0", "-o", "7net-0.pt", cwd=folder)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "wrote 7net-0.pt" in proc.stdout
    return folder / "7net-0.pt"


@pytest.fixture(scope="module")
def calc():
    return make_calculator("sevennet-0").calculator


NVE_STEPS = 10


@pytest.fixture(scope="module")
def one_rank(export):
    """The export on one rank (this process): `run 0`, then NVE_STEPS steps of NVE."""
    return run_file_model(mgo_slab_with_co2(), str(export), steps=NVE_STEPS)


def test_exchange_by_atom_id_on_one_rank(probe):
    record = run_file_model(orthogonal(), str(probe), steps=2)
    assert np.abs(np.array(record["forces"])).max() > 0.01  # LJ really ran


@requires_mpi
@pytest.mark.parametrize("nprocs", (2, 4))
def test_exchange_by_atom_id_on_several_ranks(probe, nprocs, tmp_path):
    one = run_file_model(orthogonal(), str(probe))
    many = mpirun_file_model("orthogonal", probe, nprocs, tmp_path, steps=2)
    assert abs(many["energy"] - one["energy"]) <= 1e-10 * abs(one["energy"])
    assert np.abs(np.array(many["forces"]) - np.array(one["forces"])).max() < 1e-10


def check_sevennet(result: dict, calc, atoms, where: str) -> None:
    ref = pretrained.reference(calc, atoms)
    got = LammpsResult(result["energy"], np.array(result["forces"]),
                       np.array(result["virial"]), None)
    print(f"SevenNet-0 export, {where}, {len(atoms)} atoms: "
          f"{pretrained.deviations(got, atoms, ref)}")
    assert np.abs(ref["forces"]).max() > 0.05  # a real test: forces far from zero
    assert_matches(got, ref["energy"], ref["forces"], pretrained.virial(atoms, ref), **TOL)


def test_sevennet_export_equals_calculator_on_one_rank(one_rank, calc):
    check_sevennet(one_rank, calc, mgo_slab_with_co2(), "1 rank")


@requires_mpi
def test_sevennet_export_on_2_and_4_ranks_and_nve(export, calc, one_rank, tmp_path):
    """Domain decomposition: 2 and 4 ranks == the calculator; 4-rank NVE follows 1 rank."""
    atoms = mgo_slab_with_co2()
    steps = NVE_STEPS
    one = one_rank
    for nprocs in (2, 4):
        many = mpirun_file_model("mgo_slab_with_co2", export, nprocs, tmp_path,
                                 steps if nprocs == 4 else 0)
        check_sevennet(many, calc, atoms, f"{nprocs} ranks")
    pe1, pe4 = np.array(one["pe"]), np.array(many["pe"])
    dx = np.abs(np.array(one["x"]) - np.array(many["x"])).max()
    drift = np.abs(np.array(many["etotal"]) - many["etotal"][0]).max()
    print(f"NVE {steps} steps, 4 vs 1 rank: |dPE| <= {np.abs(pe4 - pe1).max():.1e} eV, "
          f"|dx| <= {dx:.1e} A; total energy within {drift:.1e} eV of its start")
    assert np.abs(pe4 - pe1).max() <= TOL["e_rel"] * np.abs(pe1).max()
    assert dx < 1e-4


def test_run_mliap_and_plain_lmp_equal_the_calculator(export, calc, tmp_path):
    """`lammps-ase run --mliap FILE` (EXISTS) and plain `lmp` (pair_style mliap unified FILE 0)
    give the calculator's energy."""
    from ase.io import write

    atoms = mgo_slab_with_co2()
    symbols = sorted(set(atoms.get_chemical_symbols()))
    write(tmp_path / "data.lmp", atoms, format="lammps-data", specorder=symbols, masses=True,
          units="metal", atom_style="atomic")
    body = """units metal
atom_style atomic
read_data data.lmp
pair_coeff_placeholder
thermo_style custom step pe
thermo_modify format float %20.12g
run 0
"""
    ref = pretrained.reference(calc, atoms, ("energy",))["energy"]
    plain = [str(BIN / "lmp"), "-in", "in.run0", "-nocite"]
    for target in ("EXISTS", str(export)):
        (tmp_path / "in.run0").write_text(body.replace(
            "pair_coeff_placeholder",
            f"pair_style mliap unified {target} 0\npair_coeff * * {' '.join(symbols)}"))
        if target == "EXISTS":
            how = "lammps-ase run --mliap"
            proc = lammps_ase("run", "-in", "in.run0", "--mliap", str(export), "--nocite",
                              cwd=tmp_path)
        else:
            how = "plain lmp"
            proc = subprocess.run(plain, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        rows = thermo_rows((tmp_path / "log.lammps").read_text())
        energy = float(rows[1][1])
        print(f"{how}: {energy!r} eV, calculator {ref!r} eV")
        assert abs(energy - ref) <= TOL["e_rel"] * abs(ref), (energy, ref)


def test_export_and_mliap_mistakes_are_one_line(tmp_path, export):
    assert "has no ML-IAP export" in one_error(lammps_ase("export", "chgnet", cwd=tmp_path))
    assert "ending in .pt" in one_error(
        lammps_ase("export", "sevennet-0", "-o", "x.pth", cwd=tmp_path))
    (tmp_path / "in.x").write_text("pair_style mliap unified EXISTS 0\n")
    assert "not found" in one_error(
        lammps_ase("run", "-in", "in.x", "--mliap", "missing.pt", cwd=tmp_path))
    assert "drop --calc" in one_error(
        lammps_ase("run", "-in", "in.x", "--mliap", str(export), "--calc", "emt", cwd=tmp_path))
    import torch

    torch.save({"weights": 1}, tmp_path / "not_a_model.pt")
    assert "not an ML-IAP unified model" in one_error(
        lammps_ase("run", "-in", "in.x", "--mliap", "not_a_model.pt", cwd=tmp_path))

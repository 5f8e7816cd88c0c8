"""What tests/test_sevennet.py and tests/test_chgnet.py share: a model family with real
weights (shipped in its library's wheel) checked against its own ASE calculator -- through
LAMMPS, on 2 MPI ranks, through a shared batched model server, from the command line, and
energy-only.  Tolerances are each model's float32 noise, measured in its test file.

Each check prints what it measured (``pytest -s``), so the documented noise figures can be
re-measured with the tests themselves.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.io import write
from test_batch import assert_distinct, assert_same, request
from test_cli import thermo_rows
from test_cli_errors import lammps_ase
from test_mpi import mpirun

from lammps_mliap_ase.models.registry import make_backend
from lammps_mliap_ase.serve.client import SharedModelCalculator
from lammps_mliap_ase.serve.protocol import Address
from lammps_mliap_ase.serve.server import ModelServer

from conftest import LammpsResult, assert_matches, run_bridge

FULL = ("energy", "forces", "stress")
# the elements of ASE's Voigt order (xx yy zz yz xz xy) in a 3x3 stress, as the bridge reads a
# calculator's 3x3 stress (CHGNet's; adapter/results.py)
VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])
ASE_TO_LAMMPS = [0, 1, 2, 5, 4, 3]  # xx yy zz yz xz xy -> xx yy zz xy xz yz


_REFERENCES: dict = {}


def reference(calc, atoms: Atoms, properties=FULL) -> dict:
    """The calculator alone on `atoms`: energy a float, arrays float64, stress in Voigt order.
    Kept per calculator and system: several checks compare with the same reference."""
    key = (id(calc), atoms.numbers.tobytes(), atoms.positions.tobytes(),
           atoms.cell.array.tobytes(), atoms.pbc.tobytes(), tuple(properties))
    if key not in _REFERENCES:
        _REFERENCES[key] = (calc, _reference(calc, atoms, properties))  # calc: id stays unique
    return {k: np.copy(v) if isinstance(v, np.ndarray) else v
            for k, v in _REFERENCES[key][1].items()}


def _reference(calc, atoms: Atoms, properties) -> dict:
    atoms = atoms.copy()
    if hasattr(calc, "reset"):
        calc.reset()
    atoms.calc = calc
    ref = {}
    for name in properties:
        value = calc.get_property(name, atoms)
        ref[name] = float(value) if name == "energy" else np.array(value, dtype=np.float64)
    if "stress" in ref and ref["stress"].shape == (3, 3):
        ref["stress"] = ref["stress"][VOIGT]
    return ref


def virial(atoms: Atoms, ref: dict) -> np.ndarray:
    """-V sigma in LAMMPS' order (xx yy zz xy xz yz), eV."""
    return -atoms.get_volume() * ref["stress"][ASE_TO_LAMMPS]


def lammps(tol: dict) -> dict:
    """The tolerances of conftest.assert_matches (energy relative, forces, virial relative)."""
    return {key: tol[key] for key in ("e_rel", "f_abs", "v_rel")}


def deviations(result: LammpsResult, atoms: Atoms, ref: dict) -> str:
    de = abs(result.energy - ref["energy"]) / abs(ref["energy"])
    df = np.abs(result.forces - ref["forces"]).max()
    w = virial(atoms, ref)
    dv = np.abs(result.virial - w).max() / np.abs(w).max()
    return f"energy {de:.1e} relative, forces {df:.1e} eV/A, virial {dv:.1e} relative"


def check_through_lammps(calc, atoms: Atoms, tol: dict, per_atom: bool = False) -> None:
    """`run 0` through LAMMPS (periodic, one rank) == the calculator called directly."""
    props = FULL + (("energies",) if per_atom else ())
    ref = reference(calc, atoms, props)
    result = run_bridge(atoms, calc, per_atom=per_atom)
    print(f"{len(atoms)} atoms through LAMMPS: {deviations(result, atoms, ref)}")
    assert np.abs(ref["forces"]).max() > 0.05  # a real test: forces far from zero
    assert_matches(result, ref["energy"], ref["forces"], virial(atoms, ref), **lammps(tol))
    if per_atom:
        de = np.abs(result.energies - ref["energies"]).max()
        print(f"  per-atom energies {de:.1e} eV")
        assert de <= tol["f_abs"], de


def check_on_two_ranks(case: str, calc, atoms: Atoms, tol: dict, tmp_path: Path) -> None:
    """Gather mode on 2 MPI ranks (tests/mpi_cases.py `case`) == the calculator directly."""
    record = mpirun(case, 2, tmp_path)
    assert "error" not in record, record["error"]
    result = LammpsResult(record["energy"], np.array(record["forces"]),
                          np.array(record["virial"]), None)
    ref = reference(calc, atoms)
    print(f"2 ranks: {deviations(result, atoms, ref)}")
    assert_matches(result, ref["energy"], ref["forces"], virial(atoms, ref), **lammps(tol))


def check_backend(calc, systems: list[Atoms], tol: dict, properties=FULL) -> None:
    """The family's backend, batched (also in reverse order) and one system at a time, ==
    the calculator alone on each system."""
    reqs = [request(a, properties) for a in systems]
    refs = [reference(calc, a, properties) for a in systems]
    assert_distinct(refs)
    batched = make_backend(calc, batched=True)
    assert batched.batched and set(properties) <= set(batched.implemented_properties)
    for order in (slice(None), slice(None, None, -1)):
        assert_same(batched.evaluate(reqs[order]), refs[order], tol["e_rel"], tol["f_abs"],
                    tol["s_abs"])
    single = make_backend(calc)
    assert type(single) is type(batched) and not single.batched  # the CPU default
    assert_same(single.evaluate(reqs), refs, tol["e_rel"], tol["f_abs"], tol["s_abs"])


def check_energy_only(family, calc, big: Atoms, systems: list[Atoms], tol: dict) -> None:
    """`family.energy_only` == the calculator's full energy at ~100 atoms, and an energy-only
    batch of the backend == the energies of the full batch and of each system alone."""
    assert family.energy_only(EMT()) is None
    energy = family.energy_only(calc)
    full = reference(calc, big)["energy"]
    de = energy(big) - full
    # one float32 ulp of the energy (6e-5 eV at 600 eV): the passes are the same arithmetic
    ulp = _ulp(full)
    print(f"energy_only at {len(big)} atoms: |dE| = {abs(de):.1e} eV (1 ulp = {ulp:.1e})")
    assert abs(de) <= ulp
    backend = make_backend(calc, batched=True)
    cheap = backend.evaluate([request(a, ("energy",)) for a in systems])
    full_batch = backend.evaluate([request(a, FULL) for a in systems])
    for got, whole, atoms in zip(cheap, full_batch, systems, strict=True):
        assert not isinstance(got, Exception), got
        assert set(got) == {"energy"}
        assert abs(got["energy"] - whole["energy"]) <= _ulp(whole["energy"])
        ref = reference(calc, atoms, ("energy",))["energy"]
        assert abs(got["energy"] - ref) <= tol["e_rel"] * abs(ref)


def _ulp(energy: float) -> float:
    return float(np.spacing(np.float32(abs(energy))))


def check_replicas(calc, clients: list[list[Atoms]], tol: dict, tmp_path: Path) -> None:
    """Replicas (one thread each) sharing one batched server: each gets the calculator's own
    results for its systems, and the server really evaluated them in batches."""
    refs = [[reference(calc, atoms) for atoms in systems] for systems in clients]
    server = ModelServer(make_backend(calc, batched=True),
                         Address.parse(str(tmp_path / "model.sock")), batch_wait=5.0, log=None)
    server.start()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    results = [[None] * len(systems) for systems in clients]
    errors: list[Exception] = []
    # all replicas connected before the first request: the first request to arrive is served
    # at once, and from then on the server waits (up to batch_wait) for every replica it has
    # served, so the later batches hold the pending systems of all replicas
    connected = threading.Barrier(len(clients), timeout=120)

    def replica(k: int) -> None:
        try:
            remote = SharedModelCalculator(str(server.address), name=f"replica {k}")
            remote.request_properties(["stress"])  # one round trip per system
            connected.wait()
            for i, atoms in enumerate(clients[k]):
                atoms = atoms.copy()
                atoms.calc = remote
                results[k][i] = {name: remote.get_property(name, atoms) for name in FULL}
            remote.close()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    replicas = [threading.Thread(target=replica, args=(k,)) for k in range(len(clients))]
    try:
        for thread in replicas:
            thread.start()
        for thread in replicas:
            thread.join(300)
    finally:
        server.stop()
        serving.join(10)
    assert not errors, errors
    stats = server.stats
    print(f"server: {stats.requests} requests in {stats.batches} batches (max {stats.max_batch})")
    assert stats.requests == sum(len(s) for s in clients)
    assert stats.max_batch == len(clients)  # the systems of all replicas in one pass
    for got, ref in zip(results, refs, strict=True):
        assert_same(got, ref, tol["e_rel"], tol["f_abs"], tol["s_abs"])


def cli_energy(name: str, atoms: Atoms, cwd: Path, *options: str) -> float:
    """`lammps-ase run --calc NAME` on `atoms` (a data file, `run 0`): the potential energy."""
    symbols = sorted(set(atoms.get_chemical_symbols()))
    write(cwd / "data.lmp", atoms, format="lammps-data", specorder=symbols, masses=True,
          units="metal", atom_style="atomic")
    (cwd / "in.run0").write_text(f"""units metal
atom_style atomic
read_data data.lmp
pair_style mliap unified EXISTS 0
pair_coeff * * {' '.join(symbols)}
thermo_style custom step pe
thermo_modify format float %20.12g
run 0
""")
    proc = lammps_ase("run", "-in", "in.run0", "--calc", name, "--nocite", *options, cwd=cwd)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = thermo_rows((cwd / "log.lammps").read_text())
    assert rows[0] == ["Step", "PotEng"], rows
    return float(rows[1][1])

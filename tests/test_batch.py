"""Batched evaluation (lammps_mliap_ase/serve/batch.py and the family backends
in models/): K different systems in one
`Backend.evaluate` call get what each gets alone from the plain ASE calculator.

The systems of each test differ in size, composition, cell shape and, for the OMol/omol
models, in charge and spin -- also on the *same* geometry -- and each test checks that their
references differ, so results swapped between systems, split off by one atom, or a charge
applied to the wrong system fail.  Batching is forced on (`batched=True`): on the CPU it is
off by default.

Tolerances: torch-sim and EMT must be bit-identical (zero tolerance); tiny UMA in float64 to
1e-10 relative (eSCN draws a random rotation per call, ~4e-15 in float64).  Orb-v3
float32 (``test_orb_float32_noise`` prints both, docs/replicas-backends.md): merely permuting
the atoms of a 24-atom water box changes the energy by 1.0e-7 relative and forces by
1.3e-6 eV/A (float32 summation order); a batched pass changed the energy by 1.0e-7 relative
and the forces not at all.  We allow 1e-5 (relative to the largest component for forces and
stress: the conservative random-weight model's stresses reach ~14 eV/A^3).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.neighborlist import neighbor_list

from lammps_mliap_ase.models.registry import make_backend
from lammps_mliap_ase.serve.batch import AseBackend, Request, pack

ALL = ("energy", "forces", "stress", "energies", "stresses")


def request(atoms: Atoms, properties=("energy", "forces", "stress"), **info) -> Request:
    charges = atoms.get_initial_charges() if atoms.has("initial_charges") else None
    return Request(numbers=atoms.numbers.astype(np.int64), positions=atoms.positions.copy(),
                   cell=atoms.cell.array.copy(), pbc=atoms.pbc.copy(), charges=charges,
                   magmoms=None, info={**atoms.info, **info}, properties=tuple(properties))


def alone(calc, req: Request) -> dict:
    """The reference: the plain ASE calculator on this one system."""
    atoms = req.to_atoms()
    if hasattr(calc, "reset"):
        calc.reset()
    atoms.calc = calc
    return {name: calc.get_property(name, atoms) for name in req.properties}


def assert_same(results, refs, e_rel, f_abs, s_abs=None):
    for got, ref in zip(results, refs, strict=True):
        assert not isinstance(got, Exception), got
        assert set(got) == set(ref)
        assert isinstance(got["energy"], float)
        assert abs(got["energy"] - ref["energy"]) <= e_rel * abs(ref["energy"])
        for name in set(ref) - {"energy"}:
            tol = f_abs if name in ("forces", "energies") else (s_abs or f_abs)
            tol *= max(1.0, np.abs(ref[name]).max())  # relative to the largest component
            assert got[name].shape == np.shape(ref[name]), name
            np.testing.assert_allclose(got[name], ref[name], rtol=0, atol=tol, err_msg=name)


def assert_distinct(refs, what="energy", rel=1e-3):
    """The systems' references differ, so a swap or a misapplied charge cannot pass."""
    values = [r[what] for r in refs]
    for i in range(len(values)):
        for j in range(i):
            assert abs(values[i] - values[j]) > rel * max(abs(values[i]), abs(values[j]))


def rattled(atoms: Atoms, seed: int, stdev=0.05) -> Atoms:
    atoms.rattle(stdev=stdev, seed=seed)
    return atoms


def triclinic(atoms: Atoms) -> Atoms:
    cell = atoms.cell.array.copy()
    cell[1, 0], cell[2, 0], cell[2, 1] = 0.7, -0.5, 0.9
    atoms.set_cell(cell, scale_atoms=True)
    return atoms


# -- pack ---------------------------------------------------------------------------------------


def test_pack_respects_the_budget():
    assert pack([], 10) == []
    assert pack([3, 4, 5], None) == [[0, 1, 2]]
    assert pack([3, 4, 5], 7) == [[0, 1], [2]]
    assert pack([3, 4, 5], 12) == [[0, 1, 2]]
    assert pack([3, 20, 4, 4], 8) == [[0], [1], [2, 3]]  # 20 > budget goes alone
    assert pack([20], 8) == [[0]]
    costs = [5, 1, 7, 3, 3, 9, 2]
    batches = pack(costs, 9)
    assert [i for b in batches for i in b] == list(range(len(costs)))  # consecutive, all
    assert all(sum(costs[i] for i in b) <= 9 for b in batches)


def test_a_failing_batch_is_retried_one_system_at_a_time():
    """A model error provoked by one system inside a batched pass (e.g. out of memory, a
    shape the model rejects) costs only that system its result."""
    from lammps_mliap_ase.serve.batch import Backend

    class Toy(Backend):
        implemented_properties = ("energy",)
        passes: list = []

        def _run(self, inputs, requests):
            self.passes.append(len(requests))
            if any(r.info.get("poison") for r in requests):
                raise RuntimeError("poisoned")
            return [{"energy": float(len(r.numbers))} for r in requests]

    cu = bulk("Cu", "fcc", a=3.61)
    reqs = [request(cu.repeat((n, 1, 1)), ("energy",)) for n in (1, 2, 3)]
    reqs[1].info["poison"] = True
    toy = Toy(batched=True)
    results = toy.evaluate(reqs)
    assert toy.passes == [3, 1, 1, 1]
    assert [r["energy"] for r in (results[0], results[2])] == [1.0, 3.0]
    assert isinstance(results[1], RuntimeError)


# -- torch-sim Lennard-Jones (float64): batched == alone, bit for bit ---------------------------


ARGON = {"sigma": 3.405, "epsilon": 0.0104, "cutoff": 8.0}


def argon_systems():
    small = rattled(bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 2, 2)), 1, 0.1)
    skewed = rattled(triclinic(bulk("Ar", "fcc", a=5.3, cubic=True).repeat((2, 2, 3))), 2, 0.1)
    big = rattled(bulk("Ar", "fcc", a=5.4, cubic=True).repeat((3, 3, 3)), 3, 0.1)
    cluster = rattled(bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 2, 1)), 4, 0.1)
    cluster.pbc = False
    cluster.center(vacuum=4.0)
    return [small, skewed, big, cluster]


@pytest.fixture(scope="module")
def torchsim_lj():
    pytest.importorskip("torch_sim")
    from lammps_mliap_ase.models.registry import make_calculator

    return make_calculator("torchsim-lj", **ARGON).calculator


def test_torchsim_lj_follows_its_documented_convention(torchsim_lj):
    """Unshifted 12-6 LJ with forces = -grad E: ASE's LennardJones (which shifts the energy
    by V(cutoff) per pair) plus that shift; torch-sim 0.3.0's doubled forces and wrong
    triclinic distances corrected (the second system is triclinic)."""
    assert torchsim_lj.factors["forces"] == 2.0  # measured for torch-sim 0.3.0
    sigma, eps, rc = ARGON["sigma"], ARGON["epsilon"], ARGON["cutoff"]
    for atoms in argon_systems()[:3]:
        ref = atoms.copy()
        ref.calc = LennardJones(sigma=sigma, epsilon=eps, rc=rc, smooth=False)
        shift = 4 * eps * ((sigma / rc) ** 12 - (sigma / rc) ** 6)
        pairs = len(neighbor_list("i", atoms, rc))  # each pair twice
        atoms.calc = torchsim_lj
        energy = ref.get_potential_energy() + 0.5 * pairs * shift
        assert atoms.get_potential_energy() == pytest.approx(energy, rel=1e-12)
        np.testing.assert_allclose(atoms.get_forces(), ref.get_forces(), atol=1e-12)
        np.testing.assert_allclose(atoms.get_stress(), ref.get_stress(), atol=1e-13)
        np.testing.assert_allclose(torchsim_lj.get_property("stresses", atoms),
                                   ref.calc.get_property("stresses", ref), atol=1e-13)
        np.testing.assert_allclose(torchsim_lj.get_property("energies", atoms).sum(), energy,
                                   rtol=1e-12)


def test_torchsim_batched_equals_alone(torchsim_lj):
    reqs = [request(a, ALL if a.pbc.all() else ("energy", "forces", "energies"))
            for a in argon_systems()]
    refs = [alone(torchsim_lj, r) for r in reqs]
    assert_distinct(refs)
    backend = make_backend(torchsim_lj, batched=True)
    assert type(backend).__name__ == "TorchSimBackend" and backend.batched
    results = backend.evaluate(reqs)
    assert_same(results, refs, e_rel=0.0, f_abs=0.0, s_abs=0.0)
    # reversed order: each result still belongs to its own system
    assert_same(backend.evaluate(reqs[::-1]), refs[::-1], e_rel=0.0, f_abs=0.0, s_abs=0.0)


def test_torchsim_errors_stay_with_their_request(torchsim_lj):
    systems = argon_systems()
    slab = systems[0].copy()
    slab.pbc = (True, True, False)
    reqs = [request(systems[0], ALL), request(slab), request(systems[3], ("energy", "stress")),
            request(systems[1], ALL)]
    results = make_backend(torchsim_lj, batched=True).evaluate(reqs)
    assert isinstance(results[1], NotImplementedError) and "one pbc flag" in str(results[1])
    assert isinstance(results[2], PropertyNotImplementedError)
    assert_same([results[0], results[3]], [alone(torchsim_lj, reqs[0]),
                                           alone(torchsim_lj, reqs[3])], 0.0, 0.0)


def test_torchsim_morse_has_no_per_atom_properties():
    pytest.importorskip("torch_sim")
    from lammps_mliap_ase.models.registry import make_calculator

    calc = make_calculator("torchsim-morse", sigma=2.5, epsilon=0.3, alpha=1.5,
                           cutoff=7.0).calculator
    atoms = rattled(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), 5)
    reqs = [request(atoms), request(atoms, ("energy", "energies")),
            request(rattled(atoms.copy(), 6))]
    results = make_backend(calc, batched=True).evaluate(reqs)
    assert isinstance(results[1], PropertyNotImplementedError)
    assert_same([results[0], results[2]], [alone(calc, reqs[0]), alone(calc, reqs[2])],
                0.0, 0.0)
    # Morse forces are -grad E too (a finite difference of its own energy)
    step, probe = 1e-5, atoms.copy()
    probe.calc = calc
    f = probe.get_forces()[3, 1]
    probe.positions[3, 1] += step
    up = probe.get_potential_energy()
    probe.positions[3, 1] -= 2 * step
    assert f == pytest.approx(-(up - probe.get_potential_energy()) / (2 * step), rel=1e-6)


# -- any ASE calculator (EMT), one at a time -----------------------------------------------------


def test_ase_backend_emt_and_a_missing_element():
    cu = rattled(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), 1)
    nial = rattled(triclinic(bulk("NiAl", "cesiumchloride", a=2.88).repeat(3)), 2)
    au = rattled(bulk("Au", "fcc", a=4.08, cubic=True).repeat((1, 1, 2)), 3)
    fe = bulk("Fe", "bcc", a=2.87, cubic=True)  # EMT has no Fe
    reqs = [request(cu, ALL[:4]), request(fe), request(nial), request(au)]
    backend = make_backend(EMT())
    assert isinstance(backend, AseBackend) and not backend.batched
    results = backend.evaluate(reqs)
    assert isinstance(results[1], Exception) and not isinstance(results[1], dict)
    refs = [alone(EMT(), reqs[i]) for i in (0, 2, 3)]
    assert_distinct(refs)
    assert_same([results[0], results[2], results[3]], refs, e_rel=0.0, f_abs=0.0)
    bad = backend.evaluate([request(cu, ("energy", "stresses"))])[0]
    assert isinstance(bad, PropertyNotImplementedError) and "'stresses'" in str(bad)


def test_results_are_independent_arrays(torchsim_lj):
    reqs = [request(a, ("energy", "forces")) for a in argon_systems()[:2]]
    for backend in (make_backend(torchsim_lj, batched=True), make_backend(EMT())):
        if isinstance(backend, AseBackend):
            reqs = [request(rattled(bulk("Cu", "fcc", a=3.61, cubic=True), s)) for s in (1, 2)]
        first = backend.evaluate(reqs)
        kept = [r["forces"].copy() for r in first]
        backend.evaluate(reqs[::-1])
        for r, k in zip(first, kept, strict=True):
            assert r["forces"].base is None or r["forces"].base.shape == r["forces"].shape
            np.testing.assert_array_equal(r["forces"], k)


# -- Orb-v3 (random weights, float32) ------------------------------------------------------------


ORB_TOL = {"e_rel": 1e-5, "f_abs": 1e-5, "s_abs": 1e-5}


def orb(name):
    pytest.importorskip("orb_models")
    from lammps_mliap_ase.models.registry import make_calculator

    return make_calculator(name, random_weights=True, seed=3).calculator


def water_box(n_side: int, seed: int) -> Atoms:
    """n_side^3 water molecules on a 3.1 A grid, rattled (periodic)."""
    water = molecule("H2O")
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    atoms = Atoms()
    for point in grid * 3.1:
        w = water.copy()
        w.translate(point)
        atoms += w
    atoms.cell = [3.1 * n_side] * 3
    atoms.pbc = True
    return rattled(atoms, seed, 0.05)


def orb_systems():
    cu = rattled(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), 1)
    skewed = rattled(triclinic(bulk("NaCl", "rocksalt", a=5.6).repeat((2, 2, 1))), 2)
    return [cu, water_box(2, 3), skewed]


@pytest.fixture(scope="module")
def orb_direct():
    return orb("orb-v3-direct-20-omat")


def test_orb_float32_noise(orb_direct):
    """The documented noise: batched vs single pass, and single pass vs atom permutation."""
    atoms = water_box(2, 5)
    single = alone(orb_direct, request(atoms))
    perm = np.random.default_rng(0).permutation(len(atoms))
    permuted = alone(orb_direct, request(atoms[perm]))
    batch = make_backend(orb_direct, batched=True).evaluate(
        [request(a) for a in orb_systems()] + [request(atoms)])[-1]
    perm_e = abs(permuted["energy"] - single["energy"]) / abs(single["energy"])
    perm_f = np.abs(permuted["forces"] - single["forces"][perm]).max()
    batch_e = abs(batch["energy"] - single["energy"]) / abs(single["energy"])
    batch_f = np.abs(batch["forces"] - single["forces"]).max()
    print(f"orb float32 noise: permutation e_rel {perm_e:.1e} f_abs {perm_f:.1e}; "
          f"batched e_rel {batch_e:.1e} f_abs {batch_f:.1e}")
    assert perm_e < ORB_TOL["e_rel"] and perm_f < ORB_TOL["f_abs"]
    assert batch_e < ORB_TOL["e_rel"] and batch_f < ORB_TOL["f_abs"]


def test_orb_direct_batched_equals_alone(orb_direct):
    reqs = [request(a) for a in orb_systems()]
    refs = [alone(orb_direct, r) for r in reqs]
    assert_distinct(refs)
    backend = make_backend(orb_direct, batched=True)
    assert type(backend).__name__ == "OrbBackend"
    assert backend.implemented_properties == ("energy", "forces", "stress")
    assert_same(backend.evaluate(reqs), refs, **ORB_TOL)
    assert_same(backend.evaluate(reqs[::-1]), refs[::-1], **ORB_TOL)
    # unbatched (the CPU default) through the same backend: the calculator's own numbers
    unbatched = make_backend(orb_direct)
    assert not unbatched.batched
    assert_same(unbatched.evaluate(reqs), refs, 0.0, 0.0, 0.0)


def test_orb_per_request_errors(orb_direct):
    cu, water, skewed = orb_systems()
    slab = cu.copy()
    slab.pbc = (True, True, False)
    reqs = [request(cu), request(slab), request(skewed, ("energy", "energies"))]
    results = make_backend(orb_direct, batched=True).evaluate(reqs)
    assert isinstance(results[1], NotImplementedError)  # orb-models: no mixed pbc
    assert isinstance(results[2], PropertyNotImplementedError)
    assert_same([results[0]], [alone(orb_direct, reqs[0])], **ORB_TOL)


def test_orb_omol_charge_and_spin_per_system():
    calc = orb("orb-v3-direct-omol")
    dimer = molecule("H2O") + molecule("H2O")
    dimer.positions[3:] += (2.8, 0.3, 0.2)
    dimer.center(vacuum=5.0)
    methane = rattled(molecule("CH4"), 2)
    methane.center(vacuum=5.0)
    props = ("energy", "forces")
    reqs = [request(dimer, props, charge=0, spin=1), request(dimer, props, charge=1, spin=2),
            request(methane, props, charge=-1, spin=2), request(dimer, props, charge=2, spin=1)]
    refs = [alone(calc, r) for r in reqs]
    assert_distinct(refs)  # same geometry, different charge/spin -> different energies
    backend = make_backend(calc, batched=True)
    assert "stress" not in backend.implemented_properties
    assert_same(backend.evaluate(reqs), refs, **ORB_TOL)
    assert_same(backend.evaluate(reqs[::-1]), refs[::-1], **ORB_TOL)
    missing = backend.evaluate([request(methane, props)])[0]
    assert isinstance(missing, ValueError) and "charge" in str(missing)


def test_orb_conservative_batched_equals_alone():
    calc = orb("orb-v3-conservative-20-omat")
    cu, water, skewed = orb_systems()
    reqs = [request(skewed), request(water), request(rattled(cu.copy(), 7)[:12])]
    refs = [alone(calc, r) for r in reqs]
    assert_distinct(refs)
    assert_same(make_backend(calc, batched=True).evaluate(reqs), refs, **ORB_TOL)


# -- UMA (tiny random fairchem checkpoint, float64) ---------------------------------------------


@pytest.fixture(scope="module")
def uma_checkpoint(tmp_path_factory):
    pytest.importorskip("fairchem.core")
    from uma_tiny import write_tiny_uma_checkpoint

    return write_tiny_uma_checkpoint(tmp_path_factory.mktemp("uma") / "uma_tiny.pt", seed=0)


def uma(checkpoint, task, **options):
    from lammps_mliap_ase.models.registry import make_calculator

    return make_calculator("uma-s-1p1", weights=checkpoint, task=task, precision="float64",
                           **options).calculator


def uma_crystals():
    cu = rattled(bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1)), 1)
    nial = rattled(triclinic(bulk("NiAl", "cesiumchloride", a=2.88).repeat((1, 1, 3))), 2)
    al = rattled(bulk("Al", "fcc", a=4.05, cubic=True), 3)
    return [cu, nial, al]


def test_uma_omat_batched_equals_alone(uma_checkpoint):
    calc = uma(uma_checkpoint, "omat")
    reqs = [request(a) for a in uma_crystals()]
    refs = [alone(calc, r) for r in reqs]
    assert_distinct(refs)
    backend = make_backend(calc, batched=True)
    assert type(backend).__name__ == "FairchemBackend"
    assert_same(backend.evaluate(reqs), refs, e_rel=1e-10, f_abs=1e-10, s_abs=1e-10)
    assert_same(backend.evaluate(reqs[::-1]), refs[::-1], e_rel=1e-10, f_abs=1e-10,
                s_abs=1e-10)


def test_uma_omol_charge_and_spin_per_system(uma_checkpoint):
    calc = uma(uma_checkpoint, "omol")
    dimer = molecule("H2O") + molecule("H2O")
    dimer.positions[3:] += (2.8, 0.3, 0.2)
    methanol = rattled(molecule("CH3OH"), 3)
    props = ("energy", "forces")
    reqs = [request(dimer, props, charge=0, spin=1), request(dimer, props, charge=1, spin=2),
            request(methanol, props, charge=-1, spin=2), request(dimer, props, charge=0, spin=3)]
    refs = [alone(calc, r) for r in reqs]
    assert_distinct(refs)
    backend = make_backend(calc, batched=True)
    assert_same(backend.evaluate(reqs), refs, e_rel=1e-10, f_abs=1e-10)
    bad = backend.evaluate([reqs[0], request(dimer, props, charge=0.5, spin=1)])
    assert isinstance(bad[1], TypeError)  # fairchem: charge must be an int
    assert_same(bad[:1], refs[:1], e_rel=1e-10, f_abs=1e-10)


def test_uma_merged_model_is_never_fed_a_mixed_batch(uma_checkpoint):
    """merge_mole specialises the model to one composition: while merged, one system per
    pass (fairchem drops the merge itself on the first system that breaks it).  Merged and
    unmerged models differ by ~2e-8 relative in float64 (measured), hence 1e-6 here."""
    from fairchem.core.units.mlip_unit import InferenceSettings

    settings = InferenceSettings(tf32=False, activation_checkpointing=False, merge_mole=True,
                                 compile=False, external_graph_gen=False,
                                 base_precision_dtype="float64")
    merged = uma(uma_checkpoint, "omat", inference_settings=settings)
    reqs = [request(a) for a in uma_crystals()]
    refs = [alone(uma(uma_checkpoint, "omat"), r) for r in reqs]
    backend = make_backend(merged, batched=True)
    assert backend.merged
    sizes = []
    predict = backend.unit.predict

    def spy(data, *args, **kwargs):
        sizes.append((len(data.natoms), backend.merged))
        return predict(data, *args, **kwargs)

    backend.unit.predict = spy
    assert_same(backend.evaluate(reqs), refs, e_rel=1e-6, f_abs=1e-6, s_abs=1e-6)
    assert sizes[0] == (1, True)
    assert all(n == 1 for n, was_merged in sizes if was_merged)
    assert not backend.merged  # fairchem fell back to the unmerged model ...
    sizes.clear()
    assert_same(backend.evaluate(reqs), refs, e_rel=1e-10, f_abs=1e-10, s_abs=1e-10)
    assert sizes == [(3, False)]  # ... so the next batch is one pass

"""Orb-v3 (real orb-models code, seeded random weights loaded through its own loader) through
LAMMPS vs ORBCalculator called directly.

Tolerances follow the model's precision.  float32: the same positions reach the model, but
LAMMPS may hand the atoms in another order, which changes the order of float32 sums over
neighbours and message-passing layers.  Measured on this 108-atom crystal by calling the model
directly on 5 random permutations of the atoms (1 thread): energy 1.1e-7 relative, forces
1.3e-6 eV/A absolute (direct model; forces are small differences of larger edge terms, so the
noise does not scale with |F|), stress 2e-6 relative.  We allow about 10x that: 2e-6, 1e-5 eV/A,
2e-5.  float64: the exact-bridge tolerance (1e-10, 1e-8 eV/A).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.emt import EMT
from test_batch import request

from lammps_mliap_ase.models.orb import energy_only
from lammps_mliap_ase.models.registry import make_backend, make_calculator

from conftest import assert_matches, cluster_virial, run_bridge
from systems import cu, open_cluster, orthogonal

# the [orb] extra (scripts/setup.sh; the offline bundle uses the node's torch)
torch = pytest.importorskip("torch", reason="torch is not installed (the [orb] extra)")
pytest.importorskip("orb_models", reason="orb-models is not installed (the [orb] extra)")


@pytest.fixture(autouse=True)
def _restore_torch_defaults():
    """orb-models sets torch's global default dtype; keep tests independent."""
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic float32 sums (model-facts: conservative models)
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)


def orb(name: str, precision: str = "float32-high"):
    return make_calculator(name, random_weights=True, seed=7, precision=precision)


def water_dimer() -> Atoms:
    atoms = molecule("H2O") + molecule("H2O")
    atoms.positions[3:] += (2.9, 0.2, 0.1)
    atoms.rattle(0.05, seed=2)
    atoms.center(vacuum=8.0)
    atoms.pbc = False
    return atoms


def tolerances(precision: str) -> dict:
    if precision == "float64":
        return {"e_rel": 1e-10, "f_abs": 1e-8, "v_rel": 1e-10}
    return {"e_rel": 2e-6, "f_abs": 1e-5, "v_rel": 2e-5}


@pytest.mark.parametrize("precision", ["float32-high", "float64"])
@pytest.mark.parametrize("name", ["orb-v3-direct-20-omat", "orb-v3-conservative-20-omat"])
def test_orb_periodic_crystal(name, precision):
    atoms = orthogonal()
    ref = orb(name, precision).calculator
    atoms.calc = ref
    energy, forces, stress = (atoms.get_potential_energy(), atoms.get_forces(),
                              atoms.get_stress())
    virial = -atoms.get_volume() * stress[[0, 1, 2, 5, 4, 3]]
    result = run_bridge(atoms, orb(name, precision).calculator)
    assert_matches(result, energy, forces, virial, **tolerances(precision))


@pytest.mark.parametrize("name", ["orb-v3-direct-omol", "orb-v3-conservative-omol"])
def test_orb_omol_molecule_with_charge_and_spin(name):
    atoms = water_dimer()
    spec = orb(name)
    ref = orb(name).calculator
    atoms.info.update(charge=1, spin=2)
    atoms.calc = ref
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    result = run_bridge(atoms, spec.calculator, boundary="f f f",
                        **{**spec.interface_options, "charge": 1, "spin": 2})
    assert spec.calculator.atoms.info == {"charge": 1, "spin": 2}
    tol = tolerances("float32")
    assert_matches(result, energy, forces, None, **tol)
    # open system: W = sum x F, so the float32 force tolerance bounds it by f_abs * sum |x|
    bound = tol["f_abs"] * np.linalg.norm(atoms.positions, axis=1).sum()
    assert np.abs(result.virial - cluster_virial(atoms)).max() < bound


def test_orb_energy_depends_on_charge():
    """The charge option reaches the model (and its cache is reset when it changes)."""
    atoms = water_dimer()
    spec = orb("orb-v3-direct-omol")
    e = [run_bridge(atoms, spec.calculator, boundary="f f f", charge=q, spin=1).energy
         for q in (0, 1)]
    assert abs(e[0] - e[1]) > 1e-4


# -- energy-only evaluation (Monte Carlo trials: fix gcmc, widom, atom/swap) -------------------
#
# energy_only(calc)(atoms) runs the conservative model's energy part under no_grad.  Measured
# (1 thread, seed 7 random weights, these systems): bitwise equal to the calculator's energy in
# float64 *and* float32 -- the forward runs the same kernels with or without autograd
# recording.  float64 is asserted bitwise; float32 to 2.4e-7 relative (2 float32 ulps), room
# for a kernel that picks another summation order under other thread counts or CPUs.


def molecules() -> Atoms:
    """Benzene, methanol and water, 21 atoms, open (for the OMol model's charge and spin)."""
    atoms = molecule("C6H6") + molecule("CH3OH") + molecule("H2O")
    atoms.positions[12:18] += (4.0, 0.3, 0.2)
    atoms.positions[18:] += (0.2, 3.5, 1.0)
    atoms.rattle(0.05, seed=4)
    atoms.center(vacuum=6.0)
    atoms.pbc = False
    return atoms


def assert_energy_only(calc, atoms: Atoms, precision: str) -> float:
    energy = energy_only(calc)
    assert energy is not None
    calc.reset()
    atoms.calc = calc
    full = float(atoms.get_potential_energy())
    only = energy(atoms)
    assert isinstance(only, float)
    if precision == "float64":
        assert only == full
    else:
        assert abs(only - full) <= 2.4e-7 * abs(full)
    return only


@pytest.mark.parametrize("precision", ["float64", "float32-high"])
def test_orb_energy_only_equals_the_calculator(precision):
    calc = orb("orb-v3-conservative-20-omat", precision).calculator
    crystal = cu((2, 2, 2))  # 32 atoms, periodic
    energies = [assert_energy_only(calc, crystal, precision),
                assert_energy_only(calc, open_cluster(), precision)]  # 32 atoms, open
    assert abs(energies[0] - energies[1]) > 1e-3
    crystal.info.update(charge=1, spin=2)  # ignored by a non-OMol model, as by the calculator
    assert assert_energy_only(calc, crystal, precision) == energies[0]
    assert calc.get_forces(crystal).shape == (32, 3)  # the full call still works afterwards


def test_orb_energy_only_omol_charge_and_spin():
    calc = orb("orb-v3-conservative-omol", "float64").calculator
    atoms = molecules()
    atoms.info.update(charge=1, spin=2)
    charged = assert_energy_only(calc, atoms, "float64")
    atoms.info.update(charge=0, spin=1)
    assert abs(assert_energy_only(calc, atoms, "float64") - charged) > 1e-4
    with pytest.raises(ValueError, match="charge"):
        energy_only(calc)(molecules())


def test_orb_energy_only_batch_of_two():
    """A backend group of energy-only requests: one no-grad pass for both systems, each
    getting what the full pass of the same batch gives (bitwise) and the calculator's own
    energy (float64 batching noise: batched sums over graphs)."""
    calc = orb("orb-v3-conservative-20-omat", "float64").calculator
    systems = [cu((2, 2, 2)), open_cluster()[:20]]
    backend = make_backend(calc, batched=True)
    only = backend.evaluate([request(a, ("energy",)) for a in systems])
    full = backend.evaluate([request(a, ("energy", "forces")) for a in systems])
    for got, ref, atoms in zip(only, full, systems, strict=True):
        assert set(got) == {"energy"} and got["energy"] == ref["energy"]
        calc.reset()
        assert abs(got["energy"] - calc.get_potential_energy(atoms)) <= 1e-12 * abs(
            ref["energy"])
    assert abs(only[0]["energy"] - only[1]["energy"]) > 1e-3


def test_orb_energy_only_is_none_for_direct_models_and_other_calculators():
    assert energy_only(orb("orb-v3-direct-20-omat").calculator) is None
    assert energy_only(EMT()) is None

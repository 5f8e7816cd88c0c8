"""Exact physics on one rank: every calculator, unit style and boundary vs the direct call."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT

from calculators import ChargeSpinPair
from conftest import ase_virial, assert_matches, cluster_virial, new_lammps, run_bridge
from systems import CALCULATORS, GEOMETRIES, orthogonal, with_charges_and_moments


@pytest.mark.parametrize("units", ["metal", "real", "electron", "si"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("calc", CALCULATORS)
def test_matches_direct_call(calc, geometry, units):
    make_calc, atom_style, decorate = CALCULATORS[calc]
    build, boundary = GEOMETRIES[geometry]
    atoms = decorate(build())
    atoms.calc = make_calc()
    virial = ase_virial(atoms) if atoms.pbc.any() else cluster_virial(atoms)
    result = run_bridge(atoms, make_calc(), units=units, boundary=boundary,
                        atom_style=atom_style)
    assert np.abs(result.forces).max() > 0.05  # a real test: forces are not trivially zero
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), virial)


@pytest.mark.parametrize("units", ["cgs", "micro", "nano"])
def test_other_unit_styles(units):
    atoms = orthogonal()
    atoms.calc = EMT()
    result = run_bridge(atoms, EMT(), units=units)
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), ase_virial(atoms))


def test_spin_style_moments_use_all_four_columns():
    """atom->sp stores unit vector + magnitude in 4 columns: moments = vector * magnitude."""
    atoms = with_charges_and_moments(orthogonal())
    atoms.set_initial_charges(None)
    calc = ChargeSpinPair(alpha=0.0, beta=0.2)
    atoms.calc = ChargeSpinPair(alpha=0.0, beta=0.2)
    result = run_bridge(atoms, calc, atom_style="spin")
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), ase_virial(atoms))
    # the calculator saw moments with the right magnitudes (its atoms are in LAMMPS' order)
    seen = np.sort(np.linalg.norm(calc.atoms.get_initial_magnetic_moments(), axis=1))
    expected = np.sort(np.linalg.norm(atoms.get_initial_magnetic_moments(), axis=1))
    np.testing.assert_allclose(seen, expected, rtol=1e-12)


def test_charge_style_charges():
    atoms = with_charges_and_moments(orthogonal())
    atoms.set_initial_magnetic_moments(None)
    atoms.calc = ChargeSpinPair(beta=0.0)
    result = run_bridge(atoms, ChargeSpinPair(beta=0.0), atom_style="charge")
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), ase_virial(atoms))


def test_total_charge_and_spin_in_info():
    atoms = with_charges_and_moments(orthogonal())
    q = atoms.get_initial_charges()
    q[0] += 2.0  # total charge +2
    atoms.set_initial_charges(q)
    m = np.zeros((len(atoms), 3))
    m[:3, 2] = 1.0  # three unpaired electrons: multiplicity 4
    atoms.set_initial_magnetic_moments(m)
    calc = ChargeSpinPair()
    run_bridge(atoms, calc, atom_style="dipole")
    assert calc.atoms.info == {"charge": 2, "spin": 4}
    calc = ChargeSpinPair()
    run_bridge(atoms, calc, atom_style="dipole", charge=-1, spin=2)
    assert calc.atoms.info == {"charge": -1, "spin": 2}


class ChargeDependentEMT(EMT):
    """EMT plus 0.25 eV per unit of total charge, read from atoms.info (like UMA/Orb-OMol)."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        self.results["energy"] += 0.25 * self.atoms.info.get("charge", 0)


def test_changed_charge_reaches_a_caching_calculator():
    """ASE's cache ignores atoms.info: the bridge resets the calculator when charge changes."""
    result = run_bridge(orthogonal(), ChargeDependentEMT(), charge=0)
    import mliap_unified_couple

    bridge = mliap_unified_couple.LOADED_MODEL
    e0 = result.lmp.get_thermo("pe")
    bridge.charge = 2
    result.lmp.command("run 0")
    assert result.lmp.get_thermo("pe") - e0 == pytest.approx(0.5, abs=1e-10)


def test_per_atom_energies_match_and_sum_to_total():
    atoms = orthogonal()
    atoms.calc = EMT()
    result = run_bridge(atoms, EMT(), per_atom=True)
    energies = atoms.get_potential_energies()
    assert np.abs(result.energies - energies).max() < 1e-10
    assert result.energies.sum() == pytest.approx(result.energy, rel=1e-12)


def test_atoms_excluded_from_all_interactions_are_absent():
    """neigh_modify exclude group G all (fix gcmc's trial deletion) removes G from the system."""
    atoms = orthogonal()
    gone = [4, 16, 17]
    result = run_bridge(atoms, EMT(), extra=f"group gone id {' '.join(str(i + 1) for i in gone)}"
                        "\nneigh_modify exclude group gone all")
    rest = atoms.copy()
    del rest[gone]
    rest.calc = EMT()
    keep = np.setdiff1d(np.arange(len(atoms)), gone)
    assert np.all(result.forces[gone] == 0.0)
    result.forces = result.forces[keep]
    assert_matches(result, rest.get_potential_energy(), rest.get_forces(), ase_virial(rest))


class MustNotBeCalled(EMT):
    def calculate(self, *args, **kwargs):
        raise AssertionError("the calculator was called for an empty system")


def test_empty_box_gives_zero_energy_without_calling_the_calculator():
    import lammps.mliap

    from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface

    lmp = new_lammps()
    lmp.commands_string("units metal\nregion b block 0 10 0 10 0 10\ncreate_box 1 b\n"
                        "mass 1 63.546")
    lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface(MustNotBeCalled()))
    lmp.commands_string("pair_style mliap unified EXISTS 0\npair_coeff * * Cu\n"
                        "thermo_style custom step pe press\nrun 0")
    assert lmp.get_thermo("pe") == 0.0
    assert lmp.get_thermo("press") == 0.0


@pytest.mark.parametrize("mode", ["periodic", "cluster"])
def test_per_atom_virials_from_per_atom_stresses(mode):
    """compute stress/atom = -(w_i) nktv2p with w_i = -V sigma_i from ASE's 'stresses'."""
    from ase.calculators.lj import LennardJones

    atoms = orthogonal()
    atoms.calc = LennardJones(sigma=2.3, epsilon=0.2, rc=5.5)
    kwargs = {"mode": "cluster", "receptive_field": 5.5} if mode == "cluster" else {}
    result = run_bridge(atoms, LennardJones(sigma=2.3, epsilon=0.2, rc=5.5),
                        extra="compute sa all stress/atom NULL virial", **kwargs)
    lmp = result.lmp
    n = len(atoms)
    stress_atom = np.array(lmp.gather("c_sa", 1, 6)).reshape(n, 6)
    w_lammps = -stress_atom / lmp.extract_global("nktv2p")
    w_ase = -atoms.get_volume() * atoms.get_stresses()[:, [0, 1, 2, 5, 4, 3]]
    assert np.abs(w_lammps - w_ase).max() < 1e-10 * np.abs(w_ase).max()
    np.testing.assert_allclose(w_lammps.sum(axis=0), result.virial, rtol=1e-10, atol=1e-10)


def test_virial_inside_hybrid_overlay():
    """pair_style hybrid computes an fdotr virial over all forces unless a sub-style forbids it
    (patch 0012): the bridge's virial must survive hybrid/overlay with another style."""
    atoms = orthogonal()
    atoms.calc = EMT()
    result = run_bridge(atoms, EMT(), extra="pair_style hybrid/overlay mliap unified EXISTS 0 "
                        "zero 4.0\npair_coeff * * mliap Cu\npair_coeff * * zero")
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), ase_virial(atoms))

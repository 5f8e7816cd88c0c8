"""EMT Cu through LAMMPS vs EMT called directly: energy, every force, the virial."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from conftest import ase_virial, assert_matches, cluster_virial, run_bridge


def rattled_cu(triclinic: bool = False, seed: int = 42):
    """fcc Cu 4x4x4 (256 atoms), displaced by N(0, 0.1 A); optionally sheared (triclinic)."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((4, 4, 4))
    if triclinic:
        cell = atoms.cell.array.copy()
        cell[1, 0], cell[2, 0], cell[2, 1] = 1.3, -0.9, 1.7
        atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(stdev=0.1, seed=seed)
    atoms.wrap()
    return atoms


@pytest.mark.parametrize("units", ["metal", "real"])
@pytest.mark.parametrize("triclinic", [False, True], ids=["orthogonal", "triclinic"])
def test_periodic_cu(units, triclinic):
    atoms = rattled_cu(triclinic)
    atoms.calc = EMT()
    result = run_bridge(atoms, EMT(), units=units)
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), ase_virial(atoms))


@pytest.mark.parametrize("units", ["metal", "real"])
def test_open_cluster(units):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    atoms.rattle(stdev=0.1, seed=7)
    atoms.pbc = False
    atoms.center(vacuum=6.0)
    atoms.calc = EMT()
    result = run_bridge(atoms, EMT(), units=units, boundary="f f f")
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(),
                   cluster_virial(atoms))


def test_forces_are_not_trivially_zero():
    """Guard against a comparison that passes because both sides are empty or zero."""
    atoms = rattled_cu()
    atoms.calc = EMT()
    result = run_bridge(atoms, EMT())
    assert np.abs(result.forces).max() > 0.1
    assert np.abs(result.virial).max() > 1.0


def test_repeated_run_reuses_atoms():
    """A second `run 0` with unchanged atoms hands the calculator the same ase.Atoms object."""
    from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface  # noqa: F401

    atoms = rattled_cu()
    result = run_bridge(atoms, EMT())
    import lammps.mliap  # noqa: F401
    import mliap_unified_couple

    bridge = mliap_unified_couple.LOADED_MODEL
    first = bridge.system.atoms
    result.lmp.command("run 0")
    assert bridge.system.atoms is first

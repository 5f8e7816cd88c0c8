"""EMT Cu (fcc 4x4x4, 0.1 A displacements) through LAMMPS vs EMT called directly."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT

from conftest import ase_virial, assert_matches, cluster_virial, run_bridge
from systems import open_cluster, orthogonal, triclinic


@pytest.mark.parametrize("units", ["metal", "real"])
@pytest.mark.parametrize("build", [orthogonal, triclinic], ids=["orthogonal", "triclinic"])
def test_periodic_cu(units, build):
    atoms = build((4, 4, 4))
    atoms.calc = EMT()
    result = run_bridge(atoms, EMT(), units=units)
    assert np.abs(result.forces).max() > 0.1  # not trivially zero
    assert np.abs(result.virial).max() > 1.0
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), ase_virial(atoms))


@pytest.mark.parametrize("units", ["metal", "real"])
def test_open_cluster(units):
    atoms = open_cluster()
    atoms.calc = EMT()
    result = run_bridge(atoms, EMT(), units=units, boundary="f f f")
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(),
                   cluster_virial(atoms))


class CountingEMT(EMT):
    calls = 0

    def calculate(self, *args, **kwargs):
        CountingEMT.calls += 1
        super().calculate(*args, **kwargs)


def test_repeated_run_reuses_atoms_and_the_calculator_cache():
    """`run 0` twice without motion: same ase.Atoms object, no second calculation."""
    import mliap_unified_couple

    result = run_bridge(orthogonal(), CountingEMT())
    bridge = mliap_unified_couple.LOADED_MODEL
    first, calls = bridge.cache.atoms, CountingEMT.calls
    result.lmp.command("run 0")
    assert bridge.cache.atoms is first
    assert CountingEMT.calls == calls

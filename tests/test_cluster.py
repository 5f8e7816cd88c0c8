"""Cluster mode (owned + ghost atoms as an open cluster): exact when the ghost shell covers the
receptive field (twice it for energy-derived forces), measurably wrong when it does not."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from lammps_mliap_ase import CalculatorSetupError, UniversalASEUnifiedMLIAPInterface

from conftest import ase_virial, assert_matches, run_bridge
from systems import orthogonal, triclinic

EMT_RC = 5.876798323827276  # EMT's neighbour-list cutoff for Cu (EMT().rc_list)


def lj():
    return LennardJones(sigma=2.3, epsilon=0.2, rc=5.5)


@pytest.mark.parametrize("build", [orthogonal, triclinic], ids=["orthogonal", "triclinic"])
def test_lj_cluster_is_exact_with_a_sufficient_shell(build):
    atoms = build()
    atoms.calc = lj()
    result = run_bridge(atoms, lj(), mode="cluster", receptive_field=5.5)
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), ase_virial(atoms))


def test_emt_cluster_is_exact_with_twice_the_receptive_field():
    atoms = orthogonal()
    atoms.calc = EMT()
    result = run_bridge(atoms, EMT(), mode="cluster", receptive_field=EMT_RC, pressure=False)
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), None)


@pytest.mark.parametrize(("shell", "least_error"), [(0.5, 1e-2), (1.0, 1e-6)],
                         ids=["half-R", "R"])
def test_thin_shell_gives_wrong_forces(shell, least_error):
    """EMT forces need 2R of ghosts.  With R (plus LAMMPS' 0.5 A skin) the error is ~3e-5 eV/A
    (EMT's smooth cutoff makes the outer shell weak), with R/2 it is ~0.1 eV/A; exact shells
    give ~1e-13.  Measured in docs/modes.md."""
    atoms = orthogonal()
    atoms.calc = EMT()
    result = run_bridge(atoms, EMT(), mode="cluster", receptive_field=shell * EMT_RC,
                        forces_from_energy=False, pressure=False)
    error = np.abs(result.forces - atoms.get_forces()).max()
    assert error > least_error, error


def test_cluster_mode_needs_a_receptive_field():
    with pytest.raises(CalculatorSetupError, match="needs receptive_field"):
        UniversalASEUnifiedMLIAPInterface(EMT(), mode="cluster")


def test_cluster_mode_needs_per_atom_energies():
    class NoEnergies(EMT):
        implemented_properties = ["energy", "forces", "stress"]

    with pytest.raises(CalculatorSetupError, match="needs per-atom energies"):
        UniversalASEUnifiedMLIAPInterface(NoEnergies(), mode="cluster", receptive_field=5.0)


def test_cluster_npt_needs_per_atom_stresses():
    with pytest.raises(Exception, match="does not implement 'stresses'.*consecutive steps"):
        run_bridge(orthogonal(), EMT(), mode="cluster", receptive_field=EMT_RC,
                   extra="velocity all create 300 1\n"
                   "fix baro all npt temp 300 300 0.1 iso 0 0 1.0\nrun 3")

"""UMA (real fairchem code: a tiny random UMA-shaped checkpoint written offline, loaded by our
registry through fairchem's load_predict_unit into FAIRChemCalculator) through LAMMPS vs the
calculator called directly.

Where offline construction stops: nowhere -- only the published weights are out of reach
(`get_predict_unit("uma-s-1p1")` needs HuggingFace); tests/uma_tiny.py builds the same
architecture.  eSCN draws a random rotation on every call, so repeated calls differ: measured
~4e-15 relative in float64 (we use the exact-bridge tolerances) and up to 3.3e-6 relative in
float32 energies, 3e-8 eV/A in forces (we allow 2e-5, 1e-6 eV/A, 1e-4 for the virial).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_orb import water_dimer

from lammps_mliap_ase.models.registry import make_calculator

from conftest import ase_virial, assert_matches, cluster_virial, run_bridge
from systems import orthogonal
from uma_tiny import write_tiny_uma_checkpoint

pytest.importorskip("fairchem.core", reason="fairchem-core is not installed (the [fairchem] "
                    "extra; the offline bundle leaves it out)")

TOL = {"float64": {"e_rel": 1e-10, "f_abs": 1e-8, "v_rel": 1e-10},
       "float32": {"e_rel": 2e-5, "f_abs": 1e-6, "v_rel": 1e-4}}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_uma_checkpoint(tmp_path_factory.mktemp("uma") / "uma_tiny.pt", seed=0)


def uma(checkpoint, task, precision="float64"):
    return make_calculator("uma-s-1p1", weights=checkpoint, task=task, precision=precision)


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_uma_omat_periodic_crystal(checkpoint, precision):
    atoms = orthogonal()
    atoms.calc = uma(checkpoint, "omat", precision).calculator
    energy, forces, virial = atoms.get_potential_energy(), atoms.get_forces(), ase_virial(atoms)
    result = run_bridge(atoms, uma(checkpoint, "omat", precision).calculator)
    assert np.abs(forces).max() > 1e-3
    assert_matches(result, energy, forces, virial, **TOL[precision])


def test_uma_omol_charge_and_spin(checkpoint):
    atoms = water_dimer()
    atoms.info.update(charge=1, spin=2)
    atoms.calc = uma(checkpoint, "omol").calculator
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    spec = uma(checkpoint, "omol")
    assert spec.interface_options == {"charge": 0, "spin": 1}  # omol defaults
    result = run_bridge(atoms, spec.calculator, boundary="f f f", charge=1, spin=2)
    assert_matches(result, energy, forces, cluster_virial(atoms), **TOL["float64"])
    neutral = run_bridge(atoms, spec.calculator, boundary="f f f", charge=0, spin=1)
    assert abs(neutral.energy - result.energy) > 1e-3  # charge and spin reach the model


def test_uma_needs_a_task(checkpoint):
    from lammps_mliap_ase import CalculatorSetupError

    with pytest.raises(CalculatorSetupError, match="needs task= one of omol, omat"):
        make_calculator("uma-s-1p1", weights=checkpoint)

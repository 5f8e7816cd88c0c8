"""Through the shared model server a replica gets exactly what it gets alone: energy, forces,
virial, per-atom energies, charges and moments, charge/spin in atoms.info, every boundary and
unit style (the server runs in a thread here; tests/test_replicas.py runs real processes)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lammps_mliap_ase.models.registry import make_backend
from lammps_mliap_ase.serve.client import SharedModelCalculator
from lammps_mliap_ase.serve.protocol import Address
from lammps_mliap_ase.serve.server import ModelServer

from conftest import ase_virial, assert_matches, cluster_virial, run_bridge
from systems import CALCULATORS, GEOMETRIES


def serve(calculator, tmp_path):
    server = ModelServer(make_backend(calculator), Address.parse(str(tmp_path / "m.sock")),
                         log=None)
    server.start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.mark.parametrize("units", ["metal", "real"])
@pytest.mark.parametrize("geometry", ["orthogonal", "triclinic", "open", "mixed"])
@pytest.mark.parametrize("calc", CALCULATORS)
def test_bridge_through_server_matches_direct_call(calc, geometry, units, tmp_path):
    make_calc, atom_style, decorate = CALCULATORS[calc]
    build, boundary = GEOMETRIES[geometry]
    atoms = decorate(build())
    atoms.calc = make_calc()
    virial = ase_virial(atoms) if atoms.pbc.any() else cluster_virial(atoms)
    server, thread = serve(make_calc(), tmp_path)
    try:
        remote = SharedModelCalculator(str(server.address))
        per_atom = "energies" in remote.implemented_properties
        result = run_bridge(atoms, remote, units=units, boundary=boundary,
                            atom_style=atom_style, per_atom=per_atom)
        remote.close()
    finally:
        server.stop()
        thread.join(10)
    assert np.abs(result.forces).max() > 0.05
    assert_matches(result, atoms.get_potential_energy(), atoms.get_forces(), virial)
    if per_atom:
        np.testing.assert_allclose(result.energies, atoms.get_potential_energies(), rtol=0,
                                   atol=1e-10 * np.abs(atoms.get_potential_energies()).max())
    assert server.stats.requests == 1  # `run 0`: one evaluation, one round trip for all


def test_charge_and_spin_reach_the_model(tmp_path):
    """atoms.info charge/spin set by the replica are what the server's calculator sees."""
    make_calc, _, _ = CALCULATORS["emt"]
    served = make_calc()
    server, thread = serve(served, tmp_path)
    build, _ = GEOMETRIES["orthogonal"]
    try:
        remote = SharedModelCalculator(str(server.address))
        run_bridge(build(), remote, charge=-2, spin=3)
        remote.close()
    finally:
        server.stop()
        thread.join(10)
    assert served.atoms.info == {"charge": -2, "spin": 3}

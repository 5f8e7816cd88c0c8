"""SevenNet (sevenn 0.13.0, real weights that ship in its wheel: offline) against
SevenNetCalculator called directly: through LAMMPS, on 2 MPI ranks, through a shared batched
server, from the command line, energy-only; the registry's names and the modal option.

Tolerances: SevenNet computes in float32.  Measured on the 64-atom MgO crystal (2 threads):
the same calculator on the crystal translated by (1.3, -0.7, 2.1) A and wrapped, or with its
atoms permuted, changes the energy by at most one float32 ulp (3e-5 eV of 380 eV, 8e-8
relative), forces by 8e-7 eV/A and the stress by 1.5e-8 eV/A^3 (4e-7 of its largest
component); merely calling it twice changes forces by up to 5e-7 eV/A (multithreaded sums in
the gradient).  A batched pass: energy one ulp, forces 1e-6 eV/A.  We allow about 10x: energy
1e-6 relative, forces 1e-5 eV/A, virial 1e-5 relative, stress 1e-6 eV/A^3.
"""

from __future__ import annotations

import sys

import pretrained
import pytest
import sevenn  # not importorskip: CI installs the [sevennet] extra, and its absence must fail
from test_batch import alone, request, triclinic
from test_cli_errors import lammps_ase, one_error, write_input

from lammps_mliap_ase.errors import CalculatorSetupError
from lammps_mliap_ase.models import sevennet
from lammps_mliap_ase.models.registry import make_backend, make_calculator

from conftest import requires_mpi
from systems import co2_in_box, mgo

TOL = {"e_rel": 1e-6, "f_abs": 1e-5, "v_rel": 1e-5, "s_abs": 1e-6}


@pytest.fixture(scope="module")
def calc():
    return make_calculator("sevennet-0").calculator


def test_sevennet_through_lammps_equals_calculator(calc):
    pretrained.check_through_lammps(calc, mgo(), TOL, per_atom=True)
    pretrained.check_through_lammps(calc, co2_in_box(), TOL)


@requires_mpi
def test_sevennet_gather_on_two_ranks(calc, tmp_path):
    pretrained.check_on_two_ranks("sevennet_gather", calc, mgo(), TOL, tmp_path)


def test_sevennet_backend_batched_equals_alone(calc):
    systems = [mgo(), co2_in_box(), triclinic(mgo((1, 1, 2), seed=3))]
    pretrained.check_backend(calc, systems, TOL, pretrained.FULL + ("energies",))
    # a system with an element the model lacks fails alone, with the calculator's message
    unknown = co2_in_box()
    unknown.numbers[0] = 118
    results = make_backend(calc, batched=True).evaluate([request(unknown), request(mgo())])
    assert isinstance(results[0], ValueError) and "118" in str(results[0])
    assert isinstance(results[1], dict)


def test_sevennet_energy_only(calc):
    systems = [mgo(), co2_in_box(), triclinic(mgo((1, 1, 2), seed=3))]
    pretrained.check_energy_only(sevennet, calc, mgo((3, 2, 2), seed=4), systems, TOL)


def test_sevennet_replicas_share_one_batched_server(calc, tmp_path):
    clients = [[mgo(seed=s) for s in (5, 6)], [co2_in_box(seed=s) for s in (5, 6)]]
    pretrained.check_replicas(calc, clients, TOL, tmp_path)


def test_sevennet_from_the_command_line(calc, tmp_path):
    atoms = mgo((1, 1, 1), seed=8)
    energy = pretrained.cli_energy("sevennet-0", atoms, tmp_path)
    ref = pretrained.reference(calc, atoms, ("energy",))["energy"]
    assert abs(energy - ref) <= TOL["e_rel"] * abs(ref), (energy, ref)


def test_sevennet_names_build_offline():
    """Every name loads its checkpoint from the wheel; the multi-fidelity model batches
    systems with its modal and its two fidelities give different energies."""
    from sevenn.util import load_checkpoint

    assert set(sevennet.ENTRIES) == {"sevennet-0", "sevennet-0-22may2024", "sevennet-l3i5",
                                     "sevennet-mf-0"}
    assert tuple(sorted(load_checkpoint("7net-mf-0").config["_modal_map"])) == \
        sevennet.MF_MODALS
    co2 = co2_in_box()
    energies = {}
    for name, options in [("sevennet-0-22may2024", {}), ("sevennet-l3i5", {}),
                          ("sevennet-mf-0", {"modal": "PBE"}),
                          ("sevennet-mf-0", {"modal": "r2scan"})]:
        calc = make_calculator(name, **options).calculator
        energies[name, calc.modal] = alone(calc, request(co2, ("energy",)))["energy"]
        if calc.modal == "R2SCAN":
            pretrained.check_backend(calc, [co2, mgo((1, 1, 1), seed=9)], TOL)
    print(energies)
    assert len({round(e, 3) for e in energies.values()}) == len(energies)


def test_sevennet_mf_modal_is_required_in_one_line(tmp_path):
    for options in ({}, {"modal": "HSE"}):
        with pytest.raises(CalculatorSetupError) as err:
            make_calculator("sevennet-mf-0", **options)
        message = str(err.value)
        assert "\n" not in message and "modal= one of PBE, R2SCAN" in message, message
    with pytest.raises(CalculatorSetupError, match="sevennet-0 has no option 'modal'"):
        make_calculator("sevennet-0", modal="PBE")
    inp = write_input(tmp_path, "pair_style mliap unified EXISTS 0\npair_coeff * * Cu\nrun 0\n")
    line = one_error(lammps_ase("run", "-in", inp, "--calc", "sevennet-mf-0", "--calc-opt",
                                "modal=HSE", cwd=tmp_path))
    assert "modal= one of PBE, R2SCAN" in line and "'HSE'" in line, line


def test_sevenn_is_the_pinned_release():
    assert sevenn.__version__ == "0.13.0"  # the wheel whose checkpoints these tests load


def test_sevennet_without_sevenn_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "sevenn.calculator", None)  # import fails as if absent
    with pytest.raises(CalculatorSetupError) as err:
        make_calculator("sevennet-0")
    assert str(err.value) == ("sevennet-0 needs sevenn: pip install 'lammps-mliap-ase[sevennet]' "
                              "-c constraints.txt")

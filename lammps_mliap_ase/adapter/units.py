"""Conversion between LAMMPS unit styles and ASE's units (eV, Angstrom, elementary charge).

Why these numbers: LAMMPS' integrators, thermostats and pressure use LAMMPS' own constants
(src/update.cpp, utils::get_conversion_factor), so converting with exactly those keeps the bridge
consistent with everything else LAMMPS computes (1 eV = 23.060549 kcal/mol, as LAMMPS' metal/real
conversion; CODATA-based ASE constants differ in the 7th digit).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedUnitsError

# LAMMPS' electron charge in each style's charge unit (force->qelectron in update.cpp); the energy
# of one eV is qelectron(SI) joules, expressed in each style's energy unit.
_QE_SI = 1.6021765e-19  # C, LAMMPS' value
_BOLTZ_METAL = 8.617343e-5  # eV/K, LAMMPS' value
_BOLTZ_ELECTRON = 3.16681534e-6  # Hartree/K, LAMMPS' value


@dataclass(frozen=True)
class LammpsUnits:
    """Scale factors from ASE units to one LAMMPS unit style.

    ``energy``: LAMMPS energy units per eV; ``length``: LAMMPS length units per Angstrom;
    ``charge``: LAMMPS charge units per elementary charge.  Forces scale by energy/length.
    """

    style: str
    energy: float
    length: float
    charge: float

    @property
    def force(self) -> float:
        """LAMMPS force units per eV/Angstrom."""
        return self.energy / self.length


_STYLES: dict[str, LammpsUnits] = {
    "metal": LammpsUnits("metal", 1.0, 1.0, 1.0),
    # kcal/mol, Angstrom, e: LAMMPS' own metal->real factor (utils::get_conversion_factor)
    "real": LammpsUnits("real", 23.060549, 1.0, 1.0),
    # Hartree, Bohr, e: LAMMPS defines no eV<->Hartree factor; its two Boltzmann constants fix
    # the ratio that keeps temperatures consistent (27.2113834 eV per Hartree)
    "electron": LammpsUnits("electron", _BOLTZ_ELECTRON / _BOLTZ_METAL, 1.88972612, 1.0),
    # J, m, C
    "si": LammpsUnits("si", _QE_SI, 1.0e-10, _QE_SI),
    # erg, cm, statcoulomb
    "cgs": LammpsUnits("cgs", _QE_SI * 1.0e7, 1.0e-8, 4.8032044e-10),
    # picogram um^2/us^2 (= 1e-15 J), micrometre, picocoulomb
    "micro": LammpsUnits("micro", _QE_SI * 1.0e15, 1.0e-4, _QE_SI * 1.0e12),
    # attogram nm^2/ns^2 (= 1e-21 J), nanometre, e
    "nano": LammpsUnits("nano", _QE_SI * 1.0e21, 1.0e-1, 1.0),
}


def lammps_units(style: str) -> LammpsUnits:
    """Conversion factors for a LAMMPS unit style; raises for styles without physical units."""
    try:
        return _STYLES[style]
    except KeyError:
        if style == "lj":
            msg = ("units lj are reduced units with no physical scale: an ASE calculator works in "
                   "eV and Angstrom; use units metal or real (or another physical style)")
        else:
            msg = f"unknown LAMMPS unit style {style!r}; supported: {', '.join(_STYLES)}"
        raise UnsupportedUnitsError(msg) from None


def supported_styles() -> tuple[str, ...]:
    """Unit styles the bridge can convert."""
    return tuple(_STYLES)

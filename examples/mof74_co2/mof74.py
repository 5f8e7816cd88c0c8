"""Mg-MOF-74 and CO2: the structure (CoRE MOF 2019) and the classical force field.

Why a supercell: the Lennard-Jones part through the bridge (guest_lj.py) finds pairs by the
minimum-image convention, which is exact only when every perpendicular width of the cell is at
least twice the cutoff (then at most one image of an atom lies within the cutoff).  The CoRE
cell of Mg-MOF-74 (54 atoms) is 6.47 A wide across its short vector a (the hexagonal c axis,
along the channels) and 13.01 A across b and c, so a 12.8 A cutoff needs 4 x 2 x 2 cells
(864 atoms, widths 25.9, 26.0, 26.0 A).  The same rule keeps LAMMPS' special-bond exclusions
of a CO2 away from the molecule's own periodic images.

Force field (no parameter tuned here):
- framework: UFF Lennard-Jones (Rappe et al., J. Am. Chem. Soc. 114, 10024 (1992), table 1:
  x_i is the LJ minimum, sigma = x_i / 2^(1/6), epsilon = D_i), no point charges: the CoRE MOF
  2019 files carry none (checked in `framework_charges_present`), so CO2 feels no electrostatic
  pull from the open Mg sites;
- CO2: TraPPE (Potoff & Siepmann, AIChE J. 47, 1676 (2001)), LJ sites + point charges;
- Lorentz-Berthelot mixing, LJ truncated at 12.8 A and shifted to zero there, Coulomb by PPPM.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_masses
from ase.geometry import cellpar_to_cell
from ase.units import kB, kcal, mol

DATASET, ENTRY = "2019-ASR", "VOGTIV_clean_h"
CUTOFF = 12.8  # Angstrom, LJ and real-space Coulomb
TEMPERATURE = 298.0  # K

# UFF (Rappe 1992, table 1): element -> (x_i / Angstrom, D_i / (kcal/mol))
UFF = {"Mg": (3.021, 0.111), "O": (3.500, 0.060), "C": (3.851, 0.105), "H": (2.886, 0.044)}
# TraPPE CO2: site -> (sigma / Angstrom, epsilon/kB / K, charge / e)
TRAPPE = {"C": (2.80, 27.0, 0.70), "O": (3.05, 79.0, -0.35)}
CO2_BOND = 1.16  # Angstrom


@dataclass(frozen=True)
class Site:
    """One LAMMPS atom type: element, LJ parameters (Angstrom, eV), charge, guest or host."""

    name: str
    element: str
    sigma: float
    epsilon: float
    charge: float
    guest: bool


def _uff(element: str) -> Site:
    x, d = UFF[element]
    return Site(f"{element}_mof", element, x / 2 ** (1 / 6), d * kcal / mol, 0.0, False)


def _trappe(element: str) -> Site:
    sigma, eps_k, q = TRAPPE[element]
    return Site(f"{element}_co2", element, sigma, eps_k * kB, q, True)


#: LAMMPS types 1..6 in this order: CO2 first (the molecule file uses types 1, 2)
SITES: tuple[Site, ...] = (_trappe("C"), _trappe("O"), _uff("Mg"), _uff("O"), _uff("C"),
                           _uff("H"))
FRAMEWORK_TYPE = {s.element: k + 1 for k, s in enumerate(SITES) if not s.guest}


def mixed(i: int, j: int) -> tuple[float, float]:
    """Lorentz-Berthelot (epsilon, sigma) of types i, j (1-based): the one place both the
    LAMMPS input and the ASE calculator take them from, so both use the same floats."""
    a, b = SITES[i - 1], SITES[j - 1]
    return float(math.sqrt(a.epsilon * b.epsilon)), float(0.5 * (a.sigma + b.sigma))


def load_framework(cif: str | None = None) -> Atoms:
    """Mg-MOF-74 (VOGTIV_clean_h, CoRE MOF 2019-ASR) through the core-mof package, or from its
    CIF text `cif` (what a replica process gets from its job: the same atoms, no archive scan)."""
    return (framework_from_cif(cif) if cif is not None else _load_framework()).copy()


@functools.cache
def _load_framework() -> Atoms:
    """Read once per process: the package scans its whole archive for one entry (~5-9 s)."""
    try:
        import CoRE_MOF
    except ImportError as exc:
        raise SystemExit("this example needs the CoRE MOF database: pip install core-mof "
                         "(or the project's 'examples' extra)") from exc
    return framework_from_cif(CoRE_MOF.get_CIF_structure_data(DATASET, ENTRY).decode())


def framework_from_cif(cif: str) -> Atoms:
    """The unit cell from CIF text; the text is kept in info["cif"] (charges check, replicas)."""
    from ase.io import read

    with warnings.catch_warnings():  # ASE notes that a P1 'triclinic' setting is not checked
        warnings.simplefilter("ignore", UserWarning)
        atoms = read(io.StringIO(cif), format="cif")
    atoms.info["cif"] = cif
    return atoms


def framework_charges_present(atoms: Atoms) -> bool:
    """Whether the CIF carries partial charges (DDEC/EQeq files have _atom_site_charge)."""
    return "_atom_site_charge" in atoms.info.get("cif", "")


def widths(cell: np.ndarray) -> np.ndarray:
    """Perpendicular widths of a cell (distance between opposite faces), Angstrom."""
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3]))
                     for k in range(3)])


def repeats_for(cell: np.ndarray, cutoff: float = CUTOFF) -> tuple[int, int, int]:
    """The fewest repeats that make every width >= 2 x cutoff."""
    return tuple(int(math.ceil(2 * cutoff / w)) for w in widths(cell))


def supercell(unit: Atoms, repeats: tuple[int, int, int]) -> Atoms:
    """The repeated framework in LAMMPS' orientation (a along x, b in the xy plane)."""
    big = unit.repeat(repeats)
    cell = cellpar_to_cell(big.cell.cellpar())
    return Atoms(big.numbers, scaled_positions=big.get_scaled_positions(), cell=cell, pbc=True)


def channel_axis(cell: np.ndarray) -> int:
    """Index of the lattice vector along the channels: the short one (the hexagonal c axis)."""
    return int(np.argmin(np.linalg.norm(cell, axis=1)))


def molar_mass(atoms: Atoms) -> float:
    """g/mol of the framework (ASE's standard atomic masses, also LAMMPS' masses here)."""
    return float(atomic_masses[atoms.numbers].sum())

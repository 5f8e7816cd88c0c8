"""What the calculator sees: an `ase.Atoms` built from LAMMPS' owned atoms.

Why owned atoms only, with the real cell and pbc: LAMMPS' ghost atoms are periodic images (and,
on several ranks, halos of other ranks).  Handing local+ghost atoms to a calculator as an open
cluster double-counts energy and truncates environments at the shell; handing it the owned atoms
in the true periodic cell lets the calculator do its own periodicity, which is exact.

Atoms that LAMMPS excludes from every interaction (`neigh_modify exclude group G all`, which
fix gcmc uses for trial deletions) are left out: for the physics they are not there.

One `ase.Atoms` is kept and updated in place while the composition (length and atomic numbers)
is unchanged, so calculators that cache on `check_state` can skip work when nothing moved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from ..errors import ElementMappingError
from .units import LammpsUnits

#: Element names accepted by ``pair_coeff * * ...``: every symbol ASE knows, in atomic-number
#: order, so ML-IAP's element index ``i`` is atomic number ``i + 1``.
ELEMENT_TYPES: tuple[str, ...] = tuple(chemical_symbols[1:])
_NUMBERS_BY_ELEMENT = np.arange(1, len(ELEMENT_TYPES) + 1)


@dataclass
class LocalAtoms:
    """The atoms of one rank that take part, in ASE units: owned ones first, then (cluster
    mode only) ghosts.

    ``index`` selects them among LAMMPS' atoms (a slice when all take part, so that writing
    forces back stays a view); ``n_owned`` counts the owned ones among them.
    """

    index: slice | np.ndarray
    tags: np.ndarray
    numbers: np.ndarray
    positions: np.ndarray
    charges: np.ndarray | None
    magmoms: np.ndarray | None
    n_owned: int

    def __len__(self) -> int:
        return len(self.numbers)

    @property
    def owned_index(self) -> slice | np.ndarray:
        """LAMMPS indices of the participating owned atoms."""
        if isinstance(self.index, slice):
            return slice(0, self.n_owned)
        return self.index[: self.n_owned]


def local_atoms(data, units: LammpsUnits, ghosts: bool = False) -> LocalAtoms:
    """Read this rank's participating owned (and, with `ghosts`, ghost) atoms from the
    patched `MLIAPDataPy`."""
    n = data.nlocal + (data.nghost if ghosts else 0)
    index: slice | np.ndarray = slice(0, n)
    bits = data.exclude_all_bits
    if bits and n:
        keep = (data.mask[:n] & bits) == 0
        if not keep.all():
            index = np.flatnonzero(keep)
    elems = data.elems[index]
    if len(elems) and elems.min() < 0:
        types = np.unique(data.type[index][elems < 0])
        raise ElementMappingError(
            f"atom type(s) {types.tolist()} are mapped to NULL in pair_coeff, but the ASE "
            "calculator must see every atom; map each type to an element")
    positions = data.x[index] - data.origin
    if units.length != 1.0:
        positions /= units.length
    charges = data.charges
    if charges is not None:
        charges = charges[index] / units.charge
    magmoms = data.magmoms
    if magmoms is not None:
        magmoms = np.array(magmoms[index])
    if isinstance(index, slice):
        n_owned = data.nlocal
    else:
        n_owned = int(np.searchsorted(index, data.nlocal))
    return LocalAtoms(index, data.tag[index], _NUMBERS_BY_ELEMENT[elems], positions, charges,
                      magmoms, n_owned)


class AtomsCache:
    """One reusable `ase.Atoms`: rebuilt only when the composition changes."""

    def __init__(self) -> None:
        self.atoms: Atoms | None = None

    def update(self, numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray,
               pbc: np.ndarray, charges: np.ndarray | None = None,
               magmoms: np.ndarray | None = None, info: dict | None = None) -> Atoms:
        """Refresh the kept atoms (positions, cell, pbc, charges, moments, info)."""
        atoms = self.atoms
        if atoms is None or len(atoms) != len(numbers) or not np.array_equal(atoms.numbers,
                                                                             numbers):
            atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
            self.atoms = atoms
        else:
            atoms.arrays["positions"][:] = positions
            if not np.array_equal(atoms.cell.array, cell):
                atoms.cell.array[:] = cell
            if not np.array_equal(atoms.pbc, pbc):
                atoms.pbc = pbc
        _set_array(atoms, "initial_charges", charges)
        _set_array(atoms, "initial_magmoms", magmoms)
        if info:
            atoms.info.update(info)
        return atoms


def _set_array(atoms: Atoms, name: str, values: np.ndarray | None) -> None:
    """Set or drop a per-atom array without reallocating when the shape is unchanged."""
    if values is None:
        atoms.arrays.pop(name, None)
    elif name in atoms.arrays and atoms.arrays[name].shape == values.shape:
        atoms.arrays[name][:] = values
    else:
        atoms.set_array(name, np.array(values, dtype=float))


def cell_in_angstrom(data, units: LammpsUnits) -> np.ndarray:
    """The simulation cell (rows a, b, c) in Angstrom."""
    cell = data.cell
    return cell / units.length if units.length != 1.0 else np.array(cell)

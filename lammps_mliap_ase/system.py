"""What the calculator sees: an `ase.Atoms` built from LAMMPS' owned atoms.

Why owned atoms only, with the real cell and pbc: LAMMPS' ghost atoms are periodic images (and,
on several ranks, halos of other ranks).  Handing local+ghost atoms to a calculator as an open
cluster double-counts energy and truncates environments at the shell; handing it the owned atoms
in the true periodic cell lets the calculator do its own periodicity, which is exact.

One `ase.Atoms` is kept and updated in place while the composition (length and atomic numbers)
is unchanged, so calculators that cache on `check_state` can skip work when nothing moved.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from .errors import ElementMappingError
from .units import LammpsUnits

#: Element names accepted by ``pair_coeff * * ...``: every symbol ASE knows, in atomic-number
#: order, so ML-IAP's element index ``i`` is atomic number ``i + 1``.
ELEMENT_TYPES: tuple[str, ...] = tuple(chemical_symbols[1:])
_NUMBERS_BY_ELEMENT = np.arange(1, len(ELEMENT_TYPES) + 1)


class PeriodicSystem:
    """Owned atoms of a single rank as one reusable `ase.Atoms` in the real cell."""

    def __init__(self) -> None:
        self.atoms: Atoms | None = None

    def update(self, data, units: LammpsUnits) -> Atoms:
        """Refresh positions, cell and pbc from LAMMPS; rebuild only if the composition changed."""
        n = data.nlocal
        elems = data.elems[:n]
        if n and elems.min() < 0:
            types = np.unique(data.type[:n][elems < 0])
            raise ElementMappingError(
                f"atom type(s) {types.tolist()} are mapped to NULL in pair_coeff, but the ASE "
                "calculator must see every atom; map each type to an element")
        numbers = _NUMBERS_BY_ELEMENT[elems]
        positions = data.x[:n] - data.origin
        cell = data.cell
        if units.length != 1.0:
            positions /= units.length
            cell = cell / units.length
        pbc = data.pbc

        atoms = self.atoms
        if atoms is None or len(atoms) != n or not np.array_equal(atoms.numbers, numbers):
            atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
            self.atoms = atoms
            return atoms
        atoms.arrays["positions"][:] = positions
        if not np.array_equal(atoms.cell.array, cell):
            atoms.cell.array[:] = cell
        if not np.array_equal(atoms.pbc, pbc):
            atoms.pbc = pbc
        return atoms

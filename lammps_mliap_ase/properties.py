"""Reading more properties of the system an ASE calculator has just evaluated.

Why a module below every folder: the adapter (adapter/results.py, one LAMMPS system) and the
model server's generic backend (serve/batch.py, one replica's system) both ask a calculator
for energy first and then for more properties of that same system; both need the same cheap
call, and neither may import the other (docs/architecture.md).
"""

from __future__ import annotations


def same_system(calc, atoms, name: str):
    """Property `name` of the system the calculator has just evaluated.

    ASE's ``get_property(name)`` without atoms skips check_state, a full comparison of
    positions, cell, pbc, numbers, charges and moments that costs about as much as a small
    EMT step and was already done by the first call for this system (measured:
    docs/performance.md).  Calculators that keep no copy of the atoms get the full call.
    """
    if getattr(calc, "atoms", None) is None:
        return calc.get_property(name, atoms)
    return calc.get_property(name)

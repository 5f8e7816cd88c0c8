"""ASE's own calculators, EMT and Lennard-Jones: the family that needs no model library.

Why their options are listed here: ``EMT(**kwargs)`` and ``LennardJones(**kwargs)`` accept any
key, so a typo would pass unnoticed; these factories' signatures are the options
(models/options.py checks them).  No batch backend: the model server evaluates them one system
at a time (serve/batch.py's AseBackend).
"""

from __future__ import annotations

from typing import Annotated

from .base import CalculatorSpec, require_pair
from .options import POSITIVE_ENERGY, POSITIVE_LENGTH, Range

Length = Annotated[float | None, POSITIVE_LENGTH]


def _emt(asap_cutoff: bool = False) -> CalculatorSpec:
    """ASE's EMT; its one parameter is listed here because EMT(**kwargs) accepts any key."""
    from ase.calculators.emt import EMT

    return CalculatorSpec(EMT(asap_cutoff=asap_cutoff))


def _lj(sigma: Length = None, epsilon: Annotated[float | None, POSITIVE_ENERGY] = None,
        rc: Length = None, ro: Annotated[float | None, Range(ge=0, unit="Angstrom")] = None,
        smooth: bool = False) -> CalculatorSpec:
    """ASE's LennardJones (its parameters, listed because LennardJones(**kwargs) accepts any
    key); sigma and epsilon are required (`require_pair`); rc and ro left None take ASE's
    defaults (3 sigma, 0.66 rc)."""
    from ase.calculators.lj import LennardJones

    require_pair("lj", sigma, epsilon)
    return CalculatorSpec(LennardJones(sigma=sigma, epsilon=epsilon, rc=rc, ro=ro,
                                       smooth=smooth))


ENTRIES = {"emt": _emt, "lj": _lj}

"""Why did the calculator fail?  Ask it about one tiny system per element, once per element.

A calculator that lacks an element ASE knows (EMT and Fe), or that needs the total charge and
spin, fails in its own words deep inside its code (`NotImplementedError: No EMT-potential for
Fe`) and says neither which LAMMPS atom type is the problem nor what to do.  The first force
evaluation of a run happens in LAMMPS' setup, before the first step; when it fails, this module
asks the calculator about a single atom of each element of the system (cached per element, so a
GCMC run that inserts new elements later asks only about those) and turns the failure into one
line naming the element, the calculator and the fix.

Why only after a failure and not before every first evaluation: a successful run then costs
nothing extra, results cannot change (some models draw random rotations per call, and model
state such as compiled graphs or caches stays as the real system left it), and a calculator
that cannot handle an isolated atom (but handles the real system) is never refused.
"""

from __future__ import annotations

import functools

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from ..errors import BridgeError, CalculatorSetupError

_REFERENCES = ("Cu", "C", "H", "O")  # elements nearly every calculator knows
_CHARGE_SPIN = {"charge": 0, "spin": 1}


def _single_atom(number: int, info: dict) -> Atoms:
    atoms = Atoms(numbers=[number], positions=[[5.0, 5.0, 5.0]], cell=[10.0, 10.0, 10.0],
                  pbc=False)
    atoms.info.update(info)
    return atoms


def _failure(calc, number: int, info: dict) -> BaseException | None:
    """The exception of `calc` for a single atom of element `number`, None if it works."""
    try:
        if hasattr(calc, "reset"):
            calc.reset()
        calc.get_property("energy", _single_atom(number, info))
        calc.get_property("forces", _single_atom(number, info))
    except Exception as exc:  # noqa: BLE001 - the probe's answer
        return exc
    return None


class ElementProbe:
    """Per-element verdicts of one calculator (None: handles it; else the exception text)."""

    def __init__(self) -> None:
        self.verdicts: dict[tuple, str | None] = {}

    def failure(self, calc, number: int, info: dict) -> str | None:
        key = (number, *sorted(info.items()))
        if key not in self.verdicts:
            exc = _failure(calc, number, info)
            self.verdicts[key] = None if exc is None else f"{type(exc).__name__}: {exc}"
        return self.verdicts[key]

    def explain(self, calc, atoms: Atoms | None, error: Exception) -> Exception:
        """A CalculatorSetupError naming the cause of `error`, or `error` when the tiny
        systems do not reproduce it (then the real system itself is the problem)."""
        if atoms is None or not len(atoms):
            return error
        name = type(calc).__name__
        info = {k: atoms.info[k] for k in ("charge", "spin") if k in atoms.info}
        failed = [(z, why) for z in np.unique(atoms.numbers).tolist()
                  if (why := self.failure(calc, z, info)) is not None]
        if not failed:
            return error
        number, why = failed[0]
        if not info and all(self.failure(calc, z, _CHARGE_SPIN) is None for z, _ in failed):
            return CalculatorSetupError(
                f"{name} needs the total charge and spin multiplicity of the system (it failed "
                f"without them: {why}); set them with --charge/--spin (UniversalASEUnified"
                "MLIAPInterface(..., charge=, spin=)) or a charged atom style")
        works = [z for z in np.unique(atoms.numbers).tolist() if z not in dict(failed)]
        if not works:  # is it the element, or any single atom?
            works = [z for z in (chemical_symbols.index(s) for s in _REFERENCES)
                     if self.failure(calc, z, info) is None][:1]
        if not works:
            return error
        symbols = ", ".join(chemical_symbols[z] for z, _ in failed)
        return CalculatorSetupError(
            f"{name} cannot compute {symbols} (the element pair_coeff maps an atom type to; it "
            f"does compute {chemical_symbols[works[0]]}): {why}; map the atom types to elements "
            f"{name} supports or choose another calculator (--calc)")


def diagnosed(compute_forces):
    """Decorate `compute_forces(self, data)` of the interface: a calculator failure that is not
    already one of our errors is explained by `ElementProbe` (self.calculator, self.cache)."""

    @functools.wraps(compute_forces)
    def wrapper(self, data):
        try:
            return compute_forces(self, data)
        except (BridgeError, OSError, MemoryError):  # ours, or not about the calculator's
            raise                                    # chemistry (I/O, network, memory)
        except Exception as exc:
            if hasattr(self.calculator, "request_properties"):  # evaluates elsewhere (server)
                raise
            probe = self.__dict__.setdefault("_probe", ElementProbe())
            better = probe.explain(self.calculator, getattr(self.cache, "atoms", None), exc)
            if better is exc:
                raise
            raise better from exc

    return wrapper

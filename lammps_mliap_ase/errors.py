"""Exceptions raised by the bridge.

Why a hierarchy: inside LAMMPS every Python exception becomes a LAMMPS error whose text is
"ExceptionType: message" (patch 0004), and a Python driver catches it as an exception; named
types let users and tests tell a setup mistake from a broken calculator result.
"""

from __future__ import annotations

import os
import sys


class BridgeError(RuntimeError):
    """Base class of all lammps-mliap-ase errors."""


class UnsupportedUnitsError(BridgeError, ValueError):
    """The LAMMPS unit style has no conversion to eV and Angstrom (e.g. 'lj')."""


class CalculatorSetupError(BridgeError, ValueError):
    """The calculator cannot serve LAMMPS (e.g. it does not implement forces)."""


class ElementMappingError(BridgeError, ValueError):
    """An atom type is not mapped to a chemical element the bridge can hand to ASE."""


class CalculatorResultError(BridgeError):
    """The calculator returned something LAMMPS must not integrate (NaN, wrong shape)."""


class UnpatchedLammpsError(BridgeError):
    """LAMMPS was built without the lammps-mliap-ase patches to ML-IAP."""


class ParallelModeError(BridgeError):
    """The requested system mode does not support this number of MPI ranks."""


class InputError(BridgeError, ValueError):
    """A command-line input on which the chosen calculator would have no effect, or is missing."""


class PairFileError(BridgeError):
    """A pair file this installation cannot read (written by a newer release)."""


def quiet_tracebacks_inside_lmp() -> None:
    """Inside plain `lmp` (its launcher, cli/lmp.py, sets LAMMPS_ASE_EMBEDDED=1) hold back the
    traceback of the bridge's own errors.

    Why: LAMMPS' embedded Python prints a failing unified model's traceback (PyErr_Print, i.e.
    sys.excepthook) before LAMMPS prints the message as its ERROR line (patch 0004).  Our
    errors' messages name cause and fix, so their tracebacks are noise; any other exception
    keeps its traceback, and LAMMPS_ASE_DEBUG=1 shows ours too (as `lammps-ase run --debug`).
    """
    if os.environ.get("LAMMPS_ASE_EMBEDDED") != "1" or \
            os.environ.get("LAMMPS_ASE_DEBUG", "") not in ("", "0"):
        return
    previous = sys.excepthook

    def hook(kind, value, traceback) -> None:
        if not isinstance(value, BridgeError):
            previous(kind, value, traceback)

    sys.excepthook = hook

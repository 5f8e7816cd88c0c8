"""Exceptions raised by the bridge.

Why a hierarchy: inside LAMMPS every Python exception becomes a LAMMPS error whose text is
"ExceptionType: message" (patch 0004), and a Python driver catches it as an exception; named
types let users and tests tell a setup mistake from a broken calculator result.
"""

from __future__ import annotations


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

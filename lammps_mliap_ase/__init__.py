"""Run any ASE calculator inside LAMMPS as ``pair_style mliap unified``.

Typical use from Python::

    import lammps, lammps.mliap
    from ase.calculators.emt import EMT
    from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface

    lmp = lammps.lammps()
    lammps.mliap.activate_mliappy(lmp)
    lmp.commands_string(setup)                   # units, box, atoms
    lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface(EMT()))
    lmp.commands_string("pair_style mliap unified EXISTS 0\\npair_coeff * * Cu\\nrun 0")

The package is four folders, each one concern, importing one way (docs/architecture.md):
cli/ -> adapter/ -> models/ -> serve/ -> the base modules errors.py and properties.py.
"""

from .adapter.interface import UniversalASEUnifiedMLIAPInterface
from .adapter.units import LammpsUnits, lammps_units
from .errors import (
    BridgeError,
    CalculatorResultError,
    CalculatorSetupError,
    ElementMappingError,
    ParallelModeError,
    UnpatchedLammpsError,
    UnsupportedUnitsError,
)

__version__ = "0.2.0"

__all__ = [
    "BridgeError",
    "CalculatorResultError",
    "CalculatorSetupError",
    "ElementMappingError",
    "LammpsUnits",
    "ParallelModeError",
    "UnpatchedLammpsError",
    "UnsupportedUnitsError",
    "UniversalASEUnifiedMLIAPInterface",
    "lammps_units",
]

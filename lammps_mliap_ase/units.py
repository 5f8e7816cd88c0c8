"""Old home of the unit conversions; they live in adapter/units.py now.

Why it exists: pair files written before the package was split into folders (issue 18) pickle
the interface's unit style by its old class path, ``lammps_mliap_ase.units.LammpsUnits``; pickle
imports this module and looks the name up, so it must stay importable for those files to load.
New code imports ``from lammps_mliap_ase import LammpsUnits, lammps_units``.
"""

from .adapter.units import LammpsUnits, lammps_units

__all__ = ["LammpsUnits", "lammps_units"]

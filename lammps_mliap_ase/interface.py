"""Old home of the LAMMPS interface class; it lives in adapter/interface.py now.

Why it exists: pair files written before the package was split into folders (issue 18) pickle
the interface by its old class path,
``lammps_mliap_ase.interface.UniversalASEUnifiedMLIAPInterface``; pickle imports this module and
looks the name up, so it must stay importable for those files to load. New code imports ``from
lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface``.
"""

from .adapter.interface import MODES, UniversalASEUnifiedMLIAPInterface

__all__ = ["MODES", "UniversalASEUnifiedMLIAPInterface"]

"""Old home of the atom bookkeeping; it lives in adapter/system.py now.

Why it exists: pair files written before the package was split into folders (issue 18) pickle
the interface's (empty) atoms cache by its old class path,
``lammps_mliap_ase.system.AtomsCache``; pickle imports this module and looks the name up, so it
must stay importable for those files to load. New code imports lammps_mliap_ase.adapter.system.
The first release's pair files name that cache ``PeriodicSystem``: the same object (one
``atoms`` attribute), so the name is kept as an alias.
"""

from .adapter.system import ELEMENT_TYPES, AtomsCache, LocalAtoms, cell_in_angstrom, local_atoms

PeriodicSystem = AtomsCache  # first release (170a339): its pair files hold one, empty

__all__ = ["ELEMENT_TYPES", "AtomsCache", "LocalAtoms", "PeriodicSystem", "cell_in_angstrom",
           "local_atoms"]

"""Old home of the shared model's client; it lives in serve/client.py now.

Why it exists: pair files written before the package was split into folders (issue 18) pickle a
shared-model calculator they hold by its old class path,
``lammps_mliap_ase.client.SharedModelCalculator``; pickle imports this module and looks the name
up, so it must stay importable for those files to load. New code imports
lammps_mliap_ase.serve.client.
"""

from .serve.client import DEFAULT_TIMEOUT, SharedModelCalculator, SharedModelError

__all__ = ["DEFAULT_TIMEOUT", "SharedModelCalculator", "SharedModelError"]

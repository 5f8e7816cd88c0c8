"""Old home of the `lmp` launcher; it lives in cli/lmp.py now.

Why it exists: the `lmp` console script of an environment installed before the move runs
``lammps_mliap_ase._lmp:main``, and such a launcher may import this package from a newer
checkout (PYTHONPATH); pyproject.toml points new installs at lammps_mliap_ase.cli.lmp.
"""

from .cli.lmp import lmp_executable, main

__all__ = ["lmp_executable", "main"]

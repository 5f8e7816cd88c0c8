"""The command line: `lammps-ase` (commands.py), the `lmp` launcher (lmp.py), and what the
commands need only there -- one-line error reports (oneline.py), input checks (inputcheck.py)
and the machine description (machine.py).

It may import every other folder; nothing imports it (docs/architecture.md).  `main` and
`option` are re-exported here because ``lammps_mliap_ase.cli:main`` is the console script
(pyproject.toml) and examples and benchmarks parse ``--calc-opt`` with
``lammps_mliap_ase.cli.option``.
"""

from .commands import main, option

__all__ = ["main", "option"]

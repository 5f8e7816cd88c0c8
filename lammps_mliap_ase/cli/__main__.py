"""``python -m lammps_mliap_ase.cli``: the `lammps-ase` command without its console script.

Why: the model server of a `-partition` run is started this way (serve/replicas.py), as are
benchmarks/replicas.py's servers, so it works wherever the interpreter does, installed
console script or not.
"""

import sys

from .commands import main

sys.exit(main())

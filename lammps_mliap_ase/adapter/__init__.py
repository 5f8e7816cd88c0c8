"""The LAMMPS adapter: what ``pair_style mliap unified`` calls, and everything on LAMMPS' side
of that call -- which atoms a rank passes (system.py), unit conversion (units.py), checked
results and virials (results.py), the MPI modes (parallel.py) and the diagnosis of a failing
calculator (probe.py).

It may import models/ (a pair file's recipe rebuilds its calculator by name), serve/ and the
base modules (errors.py, properties.py); never cli/ (docs/architecture.md).
"""

"""Run one bridge case under MPI (`mpirun -np N python mpi_driver.py CASE OUT.json`).

Rank 0 writes energy, forces and virial (ASE units, by atom ID), per-atom energies, or the
error message the case raised, as JSON.  Used by test_mpi.py; CASE names are defined there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# the same lammps_mliap_ase as the calling pytest process (the checkout, like `python -m pytest`)
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from mpi4py import MPI  # noqa: E402  (initialise MPI before LAMMPS)

from conftest import run_bridge  # noqa: E402
from mpi_cases import CASES  # noqa: E402


def main() -> None:
    name, out = sys.argv[1], sys.argv[2]
    case = CASES[name]
    atoms, calc, kwargs = case()
    record: dict
    try:
        result = run_bridge(atoms, calc, **kwargs)
        record = {"energy": result.energy, "forces": result.forces.tolist(),
                  "virial": result.virial.tolist(),
                  "energies": None if result.energies is None else result.energies.tolist()}
    except Exception as exc:  # noqa: BLE001 - reported to the test
        record = {"error": str(exc)}
    record["nprocs"] = MPI.COMM_WORLD.Get_size()
    if MPI.COMM_WORLD.Get_rank() == 0:
        Path(out).write_text(json.dumps(record))


if __name__ == "__main__":
    main()

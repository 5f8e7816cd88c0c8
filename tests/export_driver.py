"""Run a file model on one test system under MPI (`mpirun -np N python export_driver.py SYSTEM
MODEL OUT.json [STEPS]`): rank 0 writes export_run.run_file_model's record, or the error, as
JSON.  Used by tests/test_mliap_exports.py and benchmarks/mliap_export.py; SYSTEM names a
function of tests/systems.py, optionally with its repeat: `mgo_slab_with_co2:4,4,3`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# the same lammps_mliap_ase as the calling pytest process (the checkout, like `python -m pytest`)
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from export_run import run_file_model  # noqa: E402
from mpi4py import MPI  # noqa: E402  (initialise MPI before LAMMPS)

import systems  # noqa: E402


def main() -> None:
    name, model, out = sys.argv[1:4]
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    try:
        function, _, repeat = name.partition(":")
        args = [tuple(int(k) for k in repeat.split(","))] if repeat else []
        record = run_file_model(getattr(systems, function)(*args), model, steps)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        record = {"error": f"{type(exc).__name__}: {exc}"}
    record["nprocs"] = MPI.COMM_WORLD.Get_size()
    if MPI.COMM_WORLD.Get_rank() == 0:
        Path(out).write_text(json.dumps(record))


if __name__ == "__main__":
    main()

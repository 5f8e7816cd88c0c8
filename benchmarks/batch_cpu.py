"""One batched Orb-v3 pass of K water boxes vs K single passes (the figure behind
`make_backend`'s CPU default, docs/replicas-backends.md).

    python benchmarks/batch_cpu.py [--threads 2] [--k 8] [--repeats 3]

Orb-v3 direct (random weights, float32, the registry's `random_weights=True`); water boxes
of ~100 and ~800 atoms (3.1 A grid of molecules, rattled).  Prints per size the best-of-
`repeats` time of one `OrbBackend(batched=True)` call on K boxes and of K single calls
(`batched=False`, the calculator's own path), interleaved so background load hits both;
wall-clock and process CPU time (less sensitive to other processes on a shared machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from ase import Atoms
from ase.build import molecule

from lammps_mliap_ase.models.registry import make_backend, make_calculator
from lammps_mliap_ase.serve.batch import Request


def water_box(shape: tuple[int, int, int], seed: int) -> Atoms:
    water = molecule("H2O")
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    atoms = Atoms()
    for point in grid.reshape(-1, 3) * 3.1:
        w = water.copy()
        w.translate(point)
        atoms += w
    atoms.cell = 3.1 * np.array(shape, dtype=float)
    atoms.pbc = True
    atoms.rattle(0.05, seed=seed)
    return atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="108,756",
                        help="atoms per box, from 108 (3x3x4 waters) and 756 (6x6x7)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    calc = make_calculator("orb-v3-direct-20-omat", random_weights=True, seed=0).calculator
    batched, single = make_backend(calc, batched=True), make_backend(calc, batched=False)
    print(f"Orb-v3 direct-20-omat, random weights, float32, {args.threads} torch threads, "
          f"K={args.k}")
    shapes = {"108": (3, 3, 4), "756": (6, 6, 7)}
    for shape in (shapes[size] for size in args.sizes.split(",")):
        reqs = [Request(numbers=a.numbers, positions=a.positions, cell=a.cell.array,
                        pbc=a.pbc, properties=("energy", "forces", "stress"))
                for a in (water_box(shape, seed) for seed in range(args.k))]
        batched.evaluate(reqs[:1])  # first-call costs out of the way
        wall = {"batched": [], "single": []}
        cpu = {"batched": [], "single": []}
        for _ in range(args.repeats):
            for name, backend in (("batched", batched), ("single", single)):
                start, start_cpu = time.perf_counter(), time.process_time()
                results = backend.evaluate(reqs)
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
                assert not any(isinstance(r, Exception) for r in results)
        b, s = min(wall["batched"]), min(wall["single"])
        bc, sc = min(cpu["batched"]), min(cpu["single"])
        print(f"{len(reqs[0].numbers):5d} atoms: one batched pass {b:.2f} s, {args.k} single "
              f"passes {s:.2f} s, batched/single {b / s:.2f} (wall); CPU time {bc:.2f} s vs "
              f"{sc:.2f} s, batched/single {bc / sc:.2f}")


if __name__ == "__main__":
    main()

"""A full calculator call (energy, forces, stress) vs the family's `energy_only` pass (the
energy of a Monte Carlo trial) for SevenNet-0 and CHGNet 0.3.0, real weights, on the CPU.

    python benchmarks/energy_only_cpu.py [--repeat (3, 2, 2)] [--repeats 7]

System: rattled rock-salt MgO, 96 atoms by default (tests/systems.py's `mgo`).  After one
warm-up call of each, `repeats` interleaved pairs (background load hits both); prints the
median and best wall-clock time per call, their ratio, the energy difference and the load
average before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from ase.build import bulk

from lammps_mliap_ase.models import chgnet, sevennet
from lammps_mliap_ase.models.registry import make_calculator


def mgo(repeat, seed=4):
    atoms = bulk("MgO", "rocksalt", a=4.21, cubic=True).repeat(repeat)
    atoms.rattle(stdev=0.05, seed=seed)
    atoms.wrap()
    return atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, nargs=3, default=(3, 2, 2))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    atoms = mgo(tuple(args.repeat))
    print(f"{len(atoms)} atoms, {torch.get_num_threads()} torch threads, load average "
          f"{os.getloadavg()[0]:.1f}")
    for name, family in (("sevennet-0", sevennet), ("chgnet", chgnet)):
        calc = make_calculator(name).calculator
        energy_only = family.energy_only(calc)

        def full(calc=calc):
            calc.reset()
            copy = atoms.copy()
            copy.calc = calc
            return copy.get_potential_energy()

        def cheap(energy_only=energy_only):
            return energy_only(atoms)

        full(), cheap()  # warm-up
        times: dict[str, list[float]] = {"full": [], "energy_only": []}
        energies: dict[str, float] = {}
        for _ in range(args.repeats):
            for label, call in (("full", full), ("energy_only", cheap)):
                start = time.perf_counter()
                value = call()
                times[label].append(time.perf_counter() - start)
                energies[label] = value
        t_full, t_cheap = (statistics.median(times[k]) for k in ("full", "energy_only"))
        print(f"{name}: full {t_full:.2f} s (best {min(times['full']):.2f}), energy_only "
              f"{t_cheap:.2f} s (best {min(times['energy_only']):.2f}), {t_full / t_cheap:.1f}x;"
              f" dE {energies['energy_only'] - energies['full']:.1e} eV")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

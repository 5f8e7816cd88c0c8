"""CO2 in Mg-MOF-74 (CoRE MOF 2019), 298 K: chain identity native vs bridge, isotherm, Widom.

    .venv/bin/python examples/mof74_co2/run.py                    # default size, < 15 min, 2 cores
    .venv/bin/python examples/mof74_co2/run.py --cycles 2000      # longer isotherm
    .venv/bin/python examples/mof74_co2/run.py --resume           # continue a stopped job
    .venv/bin/python examples/mof74_co2/run.py --calc orb-v3-direct-omol --device cuda
    .venv/bin/python examples/mof74_co2/run.py --calc uma-s-1p1 --calc-opt task=odac --device cuda

Steps (each can be skipped): (1) the same GCMC chain twice, all-native LAMMPS and LJ through
the bridge + native Coulomb, compared move for move; (2) the isotherm, one pressure after the
other (`run_pressure` is the per-pressure unit), restart files after every block; (3) fix widom
in the empty framework: mu_ex and the map of insertion energies.  Writes results.json,
isotherm.csv, isotherm.png, widom_map.png to --out.  With --calc the registry model is the
whole energy (no classical charges) and only (2) runs.
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

import numpy as np
from ase.calculators.calculator import all_changes
from ase.units import kB, kJ, mol

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import mlip  # noqa: E402
import mof74  # noqa: E402
import screen  # noqa: E402
import simulation as sim  # noqa: E402
import state_binding  # noqa: E402
from guest_lj import GuestLJ  # noqa: E402

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface  # noqa: E402
from lammps_mliap_ase.cli import option  # noqa: E402
from lammps_mliap_ase.cli.commands import serve_arguments as cli_serve_arguments  # noqa: E402
from lammps_mliap_ase.cli.machine import describe  # noqa: E402
from lammps_mliap_ase.cli.oneline import OneLineParser, run_script  # noqa: E402
from lammps_mliap_ase.serve.replicas import SharedServer  # noqa: E402

PRESSURES = np.logspace(-2, 0, 10)  # bar: the published study's grid
# sizes of the default run; with a real model (--calc) each trial costs ~1 s on 2 CPU cores,
# so the default is small (README: measured times, and the longer run)
CLASSICAL_DEFAULTS = {"cycles": 100, "exchanges": 15, "moves": 5,
                      "pressures": PRESSURES.tolist(), "widom_blocks": 10,
                      "widom_insertions": 100}
MODEL_DEFAULTS = {"cycles": 30, "exchanges": 10, "moves": 5,
                  "pressures": [0.01, 0.03, 0.1, 0.3, 1.0], "widom_blocks": 5,
                  "widom_insertions": 100}
EXPERIMENT = {0.1: 5.1, 1.0: 7.9}  # mmol/g, pristine Mg-MOF-74, 298 K
SEED = 29494
DEFAULT_OUT = "mof74_co2_output"  # relative to the current folder, never the source tree
UNIT_CIF = "unit.cif"  # in --out/state: the structure the job hands its replicas
RESTART_MAGIC = b"LammpS RestartT"  # the first bytes of every LAMMPS restart (read_restart.cpp)


class System:
    """The supercell framework and the numbers that convert CO2 counts into uptakes."""

    def __init__(self, cif: str | None = None, model: bool = False) -> None:
        unit = mof74.load_framework(cif)
        self.unit = unit
        self.repeats = (mlip.repeats_for_model(unit.cell.array) if model  # see mlip.py
                        else mof74.repeats_for(unit.cell.array))
        self.framework = mof74.supercell(unit, self.repeats)
        self.cells = int(np.prod(self.repeats))
        self.mass = mof74.molar_mass(self.framework)  # g/mol of the supercell
        self.charged = mof74.framework_charges_present(unit)

    def mmol_per_g(self, n_co2):
        return np.asarray(n_co2) / self.mass * 1000.0

    def per_cell(self, n_co2):
        return np.asarray(n_co2) / self.cells


def block_error(samples: np.ndarray, blocks: int = 5) -> float:
    """Standard error of the mean from `blocks` block averages."""
    blocks = min(blocks, len(samples))
    if blocks < 2:
        return float("nan")
    means = np.array([b.mean() for b in np.array_split(samples, blocks)])
    return float(means.std(ddof=1) / np.sqrt(blocks))


def interface_for(energy: str, args, calc=None,
                  **options) -> UniversalASEUnifiedMLIAPInterface | None:
    """The bridge of `energy`; `options` go to the interface (e.g. energy_only_trials)."""
    if energy == "native":
        return None
    if args is not None and energy == "model":
        options.setdefault("energy_only_trials", args.trials == "energy-only")
    if getattr(args, "server", None):  # a replica: the calculator lives in the job's server
        return UniversalASEUnifiedMLIAPInterface.from_registry(
            "server", {"address": args.server}, **options)
    if energy == "bridge":
        return UniversalASEUnifiedMLIAPInterface(calc or GuestLJ(mof74.CUTOFF))
    calc_options = dict(args.calc_opt) | ({"device": args.device} if args.device else {})
    return UniversalASEUnifiedMLIAPInterface.from_registry(args.calc, calc_options, **options)


def dispersion(args) -> str | None:
    """The D3 overlay of a model with the parameters of its functional (mlip.py says why),
    or None."""
    if getattr(args, "dispersion", "none") != "d3":
        return None
    return mlip.d3(getattr(args, "d3_functional", "pbe"))


# -- (1) the same chain two ways -------------------------------------------------------------

def chain(system: System, energy: str, pressure: float, n_cycles: int, seed: int,
          exchanges: int, moves: int) -> dict:
    """One GCMC chain from the empty framework; its final state and move counts."""
    start = time.perf_counter()
    lmp = sim.make_lammps(system.framework, energy, interface_for(energy, None))
    sim.add_gcmc(lmp, pressure, seed, exchanges, moves)
    counts = sim.cycles(lmp, n_cycles, len(system.framework))
    result = {"energy": energy, "cycles": n_cycles, "final_co2": int(counts[-1]),
              "final_pe_eV": sim.potential_energy(lmp), "moves": sim.move_counts(lmp),
              "co2_per_cycle": counts.astype(int).tolist(),
              "wall_s": time.perf_counter() - start}
    lmp.close()
    return result


def compare_chains(system: System, args) -> dict:
    runs = [chain(system, energy, args.compare_pressure, args.compare_cycles, SEED,
                  args.exchanges, args.moves) for energy in ("native", "bridge")]
    native, bridge = runs
    identical = (native["co2_per_cycle"] == bridge["co2_per_cycle"]
                 and native["moves"] == bridge["moves"])
    rel = abs(native["final_pe_eV"] - bridge["final_pe_eV"]) / max(abs(native["final_pe_eV"]),
                                                                    1e-300)
    print(f"\n(1) chain identity at {args.compare_pressure} bar, {args.compare_cycles} cycles, "
          f"seed {SEED}")
    print(f"{'':28}{'native':>16}{'bridge':>16}")
    print(f"{'final CO2':28}{native['final_co2']:>16d}{bridge['final_co2']:>16d}")
    print(f"{'final energy (eV)':28}{native['final_pe_eV']:>16.10f}"
          f"{bridge['final_pe_eV']:>16.10f}")
    for name in sim.MOVES:
        print(f"{name:28}{native['moves'][name]:>16d}{bridge['moves'][name]:>16d}")
    print(f"{'wall time (s)':28}{native['wall_s']:>16.1f}{bridge['wall_s']:>16.1f}")
    print(f"identical chains: {identical}; energy relative difference {rel:.2e}")
    return {"pressure_bar": args.compare_pressure, "identical": identical,
            "energy_rel_diff": rel, "native": native, "bridge": bridge}


# -- (2) the isotherm ------------------------------------------------------------------------

def run_pressure(system: System, pressure: float, args, state: Path, energy: str,
                 clock: dict | None = None, parent: int | None = None) -> dict:
    """One point of the isotherm: GCMC from the empty framework (or from this pressure's restart
    file), progress per block, restart file + samples after every block.  Self-contained: the
    unit that runs as one replica of the job (`--worker`).  `clock` (sequential runs) counts the
    job's cycles left for the time estimate; `parent`: stop after a block when that process
    (the job) is gone, instead of running on unwatched."""
    restart, samples_file = state.with_suffix(".restart"), state.with_suffix(".json")
    counts: list[float] = []
    interface = interface_for(energy, args)
    d3 = dispersion(args) if energy == "model" else None
    intra = sim.intra_energy(interface, d3) if energy == "model" else 0.0
    if samples_file.exists() and restart.exists():
        saved = json.loads(samples_file.read_text())
        counts = saved["co2_per_cycle"]
        lmp = sim.make_lammps(system.framework, energy, interface, restart=restart,
                              dispersion=d3)
        print(f"  resuming {pressure:.4g} bar at cycle {len(counts)}", flush=True)
    else:
        lmp = sim.make_lammps(system.framework, energy, interface, dispersion=d3)
    sim.add_gcmc(lmp, pressure, args.seed, args.exchanges, args.moves, intra,
                 args.overlap if energy == "model" else 0.0, args.maxangle)
    total, block = args.cycles, max(1, args.cycles // args.blocks)
    start = time.perf_counter()
    done_before = len(counts)
    while len(counts) < total:
        n = min(block, total - len(counts))
        counts += sim.cycles(lmp, n, len(system.framework)).tolist()
        sim.write_restart(lmp, restart)
        samples_file.write_text(json.dumps({"pressure_bar": pressure,
                                            "co2_per_cycle": counts}))
        elapsed = time.perf_counter() - start
        rate = elapsed / (len(counts) - done_before)
        prod = np.array(counts[args.equilibration:]) if len(counts) > args.equilibration else []
        so_far = (f"{system.mmol_per_g(np.mean(prod)):.3f} mmol/g" if len(prod)
                  else "equilibrating")
        left_here = rate * (total - len(counts))
        in_all = ""
        if clock is not None:
            clock["cycles_left"] -= n
            in_all = f", ~{rate * clock['cycles_left'] / 60:.1f} min left in all"
        print(f"  {pressure:8.4g} bar  cycle {len(counts):5d}/{total}  CO2 now {counts[-1]:4.0f}"
              f"  uptake so far {so_far}  {elapsed:6.1f} s here, ~{left_here:.0f} s left here"
              f"{in_all}", flush=True)
        if parent is not None and os.getppid() != parent:
            lmp.close()
            raise SystemExit(f"{pressure:.4g} bar: the job that started this replica is gone; "
                             f"stopped after cycle {len(counts)} (--resume continues)")
    moves = sim.move_counts(lmp)
    lmp.close()
    production = np.array(counts[args.equilibration:])
    mean, err = float(production.mean()), block_error(production, args.blocks)
    result = {"pressure_bar": pressure, "cycles": total, "equilibration": args.equilibration,
              "co2_mean": mean, "co2_err": err,
              "mmol_g": float(system.mmol_per_g(mean)), "mmol_g_err": float(system.mmol_per_g(err)),
              "per_cell": float(system.per_cell(mean)), "per_cell_err": float(system.per_cell(err)),
              "wall_s": time.perf_counter() - start, "moves": moves, "resumed": done_before > 0,
              "co2_reference_eV": intra, "model_calls": getattr(interface, "_calls", 0),
              "energy_only_calls": getattr(interface, "energy_only_calls", 0)}
    samples_file.write_text(json.dumps({"pressure_bar": pressure, "co2_per_cycle": counts,
                                        "result": result}))
    return result


def isotherm(system: System, args, energy: str) -> list[dict]:
    """Every pressure of the isotherm: at once as replicas (default) or one after the other
    (--sequential); finished pressures of a stopped job are kept with --resume."""
    state = args.out / "state"
    state.mkdir(parents=True, exist_ok=True)
    pressures = args.pressures
    finished: dict[int, dict] = {}
    if args.resume:
        for k in range(len(pressures)):
            f = state / f"p{k:02d}.json"
            saved = json.loads(f.read_text()) if f.exists() else {}
            if saved.get("result", {}).get("cycles", 0) >= args.cycles:
                finished[k] = saved["result"]  # a shorter run continues to --cycles
    else:
        for f in state.glob("p*.*"):
            f.unlink()
    pending = [k for k in range(len(pressures)) if k not in finished]
    together = not args.sequential and len(pending) > 1
    how = (f"{len(pending)} at once as replicas" if together else "one after the other")
    print(f"\n(2) isotherm, {energy} energy: {len(pressures)} pressures x {args.cycles} cycles "
          f"({args.exchanges} exchange + {args.moves} move trials each, first "
          f"{args.equilibration} cycles equilibration, {args.blocks} blocks), {how}",
          flush=True)
    for k in finished:
        print(f"  {pressures[k]:8.4g} bar  finished before, skipped", flush=True)
    start = time.perf_counter()
    if together:
        finished |= as_replicas(system, args, energy, pending, state)
    else:
        clock = {"cycles_left": args.cycles * len(pending)}
        for k in pending:
            finished[k] = run_pressure(system, float(pressures[k]), args, state / f"p{k:02d}",
                                       energy, clock)
    print(f"  isotherm: {time.perf_counter() - start:.0f} s ({how})", flush=True)
    results = [finished[k] for k in range(len(pressures))]
    print(f"\n{'p (bar)':>9} {'CO2/supercell':>16} {'mmol/g':>16} {'CO2/unit cell':>16}"
          f" {'exp. mmol/g':>12} {'cycles':>7} {'wall (s)':>9}")
    for r in results:
        exp = EXPERIMENT.get(round(r["pressure_bar"], 6))
        print(f"{r['pressure_bar']:9.4g} {r['co2_mean']:9.2f} ± {r['co2_err']:4.2f} "
              f"{r['mmol_g']:9.3f} ± {r['mmol_g_err']:5.3f} {r['per_cell']:9.3f} ± "
              f"{r['per_cell_err']:5.3f} {exp if exp else '':>12} {r['cycles']:7d} "
              f"{r['wall_s']:9.1f}")
    return results


def gap_to_experiment(results: list[dict]) -> dict[float, dict]:
    """Simulated uptake at the experimental pressures (log-log interpolation between the two
    nearest simulated pressures) next to experiment."""
    p = np.array([r["pressure_bar"] for r in results])
    y = np.array([r["mmol_g"] for r in results])
    gaps = {}
    for pressure, measured in EXPERIMENT.items():
        if p.min() <= pressure <= p.max() and (y > 0).all():
            sim_uptake = float(np.exp(np.interp(np.log(pressure), np.log(p), np.log(y))))
            gaps[pressure] = {"simulated_mmol_g": sim_uptake, "experiment_mmol_g": measured,
                              "ratio": sim_uptake / measured}
            print(f"at {pressure} bar: simulated {sim_uptake:.3f} mmol/g, experiment "
                  f"{measured} mmol/g ({100 * sim_uptake / measured:.1f} % of experiment)")
    return gaps


def serve_arguments(args, energy: str) -> list[str]:
    """`lammps-ase serve` options for the job's one calculator: the classical LJ part (bridge)
    or the registry model (--calc, as `lammps-ase run` would pass it)."""
    if energy == "bridge":
        return ["--calc", "guest_lj:GuestLJ", "--calc-opt", f"cutoff={mof74.CUTOFF!r}"]
    return cli_serve_arguments(args)


def as_replicas(system: System, args, energy: str, pending: list[int],
                state: Path) -> dict[int, dict]:
    """The pending pressures at once, one replica process each (`--worker K`, this script's
    own arguments otherwise); with the bridge or a model they share one calculator in one
    `lammps-ase serve` (docs/replicas.md), which a GPU model evaluates batched.  Each replica
    writes its progress lines, restart file and samples itself; its chain is the one it makes
    alone."""
    path = {"PYTHONPATH": os.pathsep.join([str(HERE), *filter(None, [os.environ.get(
        "PYTHONPATH")])])}  # guest_lj for the server, the example's modules for the workers
    (state / UNIT_CIF).write_text(system.unit.info["cif"])  # replicas skip the archive scan
    workers: dict[int, subprocess.Popen] = {}
    server = SharedServer()  # stops with this job: `--parent-pid`
    try:
        extra = []
        if energy != "native":
            extra = ["--server", server.start(serve_arguments(args, energy), env=path)]
        for k in pending:
            workers[k] = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), *args.argv, "--worker", str(k),
                 *extra], env=os.environ | path)
        results = {}
        for k, worker in workers.items():
            if worker.wait():
                raise RuntimeError(f"the replica at {args.pressures[k]:.4g} bar failed "
                                   f"(exit {worker.returncode}; its error is above); "
                                   "--resume continues the job")
            results[k] = json.loads((state / f"p{k:02d}.json").read_text())["result"]
            print(f"  {args.pressures[k]:8.4g} bar  done: {results[k]['mmol_g']:.3f} mmol/g "
                  f"({len(results)}/{len(pending)} replicas)", flush=True)
        return results
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                worker.terminate()
                worker.wait()
        server.stop()


def worker(args) -> None:
    """One replica of the isotherm: pressure number `args.worker`, from its restart if any."""
    k, state = args.worker, args.out / "state"
    run_pressure(System((state / UNIT_CIF).read_text(), model=bool(args.calc)),
                 float(args.pressures[k]), args,
                 state / f"p{k:02d}", args.energy, parent=os.getppid())


# -- a real model: (a) binding, (b) Widom, (d) trial cost, (c) isotherm ------------------------

CLASSICAL_RUN = HERE / "measured" / "results.json"


def model_study(system: System, args) -> dict:
    """The user's case with a pretrained model as the whole energy (mlip.py: D3, intra
    energy, overlap rejection, supercell).  The isotherm runs as replicas sharing one model
    server; the rest in this process."""
    out: dict = {"model": args.calc, "dispersion": dispersion(args), "overlap_A": args.overlap,
                 "trials": args.trials,
                 "nearest_image_A": mlip.shortest_image_distance(system.framework.cell.array)}
    interface = interface_for("model", args)
    d3 = dispersion(args)
    out["co2_intra_eV"] = sim.intra_energy(interface, d3)
    print(f"\nmodel {args.calc}, dispersion {d3 or 'none'}: a lone rigid CO2 has "
          f"{out['co2_intra_eV']:.4f} eV (fix gcmc/widom intra_energy)", flush=True)
    if not args.no_binding:
        b = out["binding"] = mlip.binding_energy(system.framework, interface, d3)
        print(f"(a) CO2 at the open Mg site, minimised ({b['minimize_steps']} steps, framework "
              f"fixed, largest force left {b['fmax_eV_A']:.3f} eV/A, {minimised(b)}): E_bind = "
              f"{b['E_bind_kJ_mol']:.1f} kJ/mol (D3 {b['E_bind_d3_kJ_mol']:.1f}), nearest "
              f"Mg-O {b['mg_o_A']:.2f} A, "
              f"Mg-O-C {b['mg_o_c_deg']:.0f} deg; {b['wall_s']:.0f} s", flush=True)
    if args.widom_blocks:
        w = out["widom"] = mlip.widom(system, interface, d3, out["co2_intra_eV"], args.seed,
                                      args.widom_blocks * args.widom_insertions)
        print(f"(b) fix widom, {w['insertions']} insertions: mu_ex = "
              f"{w['all']['mu_ex_kJ_mol']:.2f} ± {w['all']['mu_ex_err_kJ_mol']:.2f} kJ/mol, Henry "
              f"{w['all']['henry_mmol_g_bar']:.3g} mmol/g/bar; with the overlap rule "
              f"({w['closer_than_overlap']} insertions closer than {mlip.OVERLAP} A): "
              f"{w['overlap_filtered']['mu_ex_kJ_mol']:.2f} kJ/mol, "
              f"{w['overlap_filtered']['henry_mmol_g_bar']:.3g} mmol/g/bar; {w['wall_s']:.0f} s",
              flush=True)
    if args.cost_cycles:
        print(f"(d) cost of a trial, 1 bar, {args.cost_cycles} cycles each way:", flush=True)
        out["trial_cost"] = mlip.trial_cost(
            system, args, lambda **o: UniversalASEUnifiedMLIAPInterface(interface.calculator,
                                                                        **o),
            d3, out["co2_intra_eV"])
    if args.state_binding:  # how strongly each CO2 of a saved state is bound
        print(f"(f) deletion energies of the CO2 in {args.state_binding} (state_binding.py)",
              flush=True)
        out["state_binding"] = state_binding.report(
            system.framework, interface, d3, out["co2_intra_eV"], args.state_binding,
            state_binding.PRESSURES, screen.screen_d3(args, d3))
    if args.screen_cycles:  # (e) delayed acceptance: screen.py
        out["screen"] = screen.compare(system, args, interface, d3, out["co2_intra_eV"],
                                       block_error)
    if not args.no_isotherm:
        t = time.perf_counter()
        out["isotherm"] = isotherm(system, args, "model")
        out["isotherm_wall_s"] = time.perf_counter() - t
        out["gap_to_experiment"] = gap_to_experiment(out["isotherm"])
    return out


def minimised(binding: dict) -> str:
    """How (a)'s minimisation ended, in words: the force criterion met, or not and why."""
    if "converged" not in binding:  # a results.json from before the force criterion
        return f"{binding['minimize_steps']} steps, no force criterion"
    target = binding["fmax_target_eV_A"]
    if binding["converged"]:
        return f"converged: largest force <= {target:g} eV/A"
    why = (f"the {binding['step_cap']}-step cap ended it" if binding["step_cap_hit"]
           else "the minimiser gave up")
    return f"NOT converged to {target:g} eV/A: {why}"


# -- (3) fix widom ---------------------------------------------------------------------------

class RecordingGuestLJ(GuestLJ):
    """GuestLJ that keeps (x, y, z of the C, LJ energy) of every state with one CO2: the test
    insertions fix widom makes into the empty framework."""

    def __init__(self, cutoff: float) -> None:
        super().__init__(cutoff)
        self.records: list[tuple[float, float, float, float]] = []

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        _, guest = self.sites(self.atoms)
        if guest.sum() == 3:
            carbon = np.flatnonzero(guest & (self.atoms.numbers == 6))[0]
            self.records.append((*self.atoms.positions[carbon], self.results["energy"]))


def widom(system: System, args) -> dict:
    """mu_ex of CO2 at infinite dilution by fix widom through the bridge, and the insertion map."""
    start = time.perf_counter()
    calc = RecordingGuestLJ(mof74.CUTOFF)
    lmp = sim.make_lammps(system.framework, "bridge", interface_for("bridge", args, calc))
    boltzmann = sim.widom(lmp, args.seed, args.widom_blocks, args.widom_insertions)
    lmp.close()
    lmp = sim.make_lammps(system.framework, "native")  # the same insertions, natively
    native = sim.widom(lmp, args.seed, args.widom_blocks, args.widom_insertions)
    lmp.close()
    same = bool(np.allclose(boltzmann, native, rtol=1e-8, atol=0.0))
    kt = kB * mof74.TEMPERATURE
    mu_k = -kt * np.log(boltzmann)  # each invocation: <exp(-dU/kT)> over its insertions
    mu = float(-kt * np.log(boltzmann.mean()))
    nb = min(5, len(mu_k))
    blocks = np.array([-kt * np.log(b.mean()) for b in np.array_split(boltzmann, nb)])
    mu_err = float(blocks.std(ddof=1) / np.sqrt(nb)) if nb > 1 else float("nan")
    # Henry coefficient: n = K_H p with K_H = exp(-mu_ex/kT) / (rho_framework R T)
    density = system.mass / 1000.0 / (system.framework.get_volume() * 1e-30 * 6.02214076e23)
    henry = float(np.exp(-mu / kt) / (density * 8.314462618 * mof74.TEMPERATURE))  # mol/kg/Pa
    records = np.array(calc.records)
    result = {"mu_ex_eV": mu, "mu_ex_err_eV": mu_err, "mu_ex_kJ_mol": mu / (kJ / mol),
              "mu_ex_err_kJ_mol": mu_err / (kJ / mol), "insertions": int(len(mu_k) *
                                                                      args.widom_insertions),
              "recorded_insertions": len(records), "henry_mmol_g_bar": henry * 1e5,
              "native_identical": same,
              "wall_s": time.perf_counter() - start}
    print(f"\n(3) fix widom, empty framework, {result['insertions']} insertions "
          f"({len(mu_k)} x {args.widom_insertions}): mu_ex = {result['mu_ex_kJ_mol']:.2f} ± "
          f"{result['mu_ex_err_kJ_mol']:.2f} kJ/mol; Henry coefficient "
          f"{result['henry_mmol_g_bar']:.3f} mmol/g/bar; native fix widom gives the same "
          f"mu_ex per invocation (1e-8): {same}; {result['wall_s']:.0f} s (both)")
    return result | {"_records": records}


# -- plots -----------------------------------------------------------------------------------

def plot_isotherm(system: System, results: list[dict], path: Path, label: str,
                  classical: Path | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = np.array([r["pressure_bar"] for r in results])
    y = np.array([r["mmol_g"] for r in results])
    e = np.array([r["mmol_g_err"] for r in results])
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    ax.errorbar(p, y, yerr=e, fmt="o-", capsize=3, label=f"GCMC, {label}")
    if classical is not None and classical.exists():  # the measured classical run
        c = json.loads(classical.read_text())["isotherm"]
        ax.errorbar([r["pressure_bar"] for r in c], [r["mmol_g"] for r in c],
                    yerr=[r["mmol_g_err"] for r in c], fmt="^--", capsize=2, alpha=0.7,
                    label="GCMC, UFF + TraPPE, uncharged framework (measured/)")
    ax.plot(list(EXPERIMENT), list(EXPERIMENT.values()), "s", color="k",
            label="experiment (pristine Mg-MOF-74)")
    ax.set_xscale("log")
    ax.set_xlabel("CO$_2$ pressure (bar)")
    ax.set_ylabel("uptake (mmol/g)")
    right = ax.secondary_yaxis("right", functions=(lambda m: m * system.mass / 1000 /
                                                   system.cells,
                                                   lambda c: c * system.cells * 1000 /
                                                   system.mass))
    right.set_ylabel("CO$_2$ per unit cell (54 atoms)")
    ax.set_title("CO$_2$ in Mg-MOF-74 (CoRE VOGTIV), 298 K", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_widom_map(system: System, records: np.ndarray, path: Path, bins: int = 20) -> None:
    """Lowest insertion energy per bin, projected along the channels (lattice vector a).

    The supercell's insertions are folded into one unit cell (the supercell is 4 x 2 x 2
    copies of it, so this is exact) and the unit-cell map is drawn 2 x 2 times."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = mof74.supercell(system.unit, (1, 1, 1)).cell.array  # unit cell, LAMMPS' orientation
    axis = mof74.channel_axis(unit)
    plane = [k for k in range(3) if k != axis]
    frac = records[:, :3] @ np.linalg.inv(unit)
    frac -= np.floor(frac)
    idx = np.minimum((frac[:, plane] * bins).astype(int), bins - 1)
    lowest = np.full(bins * bins, np.inf)
    np.minimum.at(lowest, idx[:, 0] * bins + idx[:, 1], records[:, 3] / (kJ / mol))
    grid = np.where(np.isfinite(lowest), lowest, np.nan).reshape(bins, bins)
    # orthonormal axes of the plane perpendicular to the channels
    normal = unit[axis] / np.linalg.norm(unit[axis])
    b, c = unit[plane[0]], unit[plane[1]]
    e1 = b - (b @ normal) * normal
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    u, v = np.meshgrid(np.arange(bins + 1) / bins, np.arange(bins + 1) / bins, indexing="ij")
    fig, ax = plt.subplots(figsize=(6.4, 5), dpi=120)
    fw = system.framework
    for shift in ([0, 0], [1, 0], [0, 1], [1, 1]):
        corner = shift[0] * b + shift[1] * c
        x = u[..., None] * b + v[..., None] * c + corner
        mesh = ax.pcolormesh(x @ e1, x @ e2, np.clip(grid, None, 0.0), cmap="viridis",
                             shading="flat", vmax=0.0)
    fig.colorbar(mesh, ax=ax, label="lowest CO$_2$ insertion energy in bin (kJ/mol)")
    fmg = fw.get_scaled_positions()[fw.numbers == 12] * system.repeats
    inside = (fmg[:, plane] < 2).all(axis=1)
    mg = fmg[inside] @ unit
    ax.scatter(mg @ e1, mg @ e2, s=10, c="r", label="Mg (open metal site)")
    ax.set_aspect("equal")
    ax.set_xlabel("Å")
    ax.set_ylabel("Å")
    ax.set_title(f"fix widom in the empty framework: {len(records)} CO$_2$ insertions,\n"
                 "projected along the channels (unit cell drawn 2 x 2)", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# -- the README's tables ---------------------------------------------------------------------

def markdown_tables(report: dict) -> dict[str, str]:
    """The README's tables, made from a results.json (tests/test_mof74.py checks that the
    README shows exactly these for measured/results.json)."""
    if "model" in report:
        return model_tables(report)
    tables = {}
    if "chains" in report:
        c = report["chains"]
        native, bridge = c["native"], c["bridge"]
        rows = [f"| final CO2 | {native['final_co2']} | {bridge['final_co2']} |",
                f"| final energy (eV) | {native['final_pe_eV']:.10f} | "
                f"{bridge['final_pe_eV']:.10f} |"]
        rows += [f"| {name} | {native['moves'][name]} | {bridge['moves'][name]} |"
                 for name in sim.MOVES]
        rows.append(f"| wall time (s) | {native['wall_s']:.1f} | {bridge['wall_s']:.1f} |")
        tables["chains"] = (f"{c['native']['cycles']} cycles at {c['pressure_bar']:g} bar, seed "
                            f"{SEED}, from the empty framework:\n\n| | native | bridge |\n"
                            "| --- | --- | --- |\n" + "\n".join(rows) +
                            f"\n\nIdentical chains (CO2 count after every cycle and all move "
                            f"counts): **{c['identical']}**; final energies differ by "
                            f"{c['energy_rel_diff']:.1e} (relative).")
    if report.get("isotherm"):
        rows = []
        for r in report["isotherm"]:
            exp = EXPERIMENT.get(round(r["pressure_bar"], 6), "")
            rows.append(f"| {r['pressure_bar']:.4g} | {r['mmol_g']:.3f} ± {r['mmol_g_err']:.3f} "
                        f"| {r['per_cell']:.3f} ± {r['per_cell_err']:.3f} | {r['co2_mean']:.2f} "
                        f"| {exp} | {r['cycles']} | {r['wall_s']:.0f} |")
        gaps = [f"- at {float(p):g} bar: {g['simulated_mmol_g']:.3f} mmol/g simulated "
                f"(interpolated), {g['experiment_mmol_g']} mmol/g measured: "
                f"**{100 * g['ratio']:.1f} %** of experiment"
                for p, g in report.get("gap_to_experiment", {}).items()]
        tables["isotherm"] = ("| p (bar) | mmol/g | CO2 per unit cell | CO2 per supercell | "
                              "experiment (mmol/g) | cycles | wall (s) |\n"
                              "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
                              + "\n\n" + "\n".join(gaps))
    if "widom" in report:
        w = report["widom"]
        tables["widom"] = (f"| insertions | mu_ex (kJ/mol) | Henry coefficient (mmol/g/bar) | "
                           f"wall (s) |\n| --- | --- | --- | --- |\n| {w['insertions']} | "
                           f"{w['mu_ex_kJ_mol']:.2f} ± {w['mu_ex_err_kJ_mol']:.2f} | "
                           f"{w['henry_mmol_g_bar']:.2f} | {w['wall_s']:.0f} |\n\nThe same "
                           f"insertions in native LAMMPS (same seed) give the same mu_ex in "
                           f"every invocation (to 1e-8): **{w.get('native_identical')}**.")
        if report.get("isotherm"):
            low = report["isotherm"][0]
            tables["widom"] += (
                f"\n\nHenry's law from Widom at {low['pressure_bar']:g} bar: "
                f"{w['henry_mmol_g_bar'] * low['pressure_bar']:.4f} mmol/g; GCMC there: "
                f"{low['mmol_g']:.4f} ± {low['mmol_g_err']:.4f} mmol/g.")
    return tables


def model_tables(report: dict) -> dict[str, str]:
    """Section 4's tables of one --calc run's results.json: (a) binding, (b) Widom, (c) the
    isotherm and (d) the cost of a trial, each present in the run."""
    label = report["model"] + (" + D3" if report.get("dispersion") else "")
    tables = {}
    if b := report.get("binding"):
        tables["binding"] = (
            "| model | E_bind (kJ/mol) | of it D3 | model alone | Mg…O (Å) | Mg–O–C (°) | "
            "largest force left (eV/Å) | steps | minimisation | wall (s) |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
            f"| {label} | {b['E_bind_kJ_mol']:.1f} | {b['E_bind_d3_kJ_mol']:.1f} | "
            f"{b['E_bind_model_kJ_mol']:.1f} | {b['mg_o_A']:.2f} | {b['mg_o_c_deg']:.0f} | "
            f"{b['fmax_eV_A']:.3f} | {b['minimize_steps']} | {minimised(b)} | "
            f"{b['wall_s']:.0f} |")
    if w := report.get("widom"):
        a, o = w["all"], w["overlap_filtered"]
        kept = w.get("lowest_dU_kept_kJ_mol")
        tables["widom"] = (
            f"| model | insertions | closer than {report['overlap_A']:g} Å | μ_ex, all (kJ/mol) "
            "| K_H, all (mmol/g/bar) | μ_ex, overlap rule (kJ/mol) | K_H, overlap rule "
            "(mmol/g/bar) | largest insertion's share | lowest ΔU kept (kJ/mol) | wall (s) |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
            f"| {label} | {w['insertions']} | {w['closer_than_overlap']} | "
            f"{a['mu_ex_kJ_mol']:.1f} ± {a['mu_ex_err_kJ_mol']:.1f} | "
            f"{a['henry_mmol_g_bar']:.2g} | {o['mu_ex_kJ_mol']:.1f} ± "
            f"{o['mu_ex_err_kJ_mol']:.1f} | {o['henry_mmol_g_bar']:.2g} | "
            f"{100 * o['top_insertion_share']:.0f} % | "
            f"{'' if kept is None else f'{kept:.1f}'} | {w['wall_s']:.0f} |")
    if iso := report.get("isotherm"):
        rows = [f"| {r['pressure_bar']:.4g} | {r['mmol_g']:.2f} ± {r['mmol_g_err']:.2f} | "
                f"{r['per_cell']:.2f} ± {r['per_cell_err']:.2f} | {r['co2_mean']:.2f} | "
                f"{EXPERIMENT.get(round(r['pressure_bar'], 6), '')} | {r['cycles']} |"
                for r in iso]
        tables["isotherm"] = ("| p (bar) | mmol/g | CO2 per unit cell | CO2 per supercell | "
                              "experiment (mmol/g) | cycles |\n"
                              "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows))
    if cost := report.get("trial_cost"):
        rows = [f"| {label} | {c['trials']} | {c['overlap_A'] or 'off'} | "
                f"{c['full_evaluations']} + {c['energy_only_evaluations']} | "
                f"{c['wall_s_per_trial']:.3f} | {c['model_s_per_trial']:.3f} | "
                f"{c['co2_per_cycle']} |" for c in cost]
        tables["trial_cost"] = (
            "| model | trials | overlap rule | model evaluations (full + energy-only) | "
            "s/trial wall | s/trial in the model | CO2 after each cycle |\n"
            "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows))
    return tables


def compare_runs(first: Path, second: Path) -> tuple[bool, str]:
    """Whether two isotherm runs made the same chains (e.g. native and bridge), pressure by
    pressure, from their samples (`pNN.json` in each directory: an --out's state/), and the
    markdown table that shows it."""
    rows, same = [], True
    for path in sorted(first.glob("p[0-9][0-9].json")):
        a, b = (json.loads(d.joinpath(path.name).read_text()) for d in (first, second))
        counts = a["co2_per_cycle"] == b["co2_per_cycle"]
        moves = a["result"]["moves"] == b["result"]["moves"]
        same &= counts and moves
        ma, mb = a["result"]["moves"], b["result"]["moves"]
        rows.append(f"| {a['pressure_bar']:.4g} | {len(a['co2_per_cycle'])} | {counts} | {moves} "
                    f"| {a['co2_per_cycle'][-1]:.0f} / {b['co2_per_cycle'][-1]:.0f} | "
                    f"{ma['insertions accepted']:.0f} / {mb['insertions accepted']:.0f} | "
                    f"{ma['deletions accepted']:.0f} / {mb['deletions accepted']:.0f} |")
    if not rows:
        raise FileNotFoundError(f"no pNN.json samples in {first}")
    table = (f"| p (bar) | cycles | CO2 after every cycle identical | all move counts identical "
             f"| final CO2 ({first.name} / {second.name}) | insertions accepted | deletions "
             "accepted |\n| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows))
    return same, table


# -- main ------------------------------------------------------------------------------------

def _positive(kind: type):
    """argparse type: a number of `kind` > 0 (a fit of no samples, a chain of no cycles or a
    pressure of 0 would fail far from the option that caused it)."""
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in "invalid int value"
    return parse


def arguments(argv=None) -> argparse.Namespace:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, help="GCMC cycles per pressure (default 100; with "
                    f"--calc {MODEL_DEFAULTS['cycles']})")
    ap.add_argument("--equilibration", type=int, default=None,
                    help="cycles left out of the averages (default: 40%%)")
    ap.add_argument("--blocks", type=int, default=5, help="blocks for error bars and progress")
    ap.add_argument("--exchanges", type=int, help="insertion/deletion trials/cycle (15; with "
                    f"--calc {MODEL_DEFAULTS['exchanges']})")
    ap.add_argument("--moves", type=int, help="translation/rotation trials/cycle (5; with "
                    f"--calc {MODEL_DEFAULTS['moves']})")
    ap.add_argument("--pressures", type=float, nargs="+",
                    help="bar (default: 10 log-spaced, 0.01-1; with --calc 5)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--energy", choices=("native", "bridge"), default="bridge",
                    help="energy of the isotherm: the classical model either way, the LJ part "
                    "through the bridge (default) or all in native LAMMPS")
    ap.add_argument("--sequential", action="store_true",
                    help="the pressures one after the other in this process (default: all at "
                    "once as replicas, sharing one calculator)")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--server", help=argparse.SUPPRESS)
    ap.add_argument("--compare-cycles", type=int, default=10,
                    help="cycles of the chain-identity check (0: skip)")
    ap.add_argument("--compare-pressure", type=float, default=1.0)
    ap.add_argument("--widom-blocks", type=int,
                    help="fix widom invocations (0: skip; default 10, with --calc "
                    f"{MODEL_DEFAULTS['widom_blocks']})")
    ap.add_argument("--widom-insertions", type=int, help="insertions/invocation (default 100, "
                    f"with --calc {MODEL_DEFAULTS['widom_insertions']})")
    ap.add_argument("--no-isotherm", action="store_true")
    ap.add_argument("--resume", action="store_true",
                    help="skip finished pressures, continue the interrupted one from its restart"
                    " (a pressure that ran fewer than --cycles continues to --cycles)")
    ap.add_argument("--calc", help="registry model as the whole energy (e.g. chgnet, sevennet-0,"
                    " orb-v3-direct-omol): binding energy, Widom, trial cost and isotherm "
                    "(mlip.py)")
    ap.add_argument("--dispersion", choices=("d3", "none"), default="d3",
                    help=f"with --calc: LAMMPS' D3(BJ) overlaid ({mlip.D3}; default) or not")
    ap.add_argument("--d3-functional", choices=tuple(mlip.D3_FUNCTIONALS), default="pbe",
                    help="with --calc: the D3(BJ) parameters of the functional the model "
                    "learned (pbe: PBE(+U)-trained models, the default; r2scan: r2SCAN-trained "
                    "ones)")
    ap.add_argument("--overlap", type=float, default=mlip.OVERLAP, metavar="A",
                    help="with --calc: trials placing atoms closer are rejected without a model "
                    "call (%(default)g A; 0: off)")
    ap.add_argument("--trials", choices=("energy-only", "full"), default="energy-only",
                    help="with --calc: Monte Carlo trials ask for the energy alone (default)")
    ap.add_argument("--no-binding", action="store_true", help="with --calc: skip (a)")
    ap.add_argument("--cost-cycles", type=int, default=5,
                    help="with --calc: cycles of each trial-cost run (0: skip)")
    ap.add_argument("--screen-cycles", type=int, default=0,
                    help="with --calc: (e) plain vs delayed-acceptance chains with the classical"
                    " force field as the screen, this many cycles each (screen.py; 0: skip)")
    ap.add_argument("--screen-pressures", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--screen-kind", choices=screen.KINDS, default="classical",
                    help="the screen: the classical force field, it + D3, or pair terms fitted "
                    "to the model + D3 (screen_fit.py)")
    ap.add_argument("--screen-chains", choices=("both", "plain", "delayed"), default="both",
                    help="which chains (e): both, or one of them (to run them side by side)")
    ap.add_argument("--screen-start", type=Path, default=None, metavar="RESTART",
                    help="(e) start every chain from this state instead of the empty framework:"
                    " the screen_state_*.restart file an earlier chain left in its OUT")
    ap.add_argument("--state-binding", type=Path, default=None, metavar="RESTART",
                    help="with --calc: (f) each CO2's deletion energy in this state (e.g. a "
                    "chain's screen_state_*.restart) and the deletion acceptance it implies")
    ap.add_argument("--screen-fit-start", type=Path, default=None, metavar="RESTART",
                    help="the fitted screen's own chain starts from this state (as "
                    "--screen-start) instead of the empty framework")
    ap.add_argument("--screen-d3-cutoffs", type=_positive(float), nargs=2, default=None,
                    metavar=("CUTOFF", "CN_CUTOFF"),
                    help="(e) the screen's own D3 with these cutoffs (A; the model's: 16 10) "
                    "instead of the model's: cheaper stage 1, the same sampled energy")
    ap.add_argument("--screen-sample-every", type=_positive(int), default=1, metavar="K",
                    help="(e) run K cycles per LAMMPS step and record CO2 and energy after "
                    "each step: the same chain, with the force computation LAMMPS makes after "
                    "every step (nothing integrates here) paid once per K cycles")
    ap.add_argument("--maxangle", type=_positive(float), default=None,
                    help="largest CO2 rotation of a trial, degrees (fix gcmc's default: 10)")
    ap.add_argument("--screen-fit-pressure", type=_positive(float), default=1.0,
                    help="bar: the pressure of the model's chain the fit samples")
    ap.add_argument("--screen-fit-samples", type=_positive(int), default=1000,
                    help="single-CO2 insertions the fitted screen is fitted to")
    ap.add_argument("--screen-fit-cycles", type=_positive(int), default=60,
                    help="cycles of the model's own chain whose trials the fitted screen is "
                    "fitted to as well")
    ap.add_argument("--screen-fit-seed", type=int, default=SEED,
                    help="seed of the fit's samples and chain (%(default)s), its own so that "
                    "chains of another --seed use the same fit instead of a new one")
    ap.add_argument("--screen-fit", type=Path, default=None,
                    help="folder of the fitted screen (default OUT/screen_fit): a fit of the "
                    "same inputs found there is used, not repeated (chains run side by side)")
    ap.add_argument("--calc-opt", type=option, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--device", help="for --calc models, e.g. cuda (default: the model's)")
    ap.add_argument("--out", type=Path, default=Path(DEFAULT_OUT),
                    help=f"output folder (default: {DEFAULT_OUT}/ in the current folder, so "
                    "that a clone stays clean)")
    ap.add_argument("--compare-runs", type=Path, nargs=2, metavar="STATE_DIR",
                    help="whether two runs (their OUT/state directories, e.g. --energy native and"
                    " bridge) made the same chains at every pressure: a table, and exit")
    ap.add_argument("--readme-tables", type=Path, metavar="RESULTS_JSON",
                    help="print the README's markdown tables made from a results.json, and exit")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    defaults = MODEL_DEFAULTS if args.calc else CLASSICAL_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.calc:
        args.energy = "model"  # a registry model is the whole energy
    if args.equilibration is None:
        args.equilibration = (2 * args.cycles) // 5
    if args.cycles - args.equilibration < args.blocks:
        ap.error("need at least --blocks production cycles after --equilibration")
    if args.state_binding and not args.calc:
        ap.error("--state-binding needs a model (--calc): it is a step of the model study")
    if args.screen_d3_cutoffs and (args.screen_kind == "classical" or args.dispersion != "d3"):
        ap.error("--screen-d3-cutoffs: the screen has no D3 to make cheaper (it needs "
                 "--dispersion d3 and --screen-kind classical+d3 or fitted)")
    if args.screen_cycles % args.screen_sample_every:
        ap.error(f"--screen-cycles {args.screen_cycles} is not a multiple of "
                 f"--screen-sample-every {args.screen_sample_every}")
    for name in ("screen_start", "screen_fit_start", "state_binding"):
        path = getattr(args, name)
        if path and not path.is_file():
            ap.error(f"--{name.replace('_', '-')} {path}: no such file (a chain of (e) leaves "
                     "OUT/screen_state_<p>bar_<plain|delayed>.restart)")
        if path and not _is_restart(path):
            ap.error(f"--{name.replace('_', '-')} {path}: not a LAMMPS restart file (give "
                     "the OUT/screen_state_<p>bar_<plain|delayed>.restart a chain of (e) left)")
    return args


def _is_restart(path: Path) -> bool:
    """Whether `path` starts as a LAMMPS restart file does: checked before the run, so that a
    wrong file is one line naming the option, not LAMMPS' error an hour into the job."""
    with path.open("rb") as f:
        return f.read(len(RESTART_MAGIC)) == RESTART_MAGIC


def main(argv=None) -> dict:
    args = arguments(argv)
    if args.worker is not None:
        worker(args)
        return {}
    if args.compare_runs:
        same, table = compare_runs(*args.compare_runs)
        print(f"{table}\n\nthe same chains at every pressure: {same}")
        return {"same_chains": same}
    if args.readme_tables:
        try:
            report = json.loads(args.readme_tables.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise SystemExit(f"ERROR: --readme-tables needs a results.json of this script: "
                             f"{error}") from None
        for name, table in markdown_tables(report).items():
            print(f"<!-- {name} -->\n{table}\n")
        return {}
    start = time.perf_counter()
    print(f"on {describe()}")
    args.out.mkdir(parents=True, exist_ok=True)
    system = System(model=bool(args.calc))
    unit = system.unit
    print(f"{mof74.ENTRY} ({mof74.DATASET}): {len(unit)} atoms {unit.get_chemical_formula()}, "
          f"a b c = {' '.join(f'{x:.3f}' for x in unit.cell.lengths())} A, angles "
          f"{' '.join(f'{x:.2f}' for x in unit.cell.angles())}; widths "
          f"{' '.join(f'{w:.2f}' for w in mof74.widths(unit.cell.array))} A; framework charges "
          f"in the file: {system.charged}")
    rule = (f">= {mlip.MODEL_CUTOFF} A model cutoff + {mlip.CO2_LENGTH:.2f} A CO2; a CO2's "
            f"nearest image {mlip.shortest_image_distance(system.framework.cell.array):.2f} A"
            if args.calc else f">= 2 x {mof74.CUTOFF} A")
    print(f"supercell {'x'.join(map(str, system.repeats))} = {len(system.framework)} atoms "
          f"(widths {' '.join(f'{w:.2f}' for w in mof74.widths(system.framework.cell.array))} A"
          f" {rule}); channels along lattice vector "
          f"{'abc'[mof74.channel_axis(unit.cell.array)]}")
    report: dict = {"entry": mof74.ENTRY, "dataset": mof74.DATASET, "unit_atoms": len(unit),
                    "cellpar": unit.cell.cellpar().tolist(), "repeats": system.repeats,
                    "framework_charges_in_file": system.charged, "args": {
                        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    if args.calc:
        report |= model_study(system, args)
        results = report.get("isotherm", [])
        label = f"{args.calc}" + (" + D3(BJ)" if args.dispersion == "d3" else "")
    else:
        if args.compare_cycles:
            report["chains"] = compare_chains(system, args)
        t = time.perf_counter()
        results = [] if args.no_isotherm else isotherm(system, args, args.energy)
        report["isotherm"], report["isotherm_wall_s"] = results, time.perf_counter() - t
        if results:
            report["gap_to_experiment"] = gap_to_experiment(results)
        label = f"UFF + TraPPE ({args.energy})"
        if args.widom_blocks:
            w = widom(system, args)
            records = w.pop("_records")
            report["widom"] = w
            np.save(args.out / "widom_insertions.npy", records)  # x y z of C (A), LJ energy (eV)
            plot_widom_map(system, records, args.out / "widom_map.png")
            print(f"wrote {args.out / 'widom_map.png'}")
    if results:
        with open(args.out / "isotherm.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["pressure_bar", "co2_per_supercell", "err", "mmol_g", "mmol_g_err",
                             "co2_per_unit_cell", "per_cell_err", "cycles", "wall_s"])
            for r in results:
                writer.writerow([r["pressure_bar"], r["co2_mean"], r["co2_err"], r["mmol_g"],
                                 r["mmol_g_err"], r["per_cell"], r["per_cell_err"],
                                 r["cycles"], r["wall_s"]])
        plot_isotherm(system, results, args.out / "isotherm.png", label,
                      classical=CLASSICAL_RUN if args.calc else None)
        print(f"wrote {args.out / 'isotherm.csv'} and {args.out / 'isotherm.png'}")
    report["wall_s"] = time.perf_counter() - start
    report["machine"] = describe()
    (args.out / "results.json").write_text(json.dumps(report, indent=1))
    print(f"total wall time {report['wall_s']:.0f} s on {report['machine']}; wrote "
          f"{args.out / 'results.json'}")
    return report


if __name__ == "__main__":  # errors as one line (LAMMPS_ASE_DEBUG=1: traceback)
    sys.exit(run_script(main, screen_has_it=False))

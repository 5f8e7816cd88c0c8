"""Which offline MLIP gets CO2 in Mg-MOF-74 right?  Every shipped checkpoint, one command.

    .venv/bin/python examples/mof74_co2/compare.py                # short: 2 CHGNets, cap 14 min
    .venv/bin/python examples/mof74_co2/compare.py --models all --time-cap 90   # every model
    .venv/bin/python examples/mof74_co2/compare.py --models all --time-cap 90   # again: goes on

For each model, with the D3(BJ) of the functional it learned (mlip.d3: PBE parameters for the
PBE(+U)-trained checkpoints, r2SCAN ones for the r2SCAN-fidelity ones) and the example's physics
(intra_energy, overlap rule, smallest allowed supercell, energy-only trials):
(a) the binding energy at the open Mg site, minimised to a largest force <= 0.05 eV/A
    (mlip.binding_energy; the force reached is reported, a step cap that ends it is said);
(b) Widom at 298 K (mlip.widom): mu_ex, K_H and the convergence diagnostic (running estimate,
    the largest insertion's share, effective number of insertions); its model time per
    insertion is the cost of an energy-only trial;
(c) for the two models whose (a) is nearest experiment, a GCMC isotherm at 0.01, 0.1 and 1 bar
    (run.isotherm: replicas sharing one `lammps-ase serve`), extended round by round until it
    is converged (`converged`) or the time cap ends it.
Every finished stage is kept in --out (one folder per model): running the command again with
the same options skips finished stages and continues an isotherm from its restart files, so a
job stopped by its cap (or killed) goes on where it was.  Output: compare.json (everything),
compare.csv and compare.md (the table, next to experiment), isotherms.png.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import mlip  # noqa: E402
import run  # noqa: E402
import simulation as sim  # noqa: E402

from lammps_mliap_ase.cli.machine import describe  # noqa: E402
from lammps_mliap_ase.cli.oneline import OneLineParser, run_script  # noqa: E402


@dataclass(frozen=True)
class Candidate:
    """One row of the comparison: a registry model with its options and the functional whose
    D3(BJ) parameters it gets."""

    key: str  # folder name in --out
    calc: str  # registry name
    options: tuple[tuple[str, str], ...]
    label: str
    fidelity: str  # the DFT data the model learned
    functional: str  # mlip.D3_FUNCTIONALS key


PBE, R2SCAN = "PBE(+U), MPtrj", "r2SCAN, MP-r2SCAN"
#: every checkpoint that ships in the chgnet and sevenn wheels (lammps_mliap_ase/models/)
SHIPPED = (
    Candidate("chgnet", "chgnet", (), "CHGNet 0.3.0", PBE, "pbe"),
    Candidate("chgnet-0.2.0", "chgnet-0.2.0", (), "CHGNet 0.2.0", PBE, "pbe"),
    Candidate("chgnet-r2scan", "chgnet-r2scan", (), "CHGNet r2SCAN", R2SCAN + " (transfer)",
              "r2scan"),
    Candidate("sevennet-0", "sevennet-0", (), "SevenNet-0 (11Jul2024)", PBE, "pbe"),
    Candidate("sevennet-0-22may2024", "sevennet-0-22may2024", (), "SevenNet-0 (22May2024)",
              PBE, "pbe"),
    Candidate("sevennet-l3i5", "sevennet-l3i5", (), "SevenNet-l3i5", PBE, "pbe"),
    Candidate("sevennet-mf-0-pbe", "sevennet-mf-0", (("modal", "PBE"),),
              "SevenNet-MF-0 (PBE fidelity)", PBE, "pbe"),
    Candidate("sevennet-mf-0-r2scan", "sevennet-mf-0", (("modal", "R2SCAN"),),
              "SevenNet-MF-0 (R2SCAN fidelity)", R2SCAN, "r2scan"),
)
SHORT = ("chgnet", "chgnet-0.2.0")  # the default: the two cheapest to minimise (measured_compare)
PRESSURES = (0.01, 0.1, 1.0)  # bar
#: experiment, 298 K: the example's reference values (README "Experiment")
QST_KJ_MOL = (-47.0, -42.0)  # isosteric heat at low coverage, as a binding energy's sign
UPTAKE_MMOL_G = run.EXPERIMENT  # {0.1: 5.1, 1.0: 7.9}
#: the isotherm's convergence: block standard error <= this share of the mean, and the two
#: halves of the production run within HALVES standard errors of their difference
REL_ERROR, HALVES, BLOCKS = 0.05, 2.0, 5


def candidate(spec: str) -> Candidate:
    """A shipped key (SHIPPED), or any registry model as NAME[:KEY=VALUE,...] (PBE's D3): the
    latter is how a test runs this command with a cheap stand-in."""
    for c in SHIPPED:
        if spec == c.key:
            return c
    name, _, opts = spec.partition(":")
    options = tuple(tuple(o.split("=", 1)) for o in opts.split(",") if o)
    if any(len(o) != 2 for o in options):
        raise SystemExit(f"ERROR: --models {spec}: options are KEY=VALUE separated by commas")
    key = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in spec)
    return Candidate(key, name, options, spec, "(not a shipped checkpoint)", "pbe")


def note(text: str) -> None:
    """A progress line: the time of day, so a log shows where the time went."""
    print(f"[compare {time.strftime('%H:%M:%S')}] {text}", flush=True)


def model_argv(c: Candidate, args, out: Path) -> list[str]:
    """run.py's arguments for this model: its options, its D3, the command's sizes."""
    argv = ["--calc", c.calc, "--d3-functional", c.functional, "--seed", str(args.seed),
            "--out", str(out), "--overlap", repr(mlip.OVERLAP)]
    for key, value in c.options:
        argv += ["--calc-opt", f"{key}={value}"]
    return argv + (["--device", args.device] if args.device else [])


def stage(path: Path, params: dict, compute, run_it: bool = True) -> dict | None:
    """A finished stage read back (when it was made with the same `params`), else computed
    and kept (None when not `run_it`): what makes the command restartable stage by stage."""
    params = json.loads(json.dumps(params))  # as it reads back (tuples are lists)
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("params") == params:
            return saved["result"] | {"reused": True}
    if not run_it:
        return None
    result = compute()
    path.write_text(json.dumps({"params": params, "result": result}, indent=1))
    return result


class Model:
    """One candidate's stages (a) and (b), each kept in --out/KEY/; the model is loaded when a
    stage has to be computed, and let go after it (the next model needs the memory)."""

    def __init__(self, system: run.System, c: Candidate, args, number: str) -> None:
        self.system, self.c, self.args, self.number = system, c, args, number
        self.folder = args.out / c.key
        self.folder.mkdir(parents=True, exist_ok=True)
        self.margs = run.arguments(model_argv(c, args, self.folder))
        self.d3 = run.dispersion(self.margs)
        self.params = {"calc": c.calc, "options": c.options, "dispersion": self.d3}
        self.interface = None
        self.row: dict = {"candidate": asdict(c), "dispersion": self.d3, "binding": None,
                          "widom": None}

    def model(self):
        if self.interface is None:
            t = time.perf_counter()
            self.interface = run.interface_for("model", self.margs)
            note(f"{self.number} {self.c.label}: model loaded in {time.perf_counter() - t:.0f} s")
        return self.interface

    def release(self) -> None:
        self.interface = None
        gc.collect()

    def intra(self) -> float:
        return stage(self.folder / "intra.json", self.params,
                     lambda: {"eV": sim.intra_energy(self.model(), self.d3)})["eV"]

    def binding(self, run_it: bool) -> None:
        """(a): E_bind at the open Mg site, minimised to mlip.FMAX."""
        label = f"{self.number} {self.c.label} (a)"
        if run_it:
            note(f"{label} binding at the open Mg site: minimising to <= {mlip.FMAX} eV/A")
        b = self.row["binding"] = stage(
            self.folder / "binding.json", self.params | {"fmax": mlip.FMAX},
            lambda: mlip.binding_energy(self.system.framework, self.model(), self.d3), run_it)
        self.release()
        if b is not None:
            note(f"{label} E_bind {b['E_bind_kJ_mol']:.1f} kJ/mol (D3 "
                 f"{b['E_bind_d3_kJ_mol']:.1f}), largest force {b['fmax_eV_A']:.3f} eV/A after "
                 f"{b['minimize_steps']} steps, {run.minimised(b)}; {b['wall_s']:.0f} s"
                 + (" (kept from before)" if b.get("reused") else ""))

    def widom(self, run_it: bool) -> None:
        """(b): Widom at 298 K with its convergence diagnostic."""
        label, n = f"{self.number} {self.c.label} (b)", self.args.insertions
        if run_it:
            note(f"{label} Widom, {n} insertions at 298 K")
        w = self.row["widom"] = stage(
            self.folder / "widom.json", self.params | {"insertions": n, "seed": self.args.seed},
            lambda: mlip.widom(self.system, self.model(), self.d3, self.intra(),
                               self.args.seed, n), run_it)
        self.release()
        if w is not None:
            o = w["overlap_filtered"]
            note(f"{label} mu_ex {o['mu_ex_kJ_mol']:.1f} ± {o['mu_ex_err_kJ_mol']:.1f} kJ/mol, "
                 f"K_H {o['henry_mmol_g_bar']:.3g} mmol/g/bar, largest insertion "
                 f"{100 * o['top_insertion_share']:.0f} % of the average, running estimate "
                 f"{fmt_running(o)}; {1000 * w['model_s_per_insertion']:.0f} ms per "
                 f"energy-only trial; {w['wall_s']:.0f} s"
                 + (" (kept from before)" if w.get("reused") else ""))


def fmt_running(summary: dict) -> str:
    values = summary["running_mu_ex_kJ_mol"]
    return " ".join("-" if v is None else f"{v:.1f}" for v in values[1::3] + values[-1:])


def distance_to_experiment(binding: dict) -> float:
    """kJ/mol between E_bind and the measured range of isosteric heats (0 inside it)."""
    low, high = QST_KJ_MOL
    e = binding["E_bind_kJ_mol"]
    return max(low - e, e - high, 0.0)


# -- (c) the isotherm, until converged or the cap ------------------------------------------------

def convergence(counts: list[float], system: run.System) -> dict:
    """The convergence of one pressure's chain: the first third of the cycles is left out;
    converged when the block standard error of the rest is <= REL_ERROR of its mean and the
    means of its two halves differ by <= HALVES standard errors of that difference."""
    c = np.asarray(counts, dtype=float)
    production = c[len(c) // 3:]
    first, second = np.array_split(production, 2)
    mean, err = float(production.mean()), run.block_error(production, BLOCKS)
    e1, e2 = run.block_error(first, BLOCKS), run.block_error(second, BLOCKS)
    drift, allowed = float(second.mean() - first.mean()), HALVES * math.hypot(e1, e2)
    converged = bool(len(production) >= 2 * BLOCKS and mean > 0 and err <= REL_ERROR * mean
                     and abs(drift) <= allowed)
    mmol = system.mmol_per_g
    return {"cycles": len(c), "production_cycles": len(production), "co2_mean": mean,
            "co2_err": err, "mmol_g": float(mmol(mean)), "mmol_g_err": float(mmol(err)),
            "relative_error": err / mean if mean > 0 else None,
            "halves_mmol_g": [float(mmol(first.mean())), float(mmol(second.mean()))],
            "drift_mmol_g": float(mmol(drift)), "drift_allowed_mmol_g": float(mmol(allowed)),
            "converged": converged}


def isotherm(system: run.System, c: Candidate, args, deadline: float | None) -> dict:
    """The GCMC isotherm of one model at PRESSURES, round after round (each adds
    --step-cycles to every pressure, continuing from the restart files) until every pressure
    is converged, --max-cycles, or the next round would end after `deadline`."""
    folder = args.out / c.key / "isotherm"
    state = folder / "state"
    cycles = args.cycles
    done = [json.loads(f.read_text()).get("co2_per_cycle", [])
            for f in sorted(state.glob("p[0-9][0-9].json"))]
    if done and len(done) == len(PRESSURES):  # an earlier run's chains: go on from them
        cycles = max(cycles, min(len(d) for d in done))
    history = folder / "rounds.json"  # every round of every invocation: cycles, wall time
    earlier = json.loads(history.read_text()) if history.exists() else []
    rounds, stop, rate = [], "max_cycles", None  # rate: seconds per cycle of a round
    if deadline is None:  # stage (c) not asked for: what an earlier run left
        deadline, stop = 0.0, "not run now"
    reached = min(map(len, done)) if len(done) == len(PRESSURES) else 0
    while True:
        ahead = cycles - reached
        if time.time() > deadline or (rate is not None
                                      and time.time() + rate * ahead > deadline):
            stop = "time cap" if deadline else stop
            break
        t = time.time()
        note(f"{c.label} (c) isotherm round {len(rounds) + 1}: {len(PRESSURES)} pressures to "
             f"{cycles} cycles")
        margs = run.arguments(model_argv(c, args, folder) + [
            "--pressures", *map(str, PRESSURES), "--cycles", str(cycles), "--equilibration",
            str(cycles // 3), "--blocks", str(BLOCKS), "--exchanges", str(args.exchanges),
            "--moves", str(args.moves), "--resume", "--no-binding"])
        run.isotherm(system, margs, "model")
        samples = [json.loads((state / f"p{k:02d}.json").read_text())["co2_per_cycle"]
                   for k in range(len(PRESSURES))]
        points = [convergence(s, system) | {"pressure_bar": p}
                  for s, p in zip(samples, PRESSURES, strict=True)]
        took = time.time() - t
        rate = took / max(1, ahead) if ahead > 0 else rate
        reached = cycles
        rounds.append({"cycles": cycles, "wall_s": took, "ended": time.strftime("%H:%M:%S")})
        history.write_text(json.dumps(earlier + rounds, indent=1))
        note(f"{c.label} (c) after {cycles} cycles: " + "; ".join(
            f"{q['pressure_bar']:g} bar {q['mmol_g']:.2f} ± {q['mmol_g_err']:.2f} mmol/g "
            f"(drift {q['drift_mmol_g']:+.2f}, {'converged' if q['converged'] else 'not yet'})"
            for q in points))
        if all(q["converged"] for q in points):
            stop = "converged"
            break
        if cycles >= args.max_cycles:
            break
        cycles = min(args.max_cycles, cycles + args.step_cycles)
    status = folder / "status.json"  # why the last invocation that ran rounds stopped
    if not rounds:  # the cap came before the first round: what earlier runs left, if any
        if not done or len(done) != len(PRESSURES) or not all(done):
            return {"points": [], "stop": stop, "rounds": earlier, "converged": False}
        points = [convergence(s, system) | {"pressure_bar": p}
                  for s, p in zip(done, PRESSURES, strict=True)]
        if status.exists():
            stop = json.loads(status.read_text())["stop"]
        elif earlier:  # rounds of a job that wrote no status: it converged or was stopped
            stop = "converged" if all(q["converged"] for q in points) else "time cap"
    else:
        status.write_text(json.dumps({"stop": stop}))
    return {"points": points, "stop": stop, "rounds": earlier + rounds,
            "cycles": min(q["cycles"] for q in points),
            "converged": all(q["converged"] for q in points)}


# -- the table, the figure, the files ------------------------------------------------------------

COLUMNS = ("model", "fidelity", "D3(BJ)", "E_bind (kJ/mol)", "of it D3", "force left (eV/Å)",
           "μ_ex (kJ/mol)", "K_H (mmol/g/bar)", "largest insertion", "uptake 0.1 bar (mmol/g)",
           "uptake 1 bar (mmol/g)", "isotherm converged", "ms/trial, energy-only")


def table_rows(report: dict) -> list[list[str]]:
    """One row per model and the experiment's, as strings (compare.md, compare.csv)."""
    rows = []
    for m in report["models"]:
        c, b, w = m["candidate"], m["binding"], m["widom"]
        iso = report["isotherms"].get(c["key"])
        uptake, conv = ["not done", "not done"], "not done"
        if iso and iso["points"]:
            at = {q["pressure_bar"]: q for q in iso["points"]}
            uptake = [f"{at[p]['mmol_g']:.2f} ± {at[p]['mmol_g_err']:.2f}" for p in (0.1, 1.0)]
            conv = (f"{'yes' if iso['converged'] else 'no'} ({iso['cycles']} cycles"
                    + ("" if iso["converged"] else f", {iso['stop']}") + ")")
        binding = ["not done"] * 3
        if b is not None:
            binding = [f"{b['E_bind_kJ_mol']:.1f}", f"{b['E_bind_d3_kJ_mol']:.1f}",
                       f"{b['fmax_eV_A']:.3f}" + ("" if b["converged"] else " (NOT converged)")]
        widom = ["not done"] * 3 + [""]
        if w is not None:
            o = w["overlap_filtered"]
            widom = [f"{o['mu_ex_kJ_mol']:.1f} ± {o['mu_ex_err_kJ_mol']:.1f}",
                     f"{o['henry_mmol_g_bar']:.2g}", f"{100 * o['top_insertion_share']:.0f} %",
                     f"{1000 * w['model_s_per_insertion']:.0f}"]
        rows.append([c["label"], c["fidelity"], c["functional"], *binding, *widom[:3],
                     *uptake, conv, widom[3]])
    low, high = QST_KJ_MOL
    rows.append(["experiment (298 K)", "", "", f"{low:g} … {high:g} (−Q_st)", "", "", "", "",
                 "", f"{UPTAKE_MMOL_G[0.1]:g}", f"{UPTAKE_MMOL_G[1.0]:g}", "", ""])
    return rows


def markdown(report: dict) -> str:
    """The comparison table (the README shows it: tests/test_mof74_compare.py checks)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(report)]
    return "\n".join(lines)


def convergence_table(report: dict) -> str:
    """Each isotherm point's convergence: mean and block error of the production cycles, the
    two halves, the drift between them against what 2 standard errors allow."""
    labels = {m["candidate"]["key"]: m["candidate"]["label"] for m in report["models"]}
    lines = ["| model | p (bar) | cycles | mmol/g | block SE / mean | halves (mmol/g) | "
             "drift (allowed) | converged |", "|" + " --- |" * 8]
    for key, iso in report["isotherms"].items():
        for q in iso["points"]:
            rel = "" if q["relative_error"] is None else f"{100 * q['relative_error']:.0f} %"
            lines.append(
                f"| {labels[key]} | {q['pressure_bar']:g} | {q['cycles']} | {q['mmol_g']:.2f} ± "
                f"{q['mmol_g_err']:.2f} | {rel} | {q['halves_mmol_g'][0]:.2f} → "
                f"{q['halves_mmol_g'][1]:.2f} | {q['drift_mmol_g']:+.2f} (±"
                f"{q['drift_allowed_mmol_g']:.2f}) | {'yes' if q['converged'] else 'no'} |")
    return "\n".join(lines)


def plot(system: run.System, report: dict, path: Path) -> None:
    """Every isotherm of the run with its error bars, and experiment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.8, 4.2), dpi=120)
    labels = {m["candidate"]["key"]: m["candidate"]["label"] for m in report["models"]}
    for key, iso in report["isotherms"].items():
        if not iso["points"]:
            continue
        p = [q["pressure_bar"] for q in iso["points"]]
        ax.errorbar(p, [q["mmol_g"] for q in iso["points"]],
                    yerr=[q["mmol_g_err"] for q in iso["points"]], fmt="o-", capsize=3,
                    label=f"{labels[key]} + D3 ({iso['cycles']} cycles, "
                    f"{'converged' if iso['converged'] else 'not converged'})")
    ax.plot(list(UPTAKE_MMOL_G), list(UPTAKE_MMOL_G.values()), "s", color="k",
            label="experiment (pristine Mg-MOF-74)")
    ax.set_xscale("log")
    ax.set_xlabel("CO$_2$ pressure (bar)")
    ax.set_ylabel("uptake (mmol/g)")
    ax.set_title("CO$_2$ in Mg-MOF-74 (CoRE VOGTIV), 298 K, GCMC", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(system: run.System, report: dict, out: Path) -> None:
    (out / "compare.json").write_text(json.dumps(report, indent=1))
    with open(out / "compare.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(table_rows(report))
    (out / "compare.md").write_text(markdown(report) + "\n\n" + convergence_table(report)
                                    + "\n")
    plot(system, report, out / "isotherms.png")


# -- main ----------------------------------------------------------------------------------------

def arguments(argv=None) -> argparse.Namespace:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(SHORT), metavar="MODEL",
                    help=f"'all' ({', '.join(c.key for c in SHIPPED)}), some of them, or "
                    f"registry models as NAME[:KEY=VALUE,...] (default: {' '.join(SHORT)})")
    ap.add_argument("--insertions", type=int, default=150, help="Widom insertions per model")
    ap.add_argument("--isotherms", type=int, default=2,
                    help="isotherms for this many models, those whose (a) is nearest experiment")
    ap.add_argument("--cycles", type=int, default=12, help="cycles of the first isotherm round")
    ap.add_argument("--step-cycles", type=int, default=12, help="cycles each further round adds")
    ap.add_argument("--max-cycles", type=int, default=1000)
    ap.add_argument("--exchanges", type=int, default=run.MODEL_DEFAULTS["exchanges"])
    ap.add_argument("--moves", type=int, default=run.MODEL_DEFAULTS["moves"])
    ap.add_argument("--time-cap", type=float, default=14.0, metavar="MIN",
                    help="minutes for this invocation: no isotherm round starts that would end "
                    "after it (default 14; stages already started finish)")
    ap.add_argument("--seed", type=int, default=run.SEED)
    ap.add_argument("--device", help="for the models, e.g. cuda (default: the model's)")
    ap.add_argument("--out", type=Path, default=Path("mof74_co2_compare"),
                    help="output folder (default: mof74_co2_compare/ in the current folder); "
                    "finished stages found there are kept")
    ap.add_argument("--fresh", action="store_true", help="delete --out's stages first")
    ap.add_argument("--stages", default="abc",
                    help="the stages to compute, e.g. ab: (a) and (b) of every model, no "
                    "isotherm (default abc; none: only the table of what --out holds); "
                    "finished stages of the others are shown")
    args = ap.parse_args(argv)
    if args.stages == "none":
        args.stages = ""
    elif set(args.stages) - set("abc"):
        ap.error("--stages takes letters of abc, or none")
    specs = [c.key for c in SHIPPED] if args.models == ["all"] else args.models
    args.candidates = [candidate(s) for s in specs]
    if len({c.key for c in args.candidates}) != len(args.candidates):
        ap.error("--models names a model twice")
    if args.insertions < 10 or args.cycles < 2 * BLOCKS or args.step_cycles < 1:
        ap.error(f"--insertions >= 10, --cycles >= {2 * BLOCKS}, --step-cycles >= 1")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv=None) -> dict:
    args = arguments(argv)
    start = time.time()
    deadline = start + 60 * args.time_cap
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    machine = describe()
    note(f"{len(args.candidates)} models, {args.insertions} Widom insertions each, isotherms "
         f"for the {args.isotherms} nearest experiment; time cap {args.time_cap:g} min; on "
         f"{machine}")
    system = run.System(model=True)
    report: dict = {"experiment": {"qst_kJ_mol": QST_KJ_MOL, "uptake_mmol_g": UPTAKE_MMOL_G,
                                   "temperature_K": 298.0},
                    "convergence": {"relative_error": REL_ERROR, "halves_in_errors": HALVES,
                                    "blocks": BLOCKS, "equilibration": "first third"},
                    "repeats": system.repeats, "pressures_bar": PRESSURES,
                    "args": {k: v for k, v in vars(args).items()
                             if k not in ("candidates", "out")},
                    "models": [], "isotherms": {}}
    n = len(args.candidates)
    models = [Model(system, c, args, f"{k}/{n}") for k, c in enumerate(args.candidates, 1)]
    for m in models:  # (a) of every model first: it chooses the isotherms
        m.binding("a" in args.stages)
    for m in models:
        m.widom("b" in args.stages)
    report["models"] = [m.row for m in models]
    bound = [m.row for m in models if m.row["binding"] is not None]
    ranked = sorted(bound, key=lambda r: distance_to_experiment(r["binding"]))
    chosen = [r["candidate"]["key"] for r in ranked[:args.isotherms]]
    report["nearest_experiment"] = chosen
    note(f"nearest experiment by (a): {', '.join(chosen) or '(no (a) yet)'}")
    if "c" not in args.stages:
        chosen = [k for k in chosen if (args.out / k / "isotherm" / "state").exists()]
    for k, key in enumerate(chosen):
        c = next(c for c in args.candidates if c.key == key)
        # the models left share what is left of the cap
        share = time.time() + (deadline - time.time()) / (len(chosen) - k)
        iso = report["isotherms"][key] = isotherm(system, c, args, min(deadline, share)
                                                  if "c" in args.stages else None)
        note(f"{c.label} (c) isotherm: {iso.get('cycles', 0)} cycles, converged "
             f"{iso['converged']} ({iso['stop']})")
    report["wall_s"] = time.time() - start  # this invocation
    # every stage's own time, whichever invocation computed it (a restarted job's total)
    report["stage_wall_s"] = sum(m[s]["wall_s"] for m in report["models"]
                                 for s in ("binding", "widom") if m[s] is not None) + sum(
        r["wall_s"] for iso in report["isotherms"].values() for r in iso["rounds"])
    report["machine"] = machine
    report["complete"] = bool(chosen) and all(report["isotherms"][k]["converged"]
                                              for k in chosen)
    write(system, report, args.out)
    print("\n" + markdown(report) + "\n\n" + convergence_table(report))
    note(f"wall time {report['wall_s'] / 60:.1f} min on {machine}; wrote compare.json, "
         f"compare.csv, compare.md, isotherms.png to {args.out}")
    return report


if __name__ == "__main__":  # errors as one line (LAMMPS_ASE_DEBUG=1: traceback)
    sys.exit(run_script(main, screen_has_it=False))

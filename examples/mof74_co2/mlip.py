"""Mg-MOF-74 + CO2 with a pretrained machine-learned potential: the physics a real model needs.

A universal MLIP (CHGNet, SevenNet-0, ...) is the whole energy of framework and guests.  What
changes against the classical force field, each for a reason:
- **Dispersion**: CHGNet and SevenNet-0 learned PBE(+U) energies (Materials Project), which have
  no dispersion; CO2 in a MOF is held largely by it.  LAMMPS' `pair_style dispersion/d3` is
  overlaid with Becke-Johnson damping and the PBE parameters (`bj pbe`): the damping that
  belongs to the functional the models imitate (D3(BJ) for PBE: s6 1, a1 0.4289, s8 0.7875,
  a2 4.4407; Grimme, Ehrlich & Goerigk, J. Comput. Chem. 32, 1456 (2011)).  Cutoffs 16 A for
  the energy and 10 A for coordination numbers (`D3`; the tail beyond 16 A is measured in
  `d3_tail`).
- **The molecule's own energy**: a model's energy of an isolated CO2 is tens of eV (elemental
  references); fix gcmc and fix widom get it as `intra_energy` (simulation.intra_energy: the
  same pair settings, one CO2 in a 30 A box), or every insertion would gain it.
- **Overlap rejection**: trials that put any two atoms closer than `OVERLAP` are rejected
  without a model call.  MLIPs are trained on near-equilibrium structures and can be wrong --
  even attractive -- for atoms pushed into each other (the study behind this project saw CO2
  inside the framework walls).  1.6 A is below every contact of a physisorbed or
  open-metal-bound CO2 (the shortest, Mg...O, is ~2.3 A: `binding_energy` reports the model's)
  and above the C=O bond (1.16 A), which the rigid molecule keeps anyway.
- **The smallest supercell the model allows**: the model's own neighbour list handles periodic
  images, so the classical minimum-image rule (every width >= 2 x 12.8 A: 4x2x2, 864 atoms)
  does not apply.  What remains: a CO2 must not interact directly with its own images, i.e.
  every width >= the model cutoff (6 A, CHGNet's atom graph; SevenNet-0: 5 A) + the molecule's
  length (2.32 A): `repeats_for_model` gives 2x1x1 = 108 atoms, widths 12.9/13.0/13.0 A.
"""

from __future__ import annotations

import math
import time

import mof74
import numpy as np
import simulation as sim
from ase import Atoms
from ase.geometry import get_distances
from ase.neighborlist import neighbor_list
from ase.units import kB, kJ, mol

#: D3(BJ) parameters (s6, a1, s8, a2) of the functionals the shipped models learned, as LAMMPS'
#: dispersion/d3 has them: PBE (Grimme, Ehrlich & Goerigk, J. Comput. Chem. 32, 1456 (2011))
#: and r2SCAN (Ehlert, Huniar, Ding, Neese & Grimme, J. Chem. Phys. 154, 061101 (2021))
D3_FUNCTIONALS = {"pbe": (1.0, 0.4289, 0.7875, 4.4407), "r2scan": (1.0, 0.4948, 0.7898, 5.7308)}


def d3(functional: str = "pbe", cutoff: float = 16.0, cn_cutoff: float = 10.0) -> str:
    """`pair_style dispersion/d3` arguments: Becke-Johnson damping with the parameters of
    `functional`, cutoffs 16 A (energy) and 10 A (coordination numbers) unless given (shorter
    ones only for a delayed-acceptance screen: screen.py)."""
    if functional not in D3_FUNCTIONALS:
        raise ValueError(f"D3 functional must be one of {', '.join(D3_FUNCTIONALS)}, "
                         f"not {functional!r}")
    return f"bj {functional} {cutoff!r} {cn_cutoff!r}"


D3 = d3("pbe")  # damping, functional, cutoff, coordination-number cutoff (A)
OVERLAP = 1.6  # A
MODEL_CUTOFF = 6.0  # A: CHGNet's atom-graph cutoff (SevenNet-0: 5 A)
CO2_LENGTH = 2 * mof74.CO2_BOND
FMAX = 0.05  # eV/A: (a) is minimised until the largest force on the CO2 is at most this
MAX_STEPS = 3000  # a safety cap on (a)'s minimisation, never its criterion (reported if hit)


def repeats_for_model(cell: np.ndarray, cutoff: float = MODEL_CUTOFF) -> tuple[int, int, int]:
    """The fewest repeats that keep a CO2 beyond the model's cutoff from its own images."""
    return tuple(int(math.ceil((cutoff + CO2_LENGTH) / w)) for w in mof74.widths(cell))


def shortest_image_distance(cell: np.ndarray) -> float:
    """Distance (A) from a point to its nearest periodic image (lattice vectors -1..1)."""
    steps = np.array(np.meshgrid(*[[-1, 0, 1]] * 3)).reshape(3, -1).T
    lengths = np.linalg.norm(steps @ cell, axis=1)
    return float(lengths[lengths > 0].min())


# -- (a) binding at the open Mg site ---------------------------------------------------------

def open_site(framework: Atoms) -> tuple[int, np.ndarray]:
    """An Mg atom and the unit vector of its open coordination site: opposite the sum of its
    bonds to the five framework O atoms (square-pyramidal Mg)."""
    i, j, d = neighbor_list("ijD", framework, 2.5)
    mg = int(np.flatnonzero(framework.numbers == 12)[0])
    bonds = d[(i == mg) & (framework.numbers[j] == 8)]
    direction = -(bonds / np.linalg.norm(bonds, axis=1)[:, None]).sum(axis=0)
    return mg, direction / np.linalg.norm(direction)


def minimise(lmp, fmax_target: float = FMAX, max_steps: int = MAX_STEPS) -> list[dict]:
    """Minimise to a force criterion: the largest force on any atom <= `fmax_target` (eV/A;
    `min_modify norm max`: the largest per-atom force, not LAMMPS' default 2-norm of all
    forces), never to an iteration count.  Conjugate gradients first; if its line search
    gives up above the criterion (float32 models' energies are noisy at the last meV), FIRE
    continues from there (it moves on forces alone).  `max_steps` in all is a safety cap,
    generous: the caller reports the force reached and whether the cap ended it."""
    stages: list[dict] = []
    lmp.command("min_modify norm max")
    for style in ("cg", "fire"):
        before = int(lmp.get_thermo("step"))
        left = max_steps - sum(s["steps"] for s in stages)
        if left <= 0:
            break
        lmp.commands_string(f"min_style {style}\nminimize 0.0 {fmax_target!r} {left} "
                            f"{10 * left}")
        stages.append({"style": style, "steps": int(lmp.get_thermo("step")) - before,
                       "fmax_eV_A": _fmax(lmp)})
        if stages[-1]["fmax_eV_A"] <= fmax_target:
            break
    return stages


def _fmax(lmp) -> float:
    """The largest per-atom force (eV/A) LAMMPS' minimiser saw last (fixes applied)."""
    f = np.ctypeslib.as_array(lmp.extract_atom("f")[0], shape=(lmp.extract_global("nlocal"), 3))
    return float(np.linalg.norm(f, axis=1).max())


def binding_energy(framework: Atoms, interface, dispersion: str | None,
                   start_distance: float = 2.4, fmax_target: float = FMAX,
                   max_steps: int = MAX_STEPS) -> dict:
    """CO2 end-on at an open Mg site, minimised by LAMMPS with the framework fixed to a
    largest force <= `fmax_target` (`minimise`): E_bind = E(MOF + CO2) - E(MOF) - E(CO2
    alone), the CO2 relaxed in both (flexible here), and its D3 share (LAMMPS' `compute pair
    dispersion/d3`).  Reports the force reached (fresh forces of the final geometry) and
    whether the criterion was met or the step cap ended the minimisation."""
    t0 = time.perf_counter()
    mg, direction = open_site(framework)
    o1 = framework.positions[mg] + start_distance * direction
    co2 = np.array([o1 + mof74.CO2_BOND * direction, o1, o1 + 2 * mof74.CO2_BOND * direction])
    lmp = _with_parts(sim.make_lammps(framework, "model", interface, dispersion=dispersion),
                      dispersion)
    mof = _parts(lmp, dispersion)
    n = len(framework)
    place(lmp, co2)
    lmp.command("fix hold framework setforce 0.0 0.0 0.0")
    stages = minimise(lmp, fmax_target, max_steps)
    steps = sum(s["steps"] for s in stages)
    complex_ = _parts(lmp, dispersion)  # fresh energy and forces of the final geometry
    order = np.argsort(np.ctypeslib.as_array(lmp.extract_atom("id"), shape=(n + 3,)))
    x = np.ctypeslib.as_array(lmp.extract_atom("x")[0], shape=(n + 3, 3))[order]
    f = np.ctypeslib.as_array(lmp.extract_atom("f")[0], shape=(n + 3, 3))[order]
    fmax = float(np.linalg.norm(f[n:], axis=1).max())  # local order is not ID order
    lmp.close()
    co2_alone = relaxed_co2(interface, dispersion)
    bound = Atoms(numbers=np.r_[framework.numbers, 6, 8, 8], positions=x,
                  cell=framework.cell, pbc=True)
    # the closest Mg...O(CO2) contact: the molecule may settle at another open site
    mgs = np.flatnonzero(framework.numbers == 12)
    _, d = get_distances(x[n + 1:], x[mgs], cell=framework.cell, pbc=True)
    k, m = np.unravel_index(np.argmin(d), d.shape)
    bind = (complex_ - mof - co2_alone) / (kJ / mol)
    return {"E_bind_kJ_mol": float(bind[0]), "E_bind_d3_kJ_mol": float(bind[1]),
            "E_bind_model_kJ_mol": float(bind[0] - bind[1]),
            "mg_o_A": float(d[k, m]),
            "mg_o_c_deg": float(bound.get_angle(int(mgs[m]), n + 1 + int(k), n, mic=True)),
            "start_mg": mg, "bound_mg": int(mgs[m]), "fmax_eV_A": fmax,
            "fmax_target_eV_A": fmax_target, "converged": fmax <= fmax_target,
            "minimize_steps": steps, "minimize_stages": stages, "step_cap": max_steps,
            "step_cap_hit": steps >= max_steps, "E_co2_relaxed_eV": float(co2_alone[0]),
            "co2_positions_A": x[n:].tolist(), "wall_s": time.perf_counter() - t0}


def _with_parts(lmp, dispersion: str | None):
    if dispersion:
        lmp.command("compute d3 all pair dispersion/d3")
    return lmp


def _parts(lmp, dispersion: str | None) -> np.ndarray:
    """(total, D3) potential energy (eV) of the current state, freshly evaluated."""
    total = sim.potential_energy(lmp)
    return np.array([total, lmp.extract_compute("d3", 0, 0) if dispersion else 0.0])


def place(lmp, co2: np.ndarray) -> None:
    """Add a CO2 (C, O, O positions in A) as three atoms of types 1, 2, 2 (LAMMPS commands:
    the library's create_atoms crashes once bonds and a molecule template exist)."""
    for k, (x, y, z) in enumerate(np.asarray(co2, dtype=float).tolist()):
        lmp.command(f"create_atoms {1 if k == 0 else 2} single {x!r} {y!r} {z!r} units box")


def relaxed_co2(interface, dispersion: str | None, box: float = 30.0) -> np.ndarray:
    """(total, D3) energy (eV) of one CO2 relaxed alone in a `box` A cube (the reference of a
    binding energy)."""
    lmp = _with_parts(sim.make_lammps(Atoms(cell=np.eye(3) * box, pbc=True), "model",
                                      interface, dispersion=dispersion), dispersion)
    half = box / 2
    place(lmp, half + np.array([[0, 0, 0], [0, 0, 1.16], [0, 0, -1.16]]))
    lmp.commands_string("min_style cg\nminimize 0.0 1.0e-4 200 2000")
    energy = _parts(lmp, dispersion)
    lmp.close()
    return energy


# -- (b) Widom insertions --------------------------------------------------------------------

class InsertionRecorder:
    """Wraps the interface's energy-only path (the one fix widom's insertions take) and keeps
    the shortest distance between the inserted CO2 and the framework of every system with a
    CO2: the overlap rule of the GCMC runs, applied to Widom's insertions afterwards."""

    def __init__(self, interface, n_framework: int) -> None:
        from lammps_mliap_ase.models.registry import energy_function

        self.energy = energy_function(interface.calculator)
        self.n = n_framework
        self.distances: list[float] = []
        interface._energy_function = self

    def __call__(self, atoms: Atoms) -> float:
        if len(atoms) == self.n + 3:
            _, d = get_distances(atoms.positions[self.n:], atoms.positions[:self.n],
                                 cell=atoms.cell, pbc=atoms.pbc)
            self.distances.append(float(d.min()))
        return self.energy(atoms)


def widom(system, interface, dispersion: str | None, intra: float, seed: int,
          insertions: int) -> dict:
    """mu_ex and the Henry coefficient of CO2 at infinite dilution, 298 K, by LAMMPS' fix widom
    with one insertion per invocation, so that each invocation's Boltzmann factor is that
    insertion's exp(-dU/kT) (dU: model + D3 - the molecule's own energy): every insertion
    counted, and
    with the overlap rule of the GCMC runs (insertions with an atom closer than OVERLAP to
    the framework rejected: weight 0)."""
    t0 = time.perf_counter()
    lmp = sim.make_lammps(system.framework, "model", interface, dispersion=dispersion)
    recorder = InsertionRecorder(interface, len(system.framework))
    t1, in_model = time.perf_counter(), interface.seconds
    weights = sim.widom(lmp, seed, insertions, 1, intra)  # exp(-dU/kT) of each insertion
    per_insertion = ((time.perf_counter() - t1) / insertions,
                     (interface.seconds - in_model) / insertions)
    lmp.close()
    distance = np.array(recorder.distances)
    if len(distance) != len(weights):
        raise RuntimeError(f"{len(weights)} insertions but {len(distance)} recorded systems")
    kt = kB * mof74.TEMPERATURE
    with np.errstate(divide="ignore"):
        du = -kt * np.log(weights)  # inf where the factor underflowed (atoms on atoms)
    kept = distance >= OVERLAP
    density = system.mass / 1000.0 / (system.framework.get_volume() * 1e-30 * 6.02214076e23)

    def summary(w: np.ndarray) -> dict:
        """mu_ex, its block error, K_H and the convergence diagnostic: the running estimate
        after each tenth of the insertions, the largest insertion's share of the average and
        how many insertions effectively carry it ((sum w)^2 / sum w^2).  An average of zero
        (every insertion rejected) or of inf (a factor overflowed) gives +-inf, not an error."""
        ends = np.linspace(0, len(w), 11)[1:].astype(int)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            blocks = np.array([b.mean() for b in np.array_split(w, 5)])
            mu = float(-kt * np.log(w.mean()))
            mu_blocks = -kt * np.log(np.maximum(blocks, 1e-300))
            henry = float(np.exp(-mu / kt) / (density * 8.314462618 * mof74.TEMPERATURE))
            running_mu = -kt * np.log(np.cumsum(w)[ends - 1] / ends) / (kJ / mol)
            total = w.sum()
            top = float(w.max() / total) if total > 0 else float("nan")
            effective = float(total ** 2 / (w ** 2).sum()) if total > 0 else 0.0
        return {"mu_ex_kJ_mol": mu / (kJ / mol),
                "mu_ex_err_kJ_mol": float(mu_blocks.std(ddof=1) / math.sqrt(5)) / (kJ / mol),
                "henry_mmol_g_bar": henry * 1e5,  # mol/kg/Pa -> mmol/g/bar
                "top_insertion_share": top, "effective_insertions": effective,
                "running_insertions": ends.tolist(),
                "running_mu_ex_kJ_mol": [float(x) if np.isfinite(x) else None
                                         for x in running_mu]}

    lowest = int(np.argmin(du))
    return {"insertions": len(du), "all": summary(weights),
            "overlap_filtered": summary(np.where(kept, weights, 0.0)),
            "closer_than_overlap": int((~kept).sum()),
            "lowest_dU_kJ_mol": float(du[lowest] / (kJ / mol)),
            "lowest_dU_distance_A": float(distance[lowest]),
            "lowest_dU_kept_kJ_mol": float(du[kept].min() / (kJ / mol)) if kept.any() else None,
            "dU_kJ_mol": [float(x) if np.isfinite(x) else None for x in du / (kJ / mol)],
            "distance_A": distance.tolist(),
            "wall_s_per_insertion": per_insertion[0], "model_s_per_insertion": per_insertion[1],
            "wall_s": time.perf_counter() - t0}


# -- (d) the cost of a trial -----------------------------------------------------------------

def trial_cost(system, args, make_interface, dispersion: str | None, intra: float,
               pressure: float = 1.0) -> list[dict]:
    """Wall time and model time per GCMC trial, from the empty framework at `pressure` bar,
    the same seed each way: full evaluations vs energy-only trials (LAMMPS' ENERGY_ONLY calls),
    each with overlap rejection, and energy-only without it.  Model time: inside the bridge's
    compute_forces (the model and the bridge; LAMMPS' D3 and fix gcmc are the rest).
    Evaluations: the model actually run (full: the calculator computes; energy-only: the
    family's energy path); LAMMPS' other calls are answered from what is known (the system
    unchanged since the last evaluation, e.g. at the start of a cycle)."""
    from lammps_mliap_ase.models.registry import energy_function

    ways = [("full", OVERLAP), ("energy-only", OVERLAP), ("energy-only", 0.0)]
    rows = []
    for trials, overlap in ways:
        interface = make_interface(energy_only_trials=trials == "energy-only")
        calc = interface.calculator
        calc.reset()  # nothing known from the previous way
        full, alone = [0], [0]
        calculate, energy = calc.calculate, energy_function(calc)

        def counted_calculate(*a, calculate=calculate, full=full, **k):
            full[0] += 1
            return calculate(*a, **k)

        def counted_energy(atoms, energy=energy, alone=alone):
            alone[0] += 1
            return energy(atoms)

        interface._energy_function = counted_energy
        calc.calculate = counted_calculate
        try:
            lmp = sim.make_lammps(system.framework, "model", interface, dispersion=dispersion)
            sim.add_gcmc(lmp, pressure, args.seed, args.exchanges, args.moves, intra, overlap)
            full[0], alone[0], before = 0, 0, interface.seconds
            t0 = time.perf_counter()
            counts = sim.cycles(lmp, args.cost_cycles, len(system.framework))
            wall = time.perf_counter() - t0
            spent = interface.seconds - before
            moves = sim.move_counts(lmp)
            lmp.close()
        finally:
            del calc.calculate  # the class's method again
        attempts = sum(v for k, v in moves.items() if "attempts" in k)
        row = {"trials": trials, "overlap_A": overlap, "cycles": args.cost_cycles,
               "attempts": attempts, "full_evaluations": full[0],
               "energy_only_evaluations": alone[0],
               "wall_s_per_trial": wall / attempts, "model_s_per_trial": spent / attempts,
               "co2_per_cycle": counts.astype(int).tolist(), "moves": moves}
        rows.append(row)
        print(f"  {trials:11s} overlap {overlap:3.1f} A: {attempts} trials, {full[0]} full + "
              f"{alone[0]} energy-only model evaluations, {row['wall_s_per_trial']:.3f} s/trial"
              f" wall, {row['model_s_per_trial']:.3f} s/trial in the model, CO2 after each "
              f"cycle {row['co2_per_cycle']}", flush=True)
    return rows

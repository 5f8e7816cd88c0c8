"""NVE with a real MLIP (SevenNet-0): LAMMPS `fix nve` through the bridge against ASE's
`VelocityVerlet` with the calculator called directly, and the energy drift of a longer run.

    PYTHONPATH=. .venv/bin/python benchmarks/nve_sevennet.py                  # every figure
    PYTHONPATH=. .venv/bin/python benchmarks/nve_sevennet.py --drift-steps 0  # 50 steps only

Why: the exactness tests compare single evaluations; MD adds what a single evaluation cannot
show — masses, velocities and the time step crossing the unit conversion, and the integrator.
Both integrators are velocity Verlet, so from the same positions, velocities, masses and dt they
follow the same trajectory up to rounding.  SevenNet-0 evaluates in float32: its forces carry
~1e-7 relative rounding that depends on bits of the input below any physical meaning (a
wrapped position, the order of the atoms), and MD amplifies such differences (a gas of
molecules is chaotic).  So "equal" here means: LAMMPS-vs-ASE differs no more than two ASE runs
whose inputs differ only by such rounding (the noise floor, measured here).

The drift run is LAMMPS NVE over many steps (and the same with ASE for comparison): a linear fit
of the total energy gives the drift in meV/atom/ps.  dt = 0.5 fs: the fastest motion is CO2's
asymmetric stretch (2349 cm^-1, period 14.2 fs), so 0.5 fs resolves it with ~28 steps per period
(velocity Verlet's energy error scales with (omega dt)^2; 1 fs, 14 steps per period, is the
usual upper limit for molecules with light-atom stretches).

Switching to the registry name once it lands is the one line `MODEL, MODEL_OPTIONS = ...` below.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import lammps
import lammps.mliap
import numpy as np
from ase import Atoms, units
from ase.data import atomic_masses, atomic_numbers
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.models.registry import make_calculator

REPO = Path(__file__).resolve().parents[1]
# SevenNet-0, real weights from the sevenn wheel; later: MODEL, MODEL_OPTIONS = "sevennet-0", {}
MODEL, MODEL_OPTIONS = "sevennet-0", {}
A_PER_PS = 1e3 * units.fs  # ASE velocity (A per ASE time unit) -> LAMMPS metal (A/ps)


def co2_orb_nvt():
    """examples/co2_orb_nvt/run.py as a module: its CO2 gas builder is shared, not copied."""
    spec = importlib.util.spec_from_file_location("co2_orb_nvt_run",
                                                  REPO / "examples" / "co2_orb_nvt" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def co2_box(grid: tuple[int, int, int] = (2, 2, 2), box: float = 12.0, seed: int = 3,
            temperature_K: float = 300.0, velocity_seed: int = 11) -> Atoms:
    """prod(grid) CO2 molecules in a periodic cubic box with Maxwell-Boltzmann velocities (no
    net momentum).  Default: 8 molecules, 24 atoms, 216 A^3 per molecule (the example's density,
    228 A^3): intermolecular neighbours within SevenNet-0's 5 A cutoff, so the run tests more
    than isolated molecules."""
    n = int(np.prod(grid))
    atoms = Atoms("CO2" * n, positions=co2_orb_nvt().co2_gas(seed, grid, box),
                  cell=[box] * 3, pbc=True)
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=np.random.default_rng(velocity_seed))
    Stationary(atoms)
    return atoms


def calculator(device: str = "cpu"):
    """SevenNet-0 as an ASE calculator, built by the registry as `--calc` would build it."""
    return make_calculator(MODEL, **MODEL_OPTIONS, device=device).calculator


@dataclass
class Trajectory:
    """Frames by atom ID in ASE units: positions (A; LAMMPS' are wrapped into the box),
    velocities (A/fs), potential and kinetic energy (eV); `seconds`: wall time of the steps."""

    steps: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    epot: np.ndarray
    ekin: np.ndarray
    seconds: float

    @property
    def etot(self) -> np.ndarray:
        return self.epot + self.ekin


def lammps_nve(atoms: Atoms, calc, dt_fs: float, steps: int, every: int = 1,
               masses: dict[str, float] | None = None) -> Trajectory:
    """`fix nve` in metal units through the bridge, from `atoms`' positions and velocities.

    Masses are ase.data's (what ASE's VelocityVerlet uses) unless `masses` overrides some (the
    benchmark's control: what a wrong mass does).  Velocities enter by atom ID with
    create_atoms.  Frames every `every` steps (`run every pre no post no`: one continuous run).
    """
    symbols = sorted(set(atoms.get_chemical_symbols()))
    mass = {s: float(atomic_masses[atomic_numbers[s]]) for s in symbols} | (masses or {})
    lx, ly, lz = atoms.cell.lengths().tolist()
    if not atoms.cell.orthorhombic:
        raise ValueError("lammps_nve takes orthorhombic cells only")
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    lmp.commands_string(f"""
units metal
atom_style atomic
atom_modify map array
region box block 0 {lx!r} 0 {ly!r} 0 {lz!r} units box
create_box {len(symbols)} box
""")
    lmp.commands_list([f"mass {i + 1} {mass[s]!r}" for i, s in enumerate(symbols)])
    n = len(atoms)
    types = [symbols.index(s) + 1 for s in atoms.get_chemical_symbols()]
    v = atoms.get_velocities() * A_PER_PS
    created = lmp.create_atoms(n, list(range(1, n + 1)), types, atoms.positions.ravel().tolist(),
                               v.ravel().tolist())
    if created != n:
        raise RuntimeError(f"LAMMPS created {created} of {n} atoms")
    lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface(calc))
    lmp.commands_string(f"""
pair_style mliap unified EXISTS 0
pair_coeff * * {' '.join(symbols)}
timestep {dt_fs / 1000!r}
fix nve all nve
thermo_style custom step pe ke
run 0
""")
    frames = []

    def frame() -> None:
        x = np.array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3)
        v = np.array(lmp.gather_atoms("v", 1, 3)).reshape(n, 3) / 1000.0  # A/ps -> A/fs
        frames.append((lmp.get_thermo("step"), x, v, lmp.get_thermo("pe"), lmp.get_thermo("ke")))

    frame()
    t = time.perf_counter()
    for _ in range(steps // every):
        lmp.command(f"run {every} pre no post no")
        frame()
    seconds = time.perf_counter() - t
    lmp.close()
    return _trajectory(frames, seconds)


def ase_nve(atoms: Atoms, calc, dt_fs: float, steps: int, every: int = 1) -> Trajectory:
    """ASE's VelocityVerlet with the calculator called directly (the reference)."""
    atoms = atoms.copy()
    atoms.calc = calc
    dyn = VelocityVerlet(atoms, timestep=dt_fs * units.fs)
    frames = []

    def frame() -> None:
        frames.append((dyn.nsteps, atoms.get_positions(), atoms.get_velocities() * units.fs,
                       atoms.get_potential_energy(), atoms.get_kinetic_energy()))

    frame()
    t = time.perf_counter()
    for _ in range(steps // every):
        dyn.run(every)
        frame()
    return _trajectory(frames, time.perf_counter() - t)


def _trajectory(frames: list, seconds: float) -> Trajectory:
    steps, x, v, epot, ekin = zip(*frames, strict=True)
    return Trajectory(np.array(steps), np.array(x), np.array(v), np.array(epot), np.array(ekin),
                      seconds)


def deviation(a: Trajectory, b: Trajectory, cell: np.ndarray) -> dict[str, np.ndarray]:
    """Per frame: the largest |dx| over atoms (A, minimum image: LAMMPS wraps, ASE does not),
    the largest |dv| (A/fs) and |dE_tot| (eV)."""
    dx = a.positions - b.positions
    frac = dx @ np.linalg.inv(cell)
    dx = (frac - np.round(frac)) @ cell
    return {"dx": np.linalg.norm(dx, axis=-1).max(axis=-1),
            "dv": np.linalg.norm(a.velocities - b.velocities, axis=-1).max(axis=-1),
            "de": np.abs(a.etot - b.etot)}


def drift(traj: Trajectory, dt_fs: float, n_atoms: int) -> dict:
    """Slope of a linear fit of E_tot(t) in meV/atom/ps with its standard error, and the largest
    excursion of E_tot from its start (meV/atom): the fit separates a systematic drift from the
    bounded fluctuation of velocity Verlet (it conserves a shadow Hamiltonian, not E).  The
    frames are correlated, so the standard error is a lower bound; the excursion divided by
    the run's length is a safe upper bound on any drift."""
    t_ps = traj.steps * dt_fs / 1000.0
    e = traj.etot / n_atoms * 1000.0  # meV/atom
    (slope, _), cov = np.polyfit(t_ps, e, 1, cov=True)
    return {"drift_meV_per_atom_ps": float(slope), "stderr": float(np.sqrt(cov[0, 0])),
            "max_excursion_meV_per_atom": float(np.abs(e - e[0]).max()),
            "ps": float(t_ps[-1]), "etot_meV_per_atom": (e - e[0]).tolist()}


def permuted_ase_nve(atoms: Atoms, calc, dt_fs: float, steps: int) -> Trajectory:
    """ASE's run with the atoms in reverse order, mapped back: the same physics, the model's
    float32 sums in another order (its noise without any change of the input)."""
    order = np.arange(len(atoms))[::-1]
    traj = ase_nve(atoms[order], calc, dt_fs, steps)
    back = np.argsort(order)
    traj.positions, traj.velocities = traj.positions[:, back], traj.velocities[:, back]
    return traj


def perturbed(atoms: Atoms, amplitude: float, seed: int = 5) -> Atoms:
    """`atoms` with every coordinate moved by +-`amplitude` A (uniform), velocities kept."""
    out = atoms.copy()
    out.positions += np.random.default_rng(seed).uniform(-amplitude, amplitude, out.positions.shape)
    return out


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dt", type=float, default=0.5, help="fs")
    ap.add_argument("--compare-steps", type=int, default=50)
    ap.add_argument("--drift-steps", type=int, default=2000)
    ap.add_argument("--every", type=int, default=10, help="frames of the drift run, in steps")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a busy 2-core machine 2 threads made "
                    "each force call 5-50x slower, examples/co2_sevennet_nvt/README.md)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    import torch

    from lammps_mliap_ase.cli.machine import describe

    torch.set_num_threads(args.threads)
    atoms, calc, n = co2_box(), calculator(), args.compare_steps
    cell = atoms.cell.array
    print(f"{len(atoms)} atoms (8 CO2, {cell[0, 0]} A box), 300 K, dt {args.dt} fs, "
          f"{MODEL} {MODEL_OPTIONS}, torch threads {args.threads}; {describe()}", flush=True)
    ref = ase_nve(atoms, calc, args.dt, n)
    runs = {"ASE again": ase_nve(atoms, calc, args.dt, n),
            "ASE, atoms in reverse order": permuted_ase_nve(atoms, calc, args.dt, n),
            "ASE, positions +-1e-10 A": ase_nve(perturbed(atoms, 1e-10), calc, args.dt, n),
            "ASE, positions +-1e-6 A": ase_nve(perturbed(atoms, 1e-6), calc, args.dt, n),
            "LAMMPS (bridge)": lammps_nve(atoms, calc, args.dt, n),
            "LAMMPS, C mass 12.0 (control)": lammps_nve(atoms, calc, args.dt, n,
                                                        masses={"C": 12.0})}
    figures: dict = {"atoms": len(atoms), "dt_fs": args.dt, "compare_steps": n,
                     "machine": describe(), "compare": {}}
    print(f"vs ASE's run: the largest difference over atoms and steps 0-{n} (max|dx| also at "
          "steps 0, 10, 20, ...)")
    for name, traj in runs.items():
        d = deviation(traj, ref, cell)
        row = {k: float(v.max()) for k, v in d.items()} | {"dx_at": d["dx"][::10].tolist()}
        figures["compare"][name] = row
        print(f"  {name:30s} max|dx| {row['dx']:.2e} A  max|dv| {row['dv']:.2e} A/fs  "
              f"|dEtot| {row['de']:.2e} eV  (dx: "
              + " ".join(f"{v:.1e}" for v in row["dx_at"]) + ")", flush=True)
    lmp_traj = runs["LAMMPS (bridge)"]
    figures["seconds_per_step"] = {"lammps": lmp_traj.seconds / n, "ase": ref.seconds / n}
    if args.drift_steps:
        for name, run in (("LAMMPS", lammps_nve), ("ASE", ase_nve)):
            traj = run(atoms, calc, args.dt, args.drift_steps, args.every)
            d = drift(traj, args.dt, len(atoms))
            d |= {"steps": args.drift_steps, "wall_s": traj.seconds,
                  "s_per_step": traj.seconds / args.drift_steps}
            figures[f"drift_{name}"] = d
            print(f"{name} NVE {args.drift_steps} steps x {args.dt} fs ({d['ps']:g} ps): drift "
                  f"{d['drift_meV_per_atom_ps']:+.1e} +- {d['stderr']:.0e} meV/atom/ps (fit), "
                  f"largest |E_tot - E_0| "
                  f"{d['max_excursion_meV_per_atom']:.3f} meV/atom; {traj.seconds:.0f} s wall "
                  f"({d['s_per_step']:.3f} s/step)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    from lammps_mliap_ase.cli.oneline import run_script

    sys.exit(run_script(main, screen_has_it=False))  # its LAMMPS prints nothing

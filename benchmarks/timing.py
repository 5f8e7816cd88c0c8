"""Per-step timings of the four paths, interleaved so that machine noise hits them alike.

Why interleaved and adaptive: on a shared 2-core machine, timing (a) then (b) then (d) lets a
burst of background load land on one of them; round-robin repeats spread it.  Each timing runs
enough steps to last `min_time` seconds, so 100-atom rows are not a handful of noisy steps.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ase import Atoms, units
from ase.md.verlet import VelocityVerlet

MIN_STEPS = 3


@dataclass
class Method:
    """One way of doing MD steps: `advance(k)` does k steps."""

    name: str
    advance: Callable[[int], None]
    close: Callable[[], None] = lambda: None
    steps: int = 1
    times: list[float] = field(default_factory=list)

    def timed(self, k: int) -> float:
        start = time.perf_counter()
        self.advance(k)
        return (time.perf_counter() - start) / k

    def warm(self, min_time: float, max_steps: int) -> None:
        """Two warm-up steps (first calls compile/allocate), which also set the step count.

        At least MIN_STEPS steps per timing: LAMMPS computes the virial on the last step of
        every run (a thermo step), which a 1-step run would pay every step.
        """
        per_step = self.timed(2)
        self.steps = max(MIN_STEPS, min(max_steps, math.ceil(min_time / per_step)))

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def ase_md(atoms: Atoms, calc, timestep_fs: float, snapshots: int) -> tuple[Method, list]:
    """(d) ASE's VelocityVerlet; its first `snapshots` steps also give (a) its configurations."""
    work = atoms.copy()
    work.calc = calc
    dyn = VelocityVerlet(work, timestep=timestep_fs * units.fs)
    frames = []
    dyn.attach(lambda: frames.append(work.positions.copy()), interval=1)
    dyn.run(snapshots)
    dyn.observers.clear()
    return Method("d_ase_md", dyn.run), frames


def calculator_alone(atoms: Atoms, calc, frames: list) -> Method:
    """(a) the calculator on MD configurations, a different one each call (caches cannot cheat)."""
    work = atoms.copy()
    work.calc = calc
    configurations = itertools.cycle(frames)

    def advance(k: int) -> None:
        for _ in range(k):
            work.positions = next(configurations)
            work.get_forces()
    return Method("a_calc", advance)


def lammps_path(name: str, lmp) -> Method:
    """(b)/(c) LAMMPS + bridge, `run k` without setup (as inside a long run)."""
    return Method(name, lambda k: lmp.command(f"run {k} pre no post no"), lmp.close)


def interleave(paths: list[Method], repeats: int, min_time: float, max_steps: int) -> None:
    """Warm every path, then `repeats` rounds timing each once; results in `path.times`."""
    for path in paths:
        path.warm(min_time, max_steps)
    for _ in range(repeats):
        for path in paths:
            path.times.append(path.timed(path.steps))

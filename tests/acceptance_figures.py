"""Print the acceptance figures quoted in closing notes (not collected by pytest).

    .venv/bin/python tests/acceptance_figures.py [--long]

--long adds the 10,000-step NVE run of 500 atoms (about 10 min on 2 cores).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from conftest import ase_virial, cluster_virial, run_bridge  # noqa: E402
from systems import CALCULATORS, GEOMETRIES  # noqa: E402


def agreement() -> None:
    print("== single rank: LAMMPS vs direct call (worst over calculators and geometries)")
    for units in ("metal", "real", "electron", "si"):
        worst = np.zeros(3)
        for make_calc, style, decorate in CALCULATORS.values():
            for build, boundary in GEOMETRIES.values():
                atoms = decorate(build())
                atoms.calc = make_calc()
                ref_v = ase_virial(atoms) if atoms.pbc.any() else cluster_virial(atoms)
                r = run_bridge(atoms, make_calc(), units=units, boundary=boundary,
                               atom_style=style)
                e = atoms.get_potential_energy()
                worst = np.maximum(worst, [abs(r.energy - e) / abs(e),
                                           np.abs(r.forces - atoms.get_forces()).max(),
                                           np.abs(r.virial - ref_v).max() / np.abs(ref_v).max()])
        print(f"  {units:8s} |dE|/|E| = {worst[0]:.1e}   max|dF| = {worst[1]:.1e} eV/A   "
              f"max|dW|/max|W| = {worst[2]:.1e}")


def md(long: bool) -> None:
    import test_md

    atoms_a = test_md.ase_lattice_constant.__wrapped__()
    lmp = test_md.lammps_cu(3.7, 3)
    lmp.commands_string("fix relax all box/relax iso 0.0 vmax 0.001\nmin_style cg\n"
                        "min_modify line quadratic\nminimize 0.0 1.0e-12 10000 100000")
    lo, hi = lmp.extract_box()[:2]
    a = (hi[0] - lo[0]) / 3
    print(f"== box/relax: LAMMPS a = {a:.6f} A, ASE FrechetCellFilter+BFGS a = {atoms_a:.6f} A, "
          f"|da| = {abs(a - atoms_a):.1e} A")
    steps, repeat = (10000, 5) if long else (1000, 4)
    t = time.perf_counter()
    times, e_lmp, e_ase = test_md.nve_total_energies(steps, repeat)
    (s_lmp, d_lmp), (s_ase, d_ase) = test_md.drift(times, e_lmp), test_md.drift(times, e_ase)
    n = 4 * repeat**3
    print(f"== NVE {steps} steps, {n} atoms, 1 fs, 300 K ({time.perf_counter() - t:.0f} s):\n"
          f"   LAMMPS+bridge drift {s_lmp:+.2e} +- {d_lmp:.1e} eV/ps, max|E-E0| "
          f"{np.abs(e_lmp - e_lmp[0]).max():.2e} eV\n"
          f"   ASE VelocityVerlet drift {s_ase:+.2e} +- {d_ase:.1e} eV/ps, max|E-E0| "
          f"{np.abs(e_ase - e_ase[0]).max():.2e} eV")
    lmp = test_md.lammps_cu(atoms_a, 3)
    lmp.commands_string("velocity all create 300.0 4928459 mom yes rot yes dist gaussian\n"
                        "timestep 0.002\nfix md all npt temp 300 300 0.2 iso 0.0 0.0 1.0\n"
                        "thermo_style custom step temp press vol\nrun 1000")
    volumes = []
    for _ in range(20):
        lmp.command("run 50 pre no post no")
        volumes.append(lmp.get_thermo("vol"))
    a_npt = np.cbrt(np.mean(volumes) / 27)
    change = 100 * (a_npt / atoms_a - 1)
    spread = 100 * np.std(volumes) / np.mean(volumes)
    print(f"== NPT 300 K, 0 bar, 108 atoms: <a> = {a_npt:.4f} A ({change:+.2f} % vs ASE "
          f"{atoms_a:.4f} A), volume std {spread:.2f} %")


def gcmc() -> None:
    import test_gcmc

    for initial in (20, 0):
        counts = []
        for bridge in (True, False):
            lmp = test_gcmc.argon(bridge, initial)
            lmp.commands_string("fix mc all gcmc 1 10 10 1 29494 150.0 0.0 0.5 pressure 100.0 "
                                "full_energy\nthermo_style custom step atoms pe\nrun 100")
            counts.append((lmp.get_natoms(), lmp.get_thermo("pe")))
        print(f"== gcmc from {initial} atoms, 100 cycles: bridge N={counts[0][0]} "
              f"E={counts[0][1]:.12f} eV; native lj/cut N={counts[1][0]} E={counts[1][1]:.12f} eV")


if __name__ == "__main__":
    if "--md-only" not in sys.argv:
        agreement()
        gcmc()
    md("--long" in sys.argv)

"""NVE with a real machine-learned potential: LAMMPS through the bridge follows ASE's trajectory.

SevenNet-0 (real weights, shipped in the sevenn wheel) drives 8 CO2 molecules (24 atoms, 12 A
periodic box, 300 K) for 50 steps of 0.5 fs, once with LAMMPS' `fix nve` through the bridge
and once with ASE's `VelocityVerlet` calling the calculator directly, from the same positions,
velocities (set in ASE, handed to LAMMPS by atom ID), masses (ase.data's, in both) and dt.

Why the two must agree and to what: both are velocity Verlet, so with identical inputs they
would produce identical trajectories up to rounding.  The model evaluates in float32: bits of
the input far below physical meaning (LAMMPS wraps positions into the box, its unit constants
carry 8 digits, its arithmetic orders differently) flip float32 roundings in the forces, and
the chaotic dynamics of a molecular gas carries such differences along.  That is the noise
floor, measured with benchmarks/nve_sevennet.py (2 shared CPU cores, AMD EPYC, torch 1
thread; the largest over atoms and steps 0-50): two ASE runs whose inputs differ only in
rounding — the atoms in reverse order, or positions moved by +-1e-10 A — differ by 3.4e-8 and
2.9e-8 A (velocities 1.5e-8 and 1.4e-8 A/fs); LAMMPS vs ASE: 2.6e-8 A and 1.3e-8 A/fs, inside
the floor.  (A run started 1e-6 A away stays 1.8e-6 A away: over 25 fs the divergence hardly
grows.)  Total energies: float32's resolution at the model's ~-180 eV is 1.5e-5 eV; the
reverse-order run differs by 3.0e-5 eV, LAMMPS by 1.5e-5 eV.  The tolerances are 10x the floor.

Why the test can fail: any real mismatch is far above them.  Carbon's mass as 12.0 instead of
12.011 (0.09%, a common slip) puts LAMMPS 1.3e-4 A away within 50 steps (the benchmark's
control), ~400x the position tolerance; a wrong dt or velocity unit is orders of magnitude more.
Same-machine reruns are bitwise identical (the "ASE again" run: 0).

The energy drift of the same system over 2000 steps (1 ps) is in the benchmark: LAMMPS
-3.5e-4 +- 2.1e-3 meV/atom/ps (ASE: -4.6e-4 +- 2.1e-3), E_tot within 0.036 meV/atom of its start.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("sevenn", reason="sevenn is not installed (the [sevennet] extra)")

REPO = Path(__file__).resolve().parents[1]
STEPS, DT_FS = 50, 0.5
FLOOR_DX, FLOOR_DV = 3.4e-8, 1.5e-8  # A, A/fs: the larger of the two rounding-noise runs
FLOOR_DE = 3.0e-5  # eV: 2 float32 ulp of the total (LAMMPS' 8-digit mvv2e adds ~6e-8 eV)
TOL_DX, TOL_DV, TOL_DE = 10 * FLOOR_DX, 10 * FLOOR_DV, 10 * FLOOR_DE


def nve_module():
    """benchmarks/nve_sevennet.py: the system, the two integrators, the comparison."""
    spec = importlib.util.spec_from_file_location("nve_sevennet",
                                                  REPO / "benchmarks" / "nve_sevennet.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    """torch on 1 thread: on a shared 2-core machine 2 threads made each force call 5-50x
    slower (examples/co2_sevennet_nvt/README.md); both runs see the same setting either way."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_sevennet_nve_lammps_equals_ase_to_float32_noise(one_thread):
    nve = nve_module()
    atoms, calc = nve.co2_box(), nve.calculator()
    ase_traj = nve.ase_nve(atoms, calc, DT_FS, STEPS)
    lmp_traj = nve.lammps_nve(atoms, calc, DT_FS, STEPS)
    assert lmp_traj.steps.tolist() == ase_traj.steps.tolist() == list(range(STEPS + 1))
    d = nve.deviation(lmp_traj, ase_traj, atoms.cell.array)
    assert d["dx"][0] == 0 and d["dv"][0] < 1e-12  # the same start (velocities via A/ps)
    assert d["dx"].max() < TOL_DX, f"positions differ by {d['dx'].max():.2e} A"
    assert d["dv"].max() < TOL_DV, f"velocities differ by {d['dv'].max():.2e} A/fs"
    assert d["de"].max() < TOL_DE, f"total energies differ by {d['de'].max():.2e} eV"
    # the atoms moved: the comparison is not of two standing systems
    assert abs(ase_traj.positions[-1] - ase_traj.positions[0]).max() > 0.05

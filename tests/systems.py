"""Test systems shared by the single-rank and MPI tests (LAMMPS-style cells: a along x, b in xy)."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.calculators.morse import MorsePotential

from calculators import ChargeSpinPair


def cu(repeat=(3, 3, 3), seed=1) -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    atoms.rattle(stdev=0.1, seed=seed)
    return atoms


def orthogonal(repeat=(3, 3, 3)) -> Atoms:
    atoms = cu(repeat)
    atoms.wrap()
    return atoms


def triclinic(repeat=(3, 3, 3)) -> Atoms:
    atoms = cu(repeat)
    cell = atoms.cell.array.copy()
    cell[1, 0], cell[2, 0], cell[2, 1] = 1.3, -0.9, 1.7
    atoms.set_cell(cell, scale_atoms=True)
    atoms.wrap()
    return atoms


def open_cluster() -> Atoms:
    atoms = cu((2, 2, 2))
    atoms.pbc = False
    atoms.center(vacuum=6.0)
    return atoms


def slab() -> Atoms:
    """Periodic in x and y, vacuum in z (LAMMPS boundary p p f)."""
    atoms = cu()
    atoms.wrap()
    atoms.pbc = (True, True, False)
    atoms.center(vacuum=6.0, axis=2)
    return atoms


def small_cell() -> Atoms:
    """One cubic fcc cell (3.61 A): smaller than twice every calculator's cutoff."""
    atoms = cu((1, 1, 1), seed=5)
    atoms.wrap()
    return atoms


#: name -> (builder, LAMMPS boundary)
GEOMETRIES = {
    "orthogonal": (orthogonal, "p p p"),
    "triclinic": (triclinic, "p p p"),
    "open": (open_cluster, "f f f"),
    "mixed": (slab, "p p f"),
    "small": (small_cell, "p p p"),
}


def with_charges_and_moments(atoms: Atoms, seed=3) -> Atoms:
    """Random per-atom charges (summing to zero) and moment vectors."""
    rng = np.random.default_rng(seed)
    q = rng.normal(scale=0.5, size=len(atoms))
    atoms.set_initial_charges(q - q.mean())
    atoms.set_initial_magnetic_moments(rng.normal(size=(len(atoms), 3)))
    return atoms


#: name -> (calculator factory, LAMMPS atom style, decorate atoms)
CALCULATORS = {
    "emt": (EMT, "atomic", lambda a: a),
    "lj": (lambda: LennardJones(sigma=2.3, epsilon=0.2, rc=5.5), "atomic", lambda a: a),
    "morse": (lambda: MorsePotential(epsilon=0.4, r0=2.55, rho0=6.0), "atomic", lambda a: a),
    "charge-spin": (ChargeSpinPair, "dipole", with_charges_and_moments),
}


# -- for pretrained materials models (SevenNet, CHGNet): elements and distances they know -------


def mgo(repeat=(2, 2, 2), seed=1) -> Atoms:
    """Rock-salt MgO (8 atoms per cubic cell), rattled: 64 atoms by default."""
    atoms = bulk("MgO", "rocksalt", a=4.21, cubic=True).repeat(repeat)
    atoms.rattle(stdev=0.05, seed=seed)
    atoms.wrap()
    return atoms


def co2_in_box(box=9.0, seed=2) -> Atoms:
    """One rattled CO2 molecule in a periodic cubic box (its images more than 6 A away, the
    largest cutoff of SevenNet and CHGNet): a gas-phase molecule, as in a GCMC insertion."""
    from ase.build import molecule

    atoms = molecule("CO2")
    atoms.rattle(stdev=0.05, seed=seed)
    atoms.cell = [box, box, box]
    atoms.center()
    atoms.pbc = True
    return atoms


def mgo_slab_with_co2(repeat=(2, 2, 2), gap=8.0, seed=1) -> Atoms:
    """A periodic cell holding an MgO slab (rock salt, rattled) and a CO2 molecule in the
    `gap` A of vacuum above it: a crystal, its surface and a molecule, all within SevenNet's
    5 A cutoff of the slab's periodic images across the gap's far side.  67 atoms by default."""
    from ase.build import molecule

    atoms = mgo(repeat, seed)
    top = atoms.cell[2, 2]
    atoms.cell[2, 2] = top + gap
    co2 = molecule("CO2")
    co2.rattle(stdev=0.05, seed=seed + 1)
    co2.positions += [atoms.cell[0, 0] / 2, atoms.cell[1, 1] / 2, top + gap / 2]
    atoms += co2
    atoms.wrap()
    return atoms

"""Calculator results in ASE units, checked, with virials in LAMMPS' component order.

Why a module of its own: every mode (periodic, gather, cluster) asks the calculator the same
questions and must refuse the same bad answers (NaN, wrong shapes) with the same messages.
Virials are W = sum r (x) F in eV, ordered xx yy zz xy xz yz as LAMMPS stores them; ASE's Voigt
order is xx yy zz yz xz xy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CalculatorResultError, CalculatorSetupError
from ..properties import same_system

ASE_TO_LAMMPS_VOIGT = [0, 1, 2, 5, 4, 3]
_FULL_TO_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])  # ASE order from a 3x3 tensor


@dataclass
class Results:
    """What the calculator said about one system (eV, eV/Angstrom)."""

    energy: float
    forces: np.ndarray | None  # None: an energy-only evaluation (Monte Carlo trial)
    energies: np.ndarray | None = None  # per atom
    virial: np.ndarray | None = None  # (6,) LAMMPS order
    atom_virials: np.ndarray | None = None  # (n, 6) LAMMPS order


def implements(calc, prop: str) -> bool:
    return prop in getattr(calc, "implemented_properties", ())


def _name(calc) -> str:
    return type(calc).__name__


def energy_and_forces(calc, atoms) -> Results:
    """Energy and forces, checked for shape and finiteness.

    Call this first for each new system: it is the one call that lets the calculator compare
    `atoms` with its last system (ASE's check_state); the other functions here ask for more
    properties of that same system.
    """
    n = len(atoms)
    energy = float(calc.get_property("energy", atoms))
    forces = np.asarray(same_system(calc, atoms, "forces"))
    if forces.shape != (n, 3):
        raise CalculatorResultError(
            f"{_name(calc)} returned forces of shape {forces.shape}, expected ({n}, 3)")
    if not np.isfinite(energy) or not np.isfinite(forces).all():
        raise CalculatorResultError(
            f"{_name(calc)} returned a non-finite energy or force (energy={energy})")
    return Results(energy, forces)


def energy_only(energy_function, calc, atoms) -> Results:
    """The energy alone, checked for finiteness: a Monte Carlo trial (LAMMPS' ENERGY_ONLY bit).

    `energy_function` is the model family's cheaper path (models.registry.energy_function),
    e.g. a forward pass without the force gradient; forces stay None: LAMMPS discards those of
    such a call and recomputes them at the next MD step.
    """
    energy = float(energy_function(atoms))
    if not np.isfinite(energy):
        raise CalculatorResultError(f"{_name(calc)} returned a non-finite energy ({energy})")
    return Results(energy, None)


def per_atom_energies(calc, atoms, why: str = "per-atom energies were requested "
                                            "(compute pe/atom)") -> np.ndarray:
    if not implements(calc, "energies"):
        raise CalculatorSetupError(f"{why} but {_name(calc)} does not implement 'energies'")
    energies = np.asarray(same_system(calc, atoms, "energies"))
    if energies.shape != (len(atoms),) or not np.isfinite(energies).all():
        raise CalculatorResultError(
            f"{_name(calc)} returned invalid per-atom energies of shape {energies.shape}")
    return energies


def per_atom_virials(calc, atoms) -> np.ndarray:
    """w_i = -V sigma_i from ASE's per-atom stresses ('stresses', normalised by the cell
    volume), shape (n, 6), LAMMPS order."""
    if not implements(calc, "stresses"):
        raise CalculatorSetupError(
            f"per-atom virials (compute stress/atom) come from per-atom stresses, but "
            f"{_name(calc)} does not implement 'stresses'")
    stresses = np.asarray(same_system(calc, atoms, "stresses"))
    if stresses.shape[1:] == (3, 3):
        stresses = stresses[:, _FULL_TO_VOIGT[0], _FULL_TO_VOIGT[1]]
    if stresses.shape != (len(atoms), 6) or not np.isfinite(stresses).all():
        raise CalculatorResultError(
            f"{_name(calc)} returned invalid per-atom stresses of shape {stresses.shape}")
    return -atoms.get_volume() * stresses[:, ASE_TO_LAMMPS_VOIGT]


def stress_virial(calc, atoms) -> np.ndarray | None:
    """W = -V sigma from the calculator's stress (periodic/mixed boundaries), None without."""
    if not implements(calc, "stress"):
        return None
    stress = np.asarray(same_system(calc, atoms, "stress"))
    if stress.shape == (3, 3):
        stress = stress[_FULL_TO_VOIGT]
    if stress.shape != (6,) or not np.isfinite(stress).all():
        raise CalculatorResultError(f"{_name(calc)} returned an invalid stress {stress!r}")
    return -atoms.get_volume() * stress[ASE_TO_LAMMPS_VOIGT]


def cluster_virial(positions: np.ndarray, forces: np.ndarray) -> np.ndarray:
    """W = sum x_i (x) F_i of an isolated system (origin-independent when sum F = 0)."""
    w = positions.T @ forces
    return np.array([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])

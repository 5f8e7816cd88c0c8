"""`UniversalASEUnifiedMLIAPInterface`: any ASE calculator as LAMMPS `pair_style mliap unified`.

LAMMPS calls `compute_forces(data)` once per force evaluation with a patched `MLIAPDataPy`
(patches/0001-0003): positions of owned and ghost atoms, box, pbc and unit style in, energy,
per-atom energies, forces and the global virial out.  This class only orchestrates: the system
builder decides what the calculator sees, `units` converts, and results are written back for
owned atoms only (ghosts are images; LAMMPS sums nothing back from them).
"""

from __future__ import annotations

import numpy as np
from lammps.mliap.mliap_unified_abc import MLIAPUnified

from .errors import (
    CalculatorResultError,
    CalculatorSetupError,
    ParallelModeError,
    UnpatchedLammpsError,
    UnsupportedUnitsError,
)
from .system import ELEMENT_TYPES, PeriodicSystem
from .units import LammpsUnits, lammps_units

# LAMMPS' eflag/vflag bits (src/pair.h: ENERGY_ATOM, VIRIAL_ATOM | VIRIAL_CENTROID)
_ENERGY_ATOM = 2
_VIRIAL_PER_ATOM = 4 | 8
# ASE Voigt order (xx yy zz yz xz xy) -> LAMMPS virial order (xx yy zz xy xz yz)
_ASE_TO_LAMMPS_VOIGT = [0, 1, 2, 5, 4, 3]


class UniversalASEUnifiedMLIAPInterface(MLIAPUnified):
    """Wrap an ASE calculator so LAMMPS can use it through ML-IAP's unified interface.

    Parameters
    ----------
    calculator:
        Any ASE calculator implementing at least ``energy`` and ``forces``.
    lammps_units:
        LAMMPS unit style the input uses; ``None`` (default) takes it from LAMMPS at
        ``pair_style`` time.  Given explicitly, a different style in LAMMPS is an error.
    neighbor_cutoff:
        Pair cutoff in Angstrom that LAMMPS uses for its (unused) neighbor list and ghost shell.
        The calculator sees the periodic cell, so this only costs time: keep it small.
    """

    def __init__(self, calculator, lammps_units: str | None = None,
                 neighbor_cutoff: float = 1.0) -> None:
        props = set(getattr(calculator, "implemented_properties", ()))
        missing = {"energy", "forces"} - props
        if missing:
            raise CalculatorSetupError(
                f"{type(calculator).__name__} does not implement {sorted(missing)}; LAMMPS needs "
                "energy and forces (implemented_properties lists "
                f"{sorted(props) or 'nothing'})")
        if neighbor_cutoff <= 0:
            raise ValueError("neighbor_cutoff must be positive")
        super().__init__(element_types=list(ELEMENT_TYPES), ndescriptors=1, nparams=1,
                         rcutfac=0.5 * neighbor_cutoff)
        self.calculator = calculator
        self.neighbor_cutoff = float(neighbor_cutoff)
        self.requested_units = lammps_units
        self.units: LammpsUnits | None = None
        self.system = PeriodicSystem()
        if lammps_units is not None:
            self.set_lammps_units(lammps_units)

    # -- called by LAMMPS ----------------------------------------------------------------------

    def set_lammps_units(self, style: str) -> LammpsUnits:
        """Adopt LAMMPS' unit style (called at ``pair_style`` time, before the cutoff is read)."""
        if self.requested_units is not None and style != self.requested_units:
            raise UnsupportedUnitsError(
                f"the interface was created with lammps_units={self.requested_units!r} but the "
                f"LAMMPS input uses 'units {style}'")
        self.units = lammps_units(style)
        # ML-IAP's cutoff is 2 * rcutfac in LAMMPS length units
        self.rcutfac = 0.5 * self.neighbor_cutoff * self.units.length
        return self.units

    def compute_descriptors(self, data) -> None:
        """Nothing to do: the calculator needs no ML-IAP descriptors."""

    def compute_gradients(self, data) -> None:
        """Nothing to do: forces come from the calculator in `compute_forces`."""

    def compute_forces(self, data) -> None:
        """Evaluate the calculator and write energy, forces and virial back to LAMMPS."""
        if not hasattr(data, "virial"):
            raise UnpatchedLammpsError(
                "this LAMMPS lacks the lammps-mliap-ase ML-IAP patches (no positions/virial in "
                "MLIAPDataPy); install LAMMPS with scripts/build_lammps.sh")
        units = self.units or self.set_lammps_units(data.units)
        if data.nprocs > 1:
            raise ParallelModeError(
                f"running on {data.nprocs} MPI ranks: the periodic mode evaluates the owned atoms "
                "of one rank and is exact on a single rank only; run on one rank")
        if data.vflag & _VIRIAL_PER_ATOM:
            raise CalculatorSetupError(
                "per-atom virial (compute stress/atom, centroid/stress/atom) is not supported")

        n = data.nlocal
        if n == 0:
            data.energy = 0.0
            data.virial = np.zeros(6)
            return

        atoms = self.system.update(data, units)
        calc = self.calculator
        energy = float(calc.get_property("energy", atoms))
        forces = np.asarray(calc.get_property("forces", atoms))
        if forces.shape != (n, 3):
            raise CalculatorResultError(
                f"{type(calc).__name__} returned forces of shape {forces.shape}, expected ({n}, 3)")
        if not np.isfinite(energy) or not np.isfinite(forces).all():
            raise CalculatorResultError(
                f"{type(calc).__name__} returned a non-finite energy or force (energy={energy})")

        data.energy = energy * units.energy
        f = data.f
        f[:n] += forces * units.force
        if data.eflag & _ENERGY_ATOM:
            self._write_per_atom_energies(data, atoms, units)
        if data.vflag:
            data.virial = self._virial(atoms, forces) * units.energy

    # -- helpers -------------------------------------------------------------------------------

    def _write_per_atom_energies(self, data, atoms, units: LammpsUnits) -> None:
        if "energies" not in getattr(self.calculator, "implemented_properties", ()):
            raise CalculatorSetupError(
                f"per-atom energies were requested (compute pe/atom) but "
                f"{type(self.calculator).__name__} does not implement 'energies'")
        energies = np.asarray(self.calculator.get_property("energies", atoms))
        nlist = data.nlistatoms
        data.eatoms = energies[data.iatoms[:nlist]] * units.energy

    def _virial(self, atoms, forces: np.ndarray) -> np.ndarray:
        """Global virial W = sum r (x) F in eV, LAMMPS order (xx yy zz xy xz yz).

        Periodic or mixed boundaries: W = -V sigma from the calculator's stress (the only
        definition that is independent of images).  Open boundaries: sum x_i F_i over the
        isolated cluster, exact when the total force vanishes.
        """
        pbc = atoms.pbc
        if not pbc.any():
            x = atoms.arrays["positions"]
            w = x.T @ forces
            return np.array([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])
        if "stress" not in getattr(self.calculator, "implemented_properties", ()):
            raise CalculatorSetupError(
                f"LAMMPS needs the virial (pressure, NPT, box relaxation) of a periodic system, "
                f"but {type(self.calculator).__name__} does not implement 'stress'")
        stress = np.asarray(self.calculator.get_property("stress", atoms))
        if stress.shape == (3, 3):
            stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        if stress.shape != (6,) or not np.isfinite(stress).all():
            raise CalculatorResultError(
                f"{type(self.calculator).__name__} returned an invalid stress {stress!r}")
        return -atoms.get_volume() * stress[_ASE_TO_LAMMPS_VOIGT]

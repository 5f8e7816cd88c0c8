"""`UniversalASEUnifiedMLIAPInterface`: any ASE calculator as LAMMPS `pair_style mliap unified`.

LAMMPS calls `compute_forces(data)` once per force evaluation with a patched `MLIAPDataPy`
(patches/): positions of owned and ghost atoms, box, pbc, charges, moments and unit style in;
energy, per-atom energies, forces and the global virial out.  This class orchestrates: `system`
decides which atoms the calculator sees, `parallel` moves them between MPI ranks, `units`
converts, and results are written back for owned atoms only (ghosts are images).
"""

from __future__ import annotations

import warnings

import numpy as np
from lammps.mliap.mliap_unified_abc import MLIAPUnified

from .errors import (
    CalculatorResultError,
    CalculatorSetupError,
    ParallelModeError,
    UnpatchedLammpsError,
    UnsupportedUnitsError,
)
from .parallel import ROOT, Gather, communicator
from .system import ELEMENT_TYPES, AtomsCache, LocalAtoms, cell_in_angstrom, local_atoms
from .units import LammpsUnits, lammps_units

# LAMMPS' eflag/vflag bits (src/pair.h: ENERGY_ATOM, VIRIAL_ATOM | VIRIAL_CENTROID)
_ENERGY_ATOM = 2
_VIRIAL_PER_ATOM = 4 | 8
# ASE Voigt order (xx yy zz yz xz xy) -> LAMMPS virial order (xx yy zz xy xz yz)
_ASE_TO_LAMMPS_VOIGT = [0, 1, 2, 5, 4, 3]
MODES = ("auto", "periodic", "gather", "cluster")


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
    charge, spin:
        Total charge (e) and spin multiplicity (2S+1) put into ``atoms.info`` as ints (the
        convention of UMA/fairchem and Orb's OMol models).  ``None``: the charge is the rounded
        sum of LAMMPS' per-atom charges when the atom style has them, the spin is
        ``round(|sum of moments|) + 1`` when it has magnetic moments; otherwise not set.
    mode:
        Which atoms the calculator sees (docs/modes.md).  ``"auto"``: ``"periodic"`` on one
        MPI rank, ``"gather"`` on several.  ``"periodic"``: the owned atoms in the real cell
        (exact; one rank).  ``"gather"``: all ranks' atoms gathered by ID and evaluated once on
        rank 0 (exact; needs mpi4py).  ``"cluster"``: each rank evaluates its owned + ghost
        atoms as an open cluster (domain decomposition); exact only with a ghost shell of the
        model's receptive field (twice that for energy-derived forces), which this class makes
        LAMMPS build, and it needs per-atom energies (``energies``) for an exact energy.
    receptive_field:
        Cluster mode: the distance (Angstrom) beyond which an atom's energy (direct models:
        its forces) no longer depends on other atoms, e.g. cutoff x message-passing layers.
    forces_from_energy:
        Cluster mode: forces are the gradient of the energy (conservative models, EMT, LJ), so
        the ghost shell must be twice the receptive field.  False for direct-force models.
    """

    def __init__(self, calculator, lammps_units: str | None = None,
                 neighbor_cutoff: float = 1.0, charge: int | None = None,
                 spin: int | None = None, mode: str = "auto",
                 receptive_field: float | None = None, forces_from_energy: bool = True) -> None:
        props = set(getattr(calculator, "implemented_properties", ()))
        missing = {"energy", "forces"} - props
        if missing:
            raise CalculatorSetupError(
                f"{type(calculator).__name__} does not implement {sorted(missing)}; LAMMPS needs "
                "energy and forces (implemented_properties lists "
                f"{sorted(props) or 'nothing'})")
        if neighbor_cutoff <= 0:
            raise ValueError("neighbor_cutoff must be positive")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if mode == "cluster":
            if receptive_field is None or receptive_field <= 0:
                raise CalculatorSetupError(
                    "cluster mode needs receptive_field= (Angstrom): the ghost shell must cover "
                    "it, or forces near the shell are wrong")
            if "energies" not in props:
                raise CalculatorSetupError(
                    f"cluster mode needs per-atom energies for an exact energy (the sum over "
                    f"owned atoms), but {type(calculator).__name__} does not implement "
                    "'energies'; use mode='gather' (exact for any calculator)")
            shell = receptive_field * (2.0 if forces_from_energy else 1.0)
            neighbor_cutoff = max(neighbor_cutoff, shell)
        self.mode = mode
        self.receptive_field = receptive_field
        self.forces_from_energy = forces_from_energy
        super().__init__(element_types=list(ELEMENT_TYPES), ndescriptors=1, nparams=1,
                         rcutfac=0.5 * neighbor_cutoff)
        self.calculator = calculator
        self.neighbor_cutoff = float(neighbor_cutoff)
        self.requested_units = lammps_units
        self.charge = None if charge is None else int(charge)
        self.spin = None if spin is None else int(spin)
        self.units: LammpsUnits | None = None
        self.cache = AtomsCache()
        self._warned: set[str] = set()
        self._last_info: dict | None = None
        self._calls = 0  # compute_forces calls, to tell a barostat from occasional pressure
        self._last_virial_call = -2
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
        if not hasattr(data, "world_fortran"):
            raise UnpatchedLammpsError(
                "this LAMMPS lacks the lammps-mliap-ase ML-IAP patches (no system state in "
                "MLIAPDataPy); install LAMMPS with scripts/build_lammps.sh")
        units = self.units or self.set_lammps_units(data.units)
        self._calls += 1
        if data.vflag & _VIRIAL_PER_ATOM:
            raise CalculatorSetupError(
                "per-atom virial (compute stress/atom, centroid/stress/atom) is not supported")
        if self.mode == "cluster":
            self._compute_cluster(data, units)
        elif data.nprocs == 1:
            self._compute_single(data, units)
        elif self.mode == "periodic":
            raise ParallelModeError(
                f"mode='periodic' evaluates the owned atoms of one rank, but LAMMPS runs on "
                f"{data.nprocs} ranks: use mode='gather' (exact) or 'cluster'")
        else:
            self._compute_gather(data, units)

    # -- modes ---------------------------------------------------------------------------------

    def _compute_single(self, data, units: LammpsUnits) -> None:
        """One rank: the owned atoms are the whole system."""
        local = local_atoms(data, units)
        result = self._evaluate(data, units, local.numbers, local.positions, local.charges,
                                local.magmoms)
        if result is None:
            data.energy = 0.0
            data.virial = np.zeros(6)
            return
        energy, forces, energies, virial = result
        self._write(data, units, local, forces, energies)
        data.energy = energy * units.energy
        if virial is not None:
            data.virial = virial * units.energy

    def _compute_gather(self, data, units: LammpsUnits) -> None:
        """N ranks: gather by atom ID, evaluate once on the root, scatter forces back."""
        gather = Gather(communicator(data))
        local, error = None, None
        try:
            local = local_atoms(data, units)
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank by agree()
            error = exc
        gather.agree(error)
        full = gather.collect(local)
        result, error = None, None
        if gather.rank == ROOT:
            try:
                result = self._evaluate(data, units, full["numbers"], full["positions"],
                                        full["charges"], full["magmoms"])
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank by agree()
                error = exc
        gather.agree(error)
        per_atom = bool(data.eflag & _ENERGY_ATOM)
        empty = gather.comm.bcast(result is None if gather.rank == ROOT else None, root=ROOT)
        if empty:
            data.energy = 0.0
            data.virial = np.zeros(6)
            return
        energy, forces, energies, virial = result if result is not None else (0.0,) + (None,) * 3
        local_forces = gather.distribute(forces, 3)
        local_energies = gather.distribute(energies, 1)[:, 0] if per_atom else None
        self._write(data, units, local, local_forces, local_energies)
        on_root = gather.rank == ROOT
        data.energy = energy * units.energy if on_root else 0.0
        data.virial = virial * units.energy if (on_root and virial is not None) else np.zeros(6)

    def _compute_cluster(self, data, units: LammpsUnits) -> None:
        """Owned + ghost atoms as an open cluster; results taken from the owned atoms only."""
        local = local_atoms(data, units, ghosts=True)
        n_owned = local.n_owned
        if n_owned == 0:
            data.energy = 0.0
            data.virial = np.zeros(6)
            return
        # pbc off: ghosts are the images; the cell only normalises per-atom stresses
        atoms = self._prepare(data, units, local.numbers, local.positions, local.charges,
                              local.magmoms, pbc=np.zeros(3, dtype=bool), info=self._info())
        calc = self.calculator
        energy, forces = self._energy_forces(atoms)
        energies = self._energies(atoms, len(local))
        owned = local.owned_index
        data.f[owned] += forces[:n_owned] * units.force
        data.energy = float(energies[:n_owned].sum()) * units.energy
        if data.eflag & _ENERGY_ATOM:
            self._write_eatoms(data, owned, energies[:n_owned] * units.energy)
        if data.vflag:
            if "stresses" not in getattr(calc, "implemented_properties", ()):
                data.virial = self._no_virial(
                    data, f"cluster mode computes the virial from per-atom stresses, but "
                    f"{type(calc).__name__} does not implement 'stresses' (mode='gather' works)")
                return
            stresses = np.asarray(calc.get_property("stresses", atoms))[:n_owned]
            if stresses.shape[1:] == (3, 3):
                stresses = stresses[:, [0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            w = -atoms.get_volume() * stresses.sum(axis=0)[_ASE_TO_LAMMPS_VOIGT]
            data.virial = w * units.energy

    # -- evaluation and write-back -------------------------------------------------------------

    def _prepare(self, data, units: LammpsUnits, numbers, positions, charges, magmoms, pbc,
                 info: dict):
        """The kept ase.Atoms, refreshed; resets the calculator when charge/spin changed."""
        atoms = self.cache.update(numbers, positions, cell_in_angstrom(data, units), pbc,
                                  charges, magmoms, info)
        if info != self._last_info:
            # ASE's check_state ignores atoms.info: make the calculator see a new charge/spin
            if self._last_info is not None and hasattr(self.calculator, "reset"):
                self.calculator.reset()
            self._last_info = info
        return atoms

    def _energy_forces(self, atoms) -> tuple[float, np.ndarray]:
        """Energy and forces from the calculator, checked for shape and finiteness."""
        calc = self.calculator
        n = len(atoms)
        energy = float(calc.get_property("energy", atoms))
        forces = np.asarray(calc.get_property("forces", atoms))
        if forces.shape != (n, 3):
            raise CalculatorResultError(
                f"{type(calc).__name__} returned forces of shape {forces.shape}, expected ({n}, 3)")
        if not np.isfinite(energy) or not np.isfinite(forces).all():
            raise CalculatorResultError(
                f"{type(calc).__name__} returned a non-finite energy or force (energy={energy})")
        return energy, forces

    def _evaluate(self, data, units: LammpsUnits, numbers, positions, charges, magmoms):
        """Call the calculator on the whole system; None when it is empty.

        Returns energy (eV), forces (eV/A), per-atom energies (eV) or None, virial (eV, LAMMPS
        order) or None.
        """
        n = len(numbers)
        if n == 0:
            return None
        atoms = self._prepare(data, units, numbers, positions, charges, magmoms, data.pbc,
                              self._info(charges, magmoms))
        energy, forces = self._energy_forces(atoms)
        energies = self._energies(atoms, n) if data.eflag & _ENERGY_ATOM else None
        virial = self._virial(data, atoms, forces) if data.vflag else None
        return energy, forces, energies, virial

    def _write(self, data, units: LammpsUnits, local: LocalAtoms, forces, energies) -> None:
        """Add forces to the owned atoms; per-atom energies into ML-IAP's list order."""
        if len(local):
            f = data.f
            f[local.index] += forces * units.force
        if energies is not None:
            self._write_eatoms(data, local.index, energies * units.energy)

    @staticmethod
    def _write_eatoms(data, owned, energies) -> None:
        """Per-atom energies (LAMMPS units) of owned atoms into ML-IAP's neighbor-list order."""
        eatom = np.zeros(data.nlocal)
        eatom[owned] = energies
        data.eatoms = eatom[data.iatoms[:data.nlistatoms]]

    def _info(self, charges=None, magmoms=None) -> dict:
        """Total charge and spin multiplicity for atoms.info (ints, the UMA convention)."""
        info: dict = {}
        charge = self.charge
        if charge is None and charges is not None:
            total = float(np.sum(charges))
            charge = int(round(total))
            if abs(total - charge) > 1e-6:
                self._warn_once("charge", f"per-atom charges sum to {total:.6g} e, not an "
                                f"integer; using total charge {charge} (set charge= to fix it)")
        if charge is not None:
            info["charge"] = charge
        spin = self.spin
        if spin is None and magmoms is not None:
            spin = int(round(float(np.linalg.norm(np.sum(magmoms, axis=0))))) + 1
        if spin is not None:
            info["spin"] = spin
        return info

    def _energies(self, atoms, n: int) -> np.ndarray:
        if "energies" not in getattr(self.calculator, "implemented_properties", ()):
            raise CalculatorSetupError(
                f"per-atom energies were requested (compute pe/atom) but "
                f"{type(self.calculator).__name__} does not implement 'energies'")
        energies = np.asarray(self.calculator.get_property("energies", atoms))
        if energies.shape != (n,) or not np.isfinite(energies).all():
            raise CalculatorResultError(f"invalid per-atom energies of shape {energies.shape}")
        return energies

    def _no_virial(self, data, why: str) -> np.ndarray:
        """The virial cannot be computed.

        LAMMPS asks for it in the setup of every run and on thermo steps even when nothing uses
        the pressure; failing there would make such calculators unusable for NVT.  So: zero in
        the setup (a barostat then reaches its first step and the error below, instead of
        LAMMPS' "Non-numeric pressure"), NaN on an isolated later request (thermo prints nan),
        and an error when it is needed on consecutive steps (barostat, box relaxation).
        """
        consecutive = self._last_virial_call == self._calls - 1
        self._last_virial_call = self._calls
        if data.setupflag:
            self._warn_once("virial", f"{why}: LAMMPS' pressure lacks the virial (0 in the "
                            "setup of a run, nan on later thermo steps)")
            return np.zeros(6)
        if consecutive:
            raise CalculatorSetupError(
                f"{why}; LAMMPS needs the pressure on consecutive steps (fix npt/nph, "
                "box/relax, or thermo output of the pressure every step)")
        self._warn_once("virial", f"{why}: LAMMPS' pressure lacks the virial (nan)")
        return np.full(6, np.nan)

    def _virial(self, data, atoms, forces: np.ndarray) -> np.ndarray:
        """Global virial W = sum r (x) F in eV, LAMMPS order (xx yy zz xy xz yz).

        Periodic or mixed boundaries: W = -V sigma from the calculator's stress (the only
        definition that is independent of images).  Open boundaries: sum x_i F_i over the
        isolated cluster, exact when the total force vanishes.
        """
        if not atoms.pbc.any():
            w = atoms.arrays["positions"].T @ forces
            return np.array([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])
        if "stress" not in getattr(self.calculator, "implemented_properties", ()):
            return self._no_virial(
                data, f"the virial of a periodic system comes from the stress, but "
                f"{type(self.calculator).__name__} does not implement 'stress'")
        stress = np.asarray(self.calculator.get_property("stress", atoms))
        if stress.shape == (3, 3):
            stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        if stress.shape != (6,) or not np.isfinite(stress).all():
            raise CalculatorResultError(
                f"{type(self.calculator).__name__} returned an invalid stress {stress!r}")
        return -atoms.get_volume() * stress[_ASE_TO_LAMMPS_VOIGT]

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"lammps-mliap-ase: {message}", stacklevel=2)

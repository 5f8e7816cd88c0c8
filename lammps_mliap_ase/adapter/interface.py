"""`UniversalASEUnifiedMLIAPInterface`: any ASE calculator as LAMMPS `pair_style mliap unified`.

LAMMPS calls `compute_forces(data)` once per force evaluation with a patched `MLIAPDataPy`
(patches/): positions of owned and ghost atoms, box, pbc, charges, moments and unit style in;
energy, per-atom energies, forces and the global virial out.  This class orchestrates: `system`
decides which atoms the calculator sees, `parallel` moves them between MPI ranks, `units`
converts, and results are written back for owned atoms only (ghosts are images).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from ase.calculators.calculator import compare_atoms
from lammps.mliap.mliap_unified_abc import MLIAPUnified

from ..errors import (
    CalculatorSetupError,
    ParallelModeError,
    UnpatchedLammpsError,
    UnsupportedUnitsError,
    quiet_tracebacks_inside_lmp,
)
from . import pairfile
from . import results as res
from .parallel import ROOT, Gather, communicator
from .probe import diagnosed
from .system import ELEMENT_TYPES, AtomsCache, cell_in_angstrom, local_atoms
from .units import LammpsUnits, lammps_units

# LAMMPS' eflag/vflag bits (src/force.h)
_ENERGY_ATOM = 0x02
_ENERGY_ONLY = 0x04  # set by fix gcmc, widom, atom/swap, ...: the forces of this call are unused
_VIRIAL_ATOM = 0x04
MODES = ("auto", "periodic", "gather", "cluster")
quiet_tracebacks_inside_lmp()  # plain `lmp` loading a pair file: errors as one ERROR line


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
        ``round(|sum of moments|) + 1`` when it has magnetic moments, else 1 when a charge is
        set (models expect both together); otherwise neither is set.
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
    energy_only_trials:
        When LAMMPS marks a call ENERGY_ONLY (the trials of fix gcmc, widom, atom/swap, sgcmc,
        mol/swap, charge/regulation, and fix numdiff: they use the energy and discard the
        forces), ask the model for its energy alone: conservative models then skip the force
        backward pass (models.registry.energy_function; 2-6x per trial).  MD steps never carry
        the bit, so their forces are always computed.  False: full evaluations throughout (to
        compare, or for a calculator whose energy-only path you distrust).  Not used in cluster
        mode, whose energy is a sum of per-atom energies.
    """

    #: forces go to owned atoms only and the virial is set explicitly (patches 0002, 0012):
    #: LAMMPS must ask for a pair virial, never compute an fdotr one (also in pair hybrid)
    sets_virial = True

    def __init__(self, calculator, lammps_units: str | None = None,
                 neighbor_cutoff: float = 1.0, charge: int | None = None,
                 spin: int | None = None, mode: str = "auto",
                 receptive_field: float | None = None, forces_from_energy: bool = True,
                 energy_only_trials: bool = True) -> None:
        if isinstance(calculator, type):  # its class attributes would pass the check below
            name = calculator.__name__
            raise CalculatorSetupError(
                f"{name} is a calculator class, not a calculator: pass an instance, {name}() "
                f"rather than {name}")
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
        self.energy_only_trials = bool(energy_only_trials)
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
        self._calls = 0  # compute_forces calls, to tell a barostat from occasional pressure
        self.energy_only_calls = 0  # of those, asking for the energy alone (MC trials)
        self.seconds = 0.0  # spent in compute_forces: the model and the bridge (benchmarks)
        self._energy_function = None  # the family's energy-only path, found on first use
        self._last_trial = None  # (atoms, energy) of the last energy-only evaluation
        self._recipe: tuple[str, dict] | None = None  # (registry name, calculator options)
        self._last_virial_call = -2
        if lammps_units is not None:
            self.set_lammps_units(lammps_units)

    @classmethod
    def from_registry(cls, name: str, calculator_options: dict | None = None,
                      **interface_options) -> UniversalASEUnifiedMLIAPInterface:
        """Build the calculator `name` from the registry (lammps_mliap_ase.models.registry).

        Such an interface pickles as its recipe (name and options), not as the calculator: a
        pair file stays small and rebuilds the model, by name or from local weights, when LAMMPS
        loads it.  The options are checked and converted first (models.registry.check_options),
        so the recipe holds what the calculator was built with.
        """
        from ..models.registry import check_options, make_calculator

        options = check_options(name, dict(calculator_options or {}))
        spec = make_calculator(name, **options)
        interface = cls(spec.calculator, **{**spec.interface_options, **interface_options})
        interface._recipe = (name, options)
        return interface

    #: What a pair file written before an attribute existed means by it (pairfile.upgrade):
    #: every attribute that __init__ sets and an older release did not write needs an entry
    #: (tests/test_pair_files.py fails otherwise).  energy_only_trials: the constructor's
    #: default; an older file's trials get the same energies, at less model time.
    STATE_DEFAULTS: dict[str, object] = {
        "energy_only_trials": True, "energy_only_calls": 0, "seconds": 0.0,
        "_energy_function": None, "_last_trial": None, "_recipe": None,
        "_last_virial_call": -2, "_calls": 0, "_warned": set(), "charge": None, "spin": None,
        "mode": "auto", "receptive_field": None, "forces_from_energy": True,
        "requested_units": None}
    #: attributes of older pair files that mean nothing now: the first release's atoms cache
    #: (`system`, an empty PeriodicSystem; `cache` replaced it)
    STATE_REMOVED: tuple[str, ...] = ("system",)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["interface"] = None  # LAMMPS' coupling object of this process
        state["cache"] = AtomsCache()
        state["_energy_function"] = None  # bound to this process' calculator
        state["_last_trial"] = None
        if state.get("_recipe") is not None:
            state["calculator"] = None
        return pairfile.stamp(state)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(pairfile.upgrade(state, self.STATE_DEFAULTS, self.STATE_REMOVED))
        # transient state is this process' own, whatever the file holds: a fresh atoms cache
        # (its class may have changed since), the unit style's factors from this release
        self.cache = AtomsCache()
        self._energy_function = None
        self._last_trial = None
        if self.units is not None:
            self.units = lammps_units(self.units.style)
        if self.calculator is None and self._recipe is not None:
            from ..models.registry import make_calculator

            name, options = self._recipe
            self.calculator = make_calculator(name, **options).calculator

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

    @diagnosed  # a calculator failure names the element / charge+spin it lacks (probe.py)
    def compute_forces(self, data) -> None:
        """Evaluate the calculator and write energy, forces and virial back to LAMMPS."""
        if not hasattr(data, "world_fortran"):
            raise UnpatchedLammpsError(
                "this LAMMPS lacks the lammps-mliap-ase ML-IAP patches (no system state in "
                "MLIAPDataPy); install LAMMPS with scripts/build_lammps.sh")
        units = self.units or self.set_lammps_units(data.units)
        self._calls += 1
        if self._energy_only(data):
            self.energy_only_calls += 1
        start = time.perf_counter()
        try:
            self._compute(data, units)
        finally:
            self.seconds += time.perf_counter() - start

    def _compute(self, data, units: LammpsUnits) -> None:
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
        self._write(data, units, local.index, result, owner=True)

    def _compute_gather(self, data, units: LammpsUnits) -> None:
        """N ranks: gather by atom ID, evaluate once on the root, scatter per-atom results."""
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
        if gather.comm.bcast(result is None if gather.rank == ROOT else None, root=ROOT):
            self._write(data, units, local.index, None, owner=True)
            return
        on_root = gather.rank == ROOT
        forces = (None if self._energy_only(data)  # the same answer on every rank
                  else gather.distribute(result.forces if on_root else None, 3))
        mine = res.Results(result.energy if on_root else 0.0, forces,
                           virial=result.virial if on_root else None)
        if data.eflag & _ENERGY_ATOM:
            mine.energies = gather.distribute(result.energies if on_root else None, 1)[:, 0]
        if data.vflag & _VIRIAL_ATOM:
            mine.atom_virials = gather.distribute(result.atom_virials if on_root else None, 6)
        self._write(data, units, local.index, mine, owner=on_root)

    def _compute_cluster(self, data, units: LammpsUnits) -> None:
        """Owned + ghost atoms as an open cluster; results taken from the owned atoms only."""
        local = local_atoms(data, units, ghosts=True)
        n = local.n_owned
        if n == 0:
            self._write(data, units, local.owned_index, None, owner=True)
            return
        # pbc off: ghosts are the images; the cell only normalises per-atom stresses
        atoms = self._prepare(data, units, local.numbers, local.positions, local.charges,
                              local.magmoms, pbc=np.zeros(3, dtype=bool), info=self._info())
        calc = self.calculator
        _announce(calc, ["energies"] + (["stresses"] if data.vflag else []))
        full = res.energy_and_forces(calc, atoms)
        energies = res.per_atom_energies(calc, atoms, "cluster mode sums per-atom energies")
        mine = res.Results(float(energies[:n].sum()), full.forces[:n], energies[:n])
        if data.vflag:
            if res.implements(calc, "stresses"):
                atom_virials = res.per_atom_virials(calc, atoms)[:n]
                mine.virial = atom_virials.sum(axis=0)
                if data.vflag & _VIRIAL_ATOM:
                    mine.atom_virials = atom_virials
            else:
                mine.virial = self._no_virial(
                    data, f"cluster mode computes the virial from per-atom stresses, but "
                    f"{type(calc).__name__} does not implement 'stresses' (mode='gather' works)")
        self._write(data, units, local.owned_index, mine, owner=True)

    # -- evaluation and write-back -------------------------------------------------------------

    def _prepare(self, data, units: LammpsUnits, numbers, positions, charges, magmoms, pbc,
                 info: dict):
        """The kept ase.Atoms, refreshed; resets the calculator when charge/spin changed."""
        atoms = self.cache.update(numbers, positions, cell_in_angstrom(data, units), pbc,
                                  charges, magmoms, info)
        # ASE's check_state ignores atoms.info: if the calculator's last system had another
        # charge/spin (this or another interface, or a direct call), drop its cached results
        last = getattr(self.calculator, "atoms", None)
        if (last is not None and hasattr(self.calculator, "reset")
                and any(last.info.get(key) != value for key, value in info.items())):
            self.calculator.reset()
        return atoms

    def _evaluate(self, data, units: LammpsUnits, numbers, positions, charges,
                  magmoms) -> res.Results | None:
        """Call the calculator on the whole system (what LAMMPS asked for); None if empty."""
        if len(numbers) == 0:
            return None
        atoms = self._prepare(data, units, numbers, positions, charges, magmoms, data.pbc,
                              self._info(charges, magmoms))
        calc = self.calculator
        last = getattr(calc, "atoms", None)
        if last is not None and last is not atoms and same_up_to_images(last, atoms):
            # the system the calculator has just evaluated, some atoms re-wrapped by LAMMPS:
            # ask about its own copy, so that its cached results answer (forces, stress and
            # energies do not change under lattice translations)
            atoms = last
        if self._energy_only(data):
            return self._energy_alone(calc, atoms)
        # what LAMMPS asked for, decided once: announced to the calculator, then fetched
        energies = bool(data.eflag & _ENERGY_ATOM)
        stresses = bool(data.vflag & _VIRIAL_ATOM)
        stress = bool(data.vflag) and bool(atoms.pbc.any())
        _announce(calc, [name for name, wanted in (
            ("energies", energies), ("stresses", stresses), ("stress", stress)) if wanted])
        result = res.energy_and_forces(calc, atoms)
        if energies:
            result.energies = res.per_atom_energies(calc, atoms)
        if stresses:
            result.atom_virials = res.per_atom_virials(calc, atoms)
        if stress:
            result.virial = res.stress_virial(calc, atoms)
            if result.virial is None:
                result.virial = self._no_virial(
                    data, f"the virial of a periodic system comes from the stress, but "
                    f"{type(calc).__name__} does not implement 'stress'")
        elif data.vflag:  # an open system: the virial from positions and forces
            result.virial = res.cluster_virial(atoms.arrays["positions"], result.forces)
        return result

    def _write(self, data, units: LammpsUnits, owned, result: res.Results | None,
               owner: bool) -> None:
        """Write results for the owned atoms `owned`; energy and virial only where `owner`
        (LAMMPS sums them over ranks).  An empty system writes zeros."""
        if result is None:
            data.energy = 0.0
            data.virial = np.zeros(6)
            return
        data.energy = result.energy * units.energy if owner else 0.0
        data.virial = (result.virial * units.energy
                       if owner and result.virial is not None else np.zeros(6))
        if result.forces is not None and len(result.forces):
            f = data.f
            f[owned] += result.forces * units.force
        if result.energies is not None:
            eatom = np.zeros(data.nlocal)
            eatom[owned] = result.energies * units.energy
            data.eatoms = eatom[data.iatoms[:data.nlistatoms]]
        if result.atom_virials is not None and len(result.atom_virials):
            vatom = data.vatom
            vatom[owned] += result.atom_virials * units.energy

    def _energy_alone(self, calc, atoms) -> res.Results:
        """A Monte Carlo trial's energy.  A system evaluated before -- the calculator's last
        one, or the last trial -- is not evaluated again: fix gcmc and fix widom ask for the
        energy of the unchanged system at every cycle and after every rejected move, which
        the calculator's own cache answers on the full path, and must here too."""
        known = self._known_energy(calc, atoms)
        if known is not None:
            return res.Results(known, None)
        if self._energy_function is None:
            from ..models.registry import energy_function

            self._energy_function = energy_function(calc)
        result = res.energy_only(self._energy_function, calc, atoms)
        self._last_trial = (atoms.copy(), result.energy)
        return result

    def _known_energy(self, calc, atoms) -> float | None:
        """`_evaluate` has already swapped in the calculator's own copy when the system is
        its last one (up to images): then its cached energy answers."""
        results = getattr(calc, "results", None) or {}
        if atoms is getattr(calc, "atoms", None) and "energy" in results:
            return float(results["energy"])
        if self._last_trial is not None and same_up_to_images(self._last_trial[0], atoms):
            return self._last_trial[1]
        return None

    def _energy_only(self, data) -> bool:
        """Whether this call wants the energy alone: LAMMPS set ENERGY_ONLY (a Monte Carlo
        trial) and asks for nothing per atom and no virial; decided from LAMMPS' flags alone,
        so every MPI rank agrees.  Cluster mode always evaluates fully."""
        return (self.energy_only_trials and self.mode != "cluster"
                and bool(data.eflag & _ENERGY_ONLY)
                and not data.eflag & _ENERGY_ATOM and not data.vflag)

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
        if spin is None and charge is not None:
            spin = 1  # UMA and Orb expect charge and spin together; singlet unless told
        if spin is not None:
            info["spin"] = spin
        return info

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

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"lammps-mliap-ase: {message}", stacklevel=2)


def same_up_to_images(a, b, tol: float = 1e-10) -> bool:
    """Whether two ase.Atoms are one system: the same atoms, cell, pbc, charges, moments and
    info, each position the same up to a lattice vector along periodic directions (Angstrom
    `tol`).  Why images: LAMMPS wraps atoms back into the box when it re-neighbours (fix gcmc
    and widom re-neighbour at every trial), so an unchanged system comes back with some atoms
    shifted by a box vector."""
    if len(a) != len(b) or a.info != b.info or compare_atoms(
            a, b, excluded_properties={"positions"}):
        return False
    shift = b.positions - a.positions
    if a.pbc.any():
        frac = np.linalg.solve(a.cell.array.T, shift.T).T
        frac[:, a.pbc] -= np.round(frac[:, a.pbc])
        shift = frac @ a.cell.array
    return bool(np.abs(shift).max(initial=0.0) <= tol)


def _announce(calc, properties: list[str]) -> None:
    """Tell a calculator that evaluates elsewhere (client.SharedModelCalculator) which
    properties follow energy and forces, so one round trip serves the whole step."""
    request = getattr(calc, "request_properties", None)
    if request is not None:
        request(properties)

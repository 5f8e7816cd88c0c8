"""torch-sim's classical pair potentials: ``torchsim-lj``/``torchsim-morse`` by name, as an ASE
calculator and as a batch backend.

Why: the exactness checks of shared, batched evaluation need a float64 model whose batched
call and single call run the same code.  torch-sim 0.3.0's Lennard-Jones and Morse models do:
a ``SimState`` of K systems is evaluated system by system (``unbatched_forward`` on
``state[i]``), so `TorchSimCalculator` (a batch of one) and `TorchSimBackend` (one state of K
systems) give bit-identical numbers.  (torch-sim's Orb and fairchem wrappers do not import
with orb-models 0.5.5 / fairchem-core 2.24; models/orb.py and models/uma.py drive those
libraries directly.)

Conventions (torch-sim's, checked against ASE in tests/test_batch.py):

* Lennard-Jones: ``V(r) = 4 eps ((sigma/r)^12 - (sigma/r)^6)`` for ``r < cutoff``, 0 beyond;
  **not shifted** (the energy jumps by ``-V(cutoff)`` at the cutoff, as LAMMPS ``lj/cut``
  with the default ``pair_modify shift no``; ASE's ``LennardJones`` shifts by default).
  ``cutoff`` defaults to ``2.5 sigma``.
* Morse: ``V(r) = eps (1 - exp(-alpha (r - sigma)))^2 - eps`` for ``r < cutoff``, not
  shifted; ``cutoff`` defaults to ``2.5 sigma``.
* torch-sim 0.3.0 sums its full neighbour list (each pair twice) into forces, stress,
  per-atom energies and per-atom stresses: measured on a dimer, exactly twice the negative
  gradient of its own (correct) energy, for both models.  `calibrate` measures that factor
  on a dimer (float64 finite difference) when a calculator is built and divides it out
  (dividing by 2 is exact), so a later torch-sim that fixes it needs no change here.
* Morse in torch-sim 0.3.0 returns no per-atom energies or stresses from a batched call
  (its ``forward`` drops them), so `TorchSimCalculator` of a Morse model implements energy,
  forces and stress only.
* torch-sim 0.3.0 passes the cell as row vectors to its neighbour list but applies the
  image shifts as if it held column vectors, so a periodic cell whose matrix is not
  symmetric (a LAMMPS triclinic box) gets wrong pair distances (measured: 48 Ar atoms in a
  skewed box, -1.98 eV instead of -3.55 eV).  We rotate such a system so that its cell matrix
  becomes symmetric (polar decomposition ``H = S Q``; the rotated cell is ``S``), where both
  conventions agree, and rotate forces and stresses back.  A pair potential is invariant
  under the rotation; it costs rounding at 1e-16.  Symmetric (e.g. orthogonal) cells are
  passed unchanged.
* One system has one pbc flag for all three directions (torch-sim's ``SimState.pbc`` is a
  bool): fully periodic or open.  Mixed pbc (slabs) raises NotImplementedError.
* Stress and per-atom stresses exist for periodic systems only (ASE Voigt order, eV/A^3,
  per-atom stresses summing to the stress).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress as voigt  # (n, 3, 3) -> (n, 6), ASE order

from ..errors import CalculatorSetupError
from ..serve.batch import PROPERTIES, Backend, Request, select
from .base import CalculatorSpec, batched_default, entry, require_pair
from .options import POSITIVE_ENERGY, POSITIVE_LENGTH, Range


def build_model(kind: str = "lj", *, sigma: float = 1.0, epsilon: float = 1.0,
                cutoff: float | None = None, alpha: float = 5.0, device: str = "cpu",
                dtype: str = "float64"):
    """A torch-sim ``LennardJonesModel`` (kind 'lj') or ``MorseModel`` ('morse') that
    computes everything we may return: forces, stress, per-atom energies and stresses."""
    try:
        import torch
        from torch_sim.models.lennard_jones import LennardJonesModel
        from torch_sim.models.morse import MorseModel
    except ImportError as exc:
        raise CalculatorSetupError(
            "torch-sim models need torch-sim-atomistic: pip install torch-sim-atomistic==0.3.0 "
            "-c constraints.txt") from exc
    if dtype not in ("float64", "float32"):
        raise CalculatorSetupError(f"dtype must be 'float64' or 'float32', not {dtype!r}")
    options = {"sigma": sigma, "epsilon": epsilon, "cutoff": cutoff,
               "device": torch.device(device), "dtype": getattr(torch, dtype),
               "compute_forces": True, "compute_stress": True, "per_atom_energies": True,
               "per_atom_stresses": True}
    if kind == "lj":
        return LennardJonesModel(**options)
    if kind == "morse":
        return MorseModel(alpha=alpha, **options)
    raise CalculatorSetupError(f"unknown torch-sim model {kind!r}; known: lj, morse")


def _check_pbc(pbc) -> bool:
    """True for a periodic system, False for an open one; what torch-sim gets wrong raises."""
    pbc = np.asarray(pbc, dtype=bool)
    if pbc.any() and not pbc.all():
        raise NotImplementedError(
            f"torch-sim models take one pbc flag for all directions, got pbc={pbc.tolist()}: "
            "use a fully periodic or a fully open system (e.g. LAMMPS boundary p p p or f f f)")
    return bool(pbc.all())


def _symmetrising_rotation(atoms) -> np.ndarray | None:
    """Q with ``cell @ Q.T`` symmetric (see the module docstring), None if it already is."""
    cell = atoms.cell.array
    if not atoms.pbc.all() or np.array_equal(cell, cell.T):
        return None
    u, _, vt = np.linalg.svd(cell)
    return u @ vt


def calibrate(model) -> dict[str, float]:
    """What torch-sim's outputs must be divided by: forces/stress (and per-atom stresses)
    against a float64 finite difference of the energy of a dimer, per-atom energies against
    the energy.  Each factor must come out 1 or 2 (see the module docstring)."""
    import torch
    from ase import Atoms

    probe = type(model)(**{name: float(getattr(model, name)) for name in _parameters(model)},
                        dtype=torch.float64, compute_forces=True, compute_stress=True,
                        per_atom_energies=True, per_atom_stresses=True)
    step = 1e-5 * float(model.cutoff)

    def dimer(distance):
        atoms = Atoms("Ar2", positions=[[0, 0, 0], [distance, 0, 0]])
        return evaluate_systems(probe, [atoms], {})[0]

    for r in np.array([0.45, 0.35, 0.55, 0.3]) * float(model.cutoff):  # E, F != 0 there
        mid = dimer(r)
        slope = (dimer(r + step)["energy"] - dimer(r - step)["energy"]) / (2 * step)
        if abs(mid["energy"]) > 1e-6 and abs(slope) > 1e-6:
            break
    factors = {"forces": mid["forces"][1, 0] / -slope}
    if "energies" in mid:
        factors["energies"] = mid["energies"].sum() / mid["energy"]
    for name, value in factors.items():
        if not (abs(value - 1) < 1e-4 or abs(value - 2) < 1e-4):
            raise CalculatorSetupError(
                f"{type(model).__name__}: {name} are {value:.6g} x what its energy implies "
                "(expected 1 or 2); this torch-sim version is not supported")
        factors[name] = float(round(value))
    return factors


def _parameters(model) -> list[str]:
    return [name for name in ("sigma", "epsilon", "alpha", "cutoff") if hasattr(model, name)]


def evaluate_systems(model, systems: list, factors: dict[str, float]) -> list[dict]:
    """Energy, forces, per-atom energies (and, if periodic, stress and per-atom stresses) of
    several ase.Atoms with equal pbc, in one model call on one ``SimState``; outputs divided
    by `factors` (from `calibrate`)."""
    import torch
    from torch_sim.state import SimState

    periodic = {_check_pbc(atoms.pbc) for atoms in systems}
    if len(periodic) != 1:
        raise ValueError("one torch-sim call takes only periodic or only open systems")
    (periodic,) = periodic
    device, dtype = model.device, model.dtype
    sizes = [len(atoms) for atoms in systems]
    rotations = [_symmetrising_rotation(atoms) for atoms in systems]
    rows = [(a.positions, a.cell.array) if q is None else (a.positions @ q.T, a.cell.array @ q.T)
            for a, q in zip(systems, rotations, strict=True)]
    positions = torch.tensor(np.concatenate([r for r, _ in rows]), dtype=dtype, device=device)
    state = SimState(
        positions=positions,
        masses=torch.ones(len(positions), dtype=dtype, device=device),  # unused by the model
        cell=torch.tensor(np.stack([h.T for _, h in rows]), dtype=dtype,
                          device=device),  # torch-sim's cell holds column vectors
        pbc=periodic,
        atomic_numbers=torch.tensor(np.concatenate([a.numbers for a in systems]),
                                    dtype=torch.int, device=device),
        system_idx=torch.repeat_interleave(torch.arange(len(systems), device=device),
                                           torch.tensor(sizes, device=device)))
    with torch.no_grad():
        out = {key: value.detach().cpu().numpy() for key, value in model(state).items()}
    force_factor = factors.get("forces", 1.0)
    out["forces"] /= force_factor
    if "energies" in out:
        out["energies"] /= factors.get("energies", 1.0)
    bounds = np.cumsum([0] + sizes)
    results = []
    for i, q in enumerate(rotations):
        atom = slice(bounds[i], bounds[i + 1])
        forces = out["forces"][atom]
        # views, not copies: select() and ASE's get_property copy what they hand out
        result = {"energy": float(out["energy"][i]),
                  "forces": forces if q is None else forces @ q}
        if "energies" in out:
            result["energies"] = out["energies"][atom]
        if periodic:
            back = (lambda t: t) if q is None else (lambda t, q=q: q.T @ t @ q)
            result["stress"] = voigt(back(out["stress"][i]) / force_factor)
            if "stresses" in out:
                result["stresses"] = voigt(back(out["stresses"][atom]) / force_factor)
        result["free_energy"] = result["energy"]
        results.append(result)
    return results


class TorchSimCalculator(Calculator):
    """An ASE calculator around a torch-sim model (a batch of one system)."""

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.factors = calibrate(model)
        self.implemented_properties = ["energy", "free_energy", "forces", "stress"]
        if "energies" in self.factors:  # the model returns per-atom values
            self.implemented_properties += ["energies", "stresses"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        (self.results,) = evaluate_systems(self.model, [self.atoms], self.factors)


class TorchSimBackend(Backend):
    """Many systems through one torch-sim model: one ``SimState`` per batch (periodic and
    open systems in separate calls, as torch-sim's pbc is one flag per state)."""

    def __init__(self, calculator: TorchSimCalculator, batched: bool = False):
        super().__init__(batched)
        self.model, self.factors = calculator.model, calculator.factors
        self.implemented_properties = tuple(
            p for p in PROPERTIES if p in calculator.implemented_properties)
        self.name = f"TorchSimCalculator({type(self.model).__name__})"

    def _prepare(self, request: Request):
        periodic = _check_pbc(request.pbc)
        if not periodic and {"stress", "stresses"} & set(request.properties):
            from ase.calculators.calculator import PropertyNotImplementedError

            raise PropertyNotImplementedError(
                f"{self.name} has no stress for an open (non-periodic) system")
        return request.to_atoms()

    def _groups(self, ready, requests):
        groups = super()._groups(ready, requests)
        if not self.batched:
            return groups
        split = []
        for group in groups:
            for periodic in (True, False):
                part = [item for item in group if bool(item[1].pbc.all()) == periodic]
                if part:
                    split.append(part)
        return split

    def _run(self, inputs: list, requests: list[Request]) -> list[dict]:
        values = evaluate_systems(self.model, inputs, self.factors)
        return [select(request, v) for request, v in zip(requests, values, strict=True)]


def _torchsim(kind: str, sigma: Annotated[float | None, POSITIVE_LENGTH] = None,
              epsilon: Annotated[float | None, POSITIVE_ENERGY] = None,
              cutoff: Annotated[float | None, POSITIVE_LENGTH] = None,
              alpha: Annotated[float, Range(gt=0, unit="1/Angstrom")] = 5.0,
              device: str = "cpu", dtype: str = "float64") -> CalculatorSpec:
    """torch-sim's float64 pair potentials (the options of `build_model`, listed here so they
    are checked before torch loads); sigma and epsilon are required, as for ``lj``; alpha is
    Morse's."""
    require_pair(f"torchsim-{kind}", sigma, epsilon)
    return CalculatorSpec(TorchSimCalculator(build_model(
        kind, sigma=sigma, epsilon=epsilon, cutoff=cutoff, alpha=alpha, device=device,
        dtype=dtype)))


def backend(calculator, batched: bool | None) -> Backend | None:
    """`TorchSimBackend` for a `TorchSimCalculator` (batched on CUDA unless told), else None."""
    if not isinstance(calculator, TorchSimCalculator):
        return None
    return TorchSimBackend(calculator, batched=batched_default(calculator.model.device, batched))


ENTRIES = {"torchsim-lj": entry(_torchsim, "lj", drop=("alpha",)),
           "torchsim-morse": entry(_torchsim, "morse")}

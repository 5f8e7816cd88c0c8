"""UMA (fairchem): ``uma-s-1p1`` and ``uma-m-1p1`` by name (option ``task``), and the batch
backend of any ``FAIRChemCalculator``.

Why one module: the tasks, the CPU inference settings, the omol charge/spin defaults and the
way a batch of systems goes through one ``predict_unit.predict`` follow fairchem's own code,
so they change together when fairchem does.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import numpy as np
from ase import Atoms
from ase.stress import full_3x3_to_voigt_6_stress as voigt  # (n, 3, 3) -> (n, 6), ASE order

from ..errors import CalculatorSetupError
from ..serve.batch import Backend, Request, asks_energy_only, split
from .base import CalculatorSpec, batched_default, entry, is_instance, offline_weights
from .options import SPIN_MULTIPLICITY

if TYPE_CHECKING:
    import torch

UMA_TASKS = ("omol", "omat", "odac", "oc20", "omc")


def _uma(name: str, task: str | None = None, device: str = "cpu", precision: str = "float32",
         weights: str | None = None, inference_settings: object = None,
         charge: int | None = None,
         spin: Annotated[int | None, SPIN_MULTIPLICITY] = None) -> CalculatorSpec:
    """UMA (fairchem): by name through fairchem's pretrained-model loader (downloads when
    online), or from a local inference checkpoint (`weights`)."""
    if task not in UMA_TASKS:
        raise CalculatorSetupError(
            f"{name} needs task= one of {', '.join(UMA_TASKS)} (e.g. omol for molecules, omat "
            "for inorganic materials, odac for MOFs), not {task!r}")
    try:
        from fairchem.core import FAIRChemCalculator
        from fairchem.core.calculate import pretrained_mlip
        from fairchem.core.units.mlip_unit import InferenceSettings, load_predict_unit
    except ImportError as exc:
        raise CalculatorSetupError(
            f"{name} needs fairchem-core: pip install 'lammps-mliap-ase[fairchem]' "
            "-c constraints.txt") from exc
    if inference_settings is None:
        if device == "cpu":  # fairchem's default compiles (~1 min) and may use reduced precision
            inference_settings = InferenceSettings(
                tf32=False, activation_checkpointing=False, merge_mole=False, compile=False,
                external_graph_gen=False, base_precision_dtype=precision)
        else:
            inference_settings = "default"
    if weights is not None:
        unit = load_predict_unit(str(weights), inference_settings=inference_settings,
                                 device=device)
    else:
        with offline_weights(name, "--weights PATH (an inference checkpoint)"):
            unit = pretrained_mlip.get_predict_unit(name, inference_settings=inference_settings,
                                                    device=device)
    options = {}
    if task == "omol":  # charge and spin are inputs of the omol task (ints)
        options = {"charge": 0 if charge is None else charge, "spin": 1 if spin is None else spin}
    return CalculatorSpec(FAIRChemCalculator(unit, task_name=task), options)


class FairchemBackend(Backend):
    """UMA/eSEN (fairchem): per-system ``AtomicData``, one batch, one ``predict_unit.predict``.

    Each system is converted as ``FAIRChemCalculator`` converts it (its ``a2g``: task name,
    charge/spin from ``info`` as ints, the unit's precision) after the unit's own validation
    (defaults charge 0 / spin 1 for omol, type and range checks).  Batching follows fairchem's
    ``InferenceBatcher``, whose Ray batch server collates ``AtomicData`` with
    ``atomicdata_list_to_batch``, calls ``predict`` once and splits per-system outputs by
    index and per-atom outputs by ``batch``; we do the same without Ray.  No per-atom
    energies or stresses.

    Two kinds of system never share a pass: a single isolated atom (fairchem answers it from
    a reference table and rejects it inside a batch), and anything while the unit runs a
    model *merged for one composition* (``merge_mole``, the "turbo"/"multigpu" settings, or
    Nitro).  Such a unit cannot batch different compositions, charges or spins; we evaluate
    one system at a time, and fairchem itself, on the first system that breaks the merge,
    warns, reloads the unmerged model and keeps it -- from then on `evaluate` batches again.
    For batched evaluation from the start build the unit with ``merge_mole=False`` (as our
    registry does on the CPU) or fairchem's ``"batch"`` settings.

    A group asking for the energy alone (Monte Carlo trials) skips the autograd pass where
    fairchem allows it (`energy_only`).
    """

    def __init__(self, calculator, batched: bool = False):
        super().__init__(batched)
        self.calculator = calculator
        self.unit = calculator.predictor
        self.name = f"FAIRChemCalculator(task={calculator.task_name})"
        self.implemented_properties = tuple(
            p for p in ("energy", "forces", "stress") if p in calculator.implemented_properties)

    @property
    def merged(self) -> bool:
        """True while the unit's model is specialised to one composition (read per batch:
        fairchem switches merging off by itself when a system breaks it)."""
        settings = self.unit.inference_settings
        return bool(getattr(settings, "merge_mole", False) or getattr(settings, "nitro", False))

    def _groups(self, ready, requests):
        if self.merged:
            return [[item] for item in ready]
        return super()._groups(ready, requests)

    def _alone(self, request: Request, prepared) -> bool:
        return len(request.numbers) == 1 and not request.pbc.any()

    def _prepare(self, request: Request):
        return _data(self.calculator, request.to_atoms())

    def _run(self, inputs: list, requests: list[Request]) -> list[dict]:
        from fairchem.core.datasets.atomic_data import atomicdata_list_to_batch

        n = len(inputs)
        batch = atomicdata_list_to_batch(inputs)
        if asks_energy_only(requests[0]) and _energy_only_unit(self.unit):
            # energy-only group (Monte Carlo trials): no autograd pass
            energy = _energies(self.unit, batch).cpu().numpy()
            return split(requests, energy, None, None)
        pred = self.unit.predict(batch)
        energy = pred["energy"].detach().reshape(n).cpu().numpy()
        forces = pred["forces"].detach().cpu().numpy() if "forces" in pred else None
        stress = (voigt(pred["stress"].detach().reshape(n, 3, 3).cpu().numpy())
                  if "stress" in pred else None)
        return split(requests, energy, forces, stress)


def _data(calculator, atoms: Atoms):
    """``AtomicData`` of `atoms` as ``FAIRChemCalculator.calculate`` makes it: its checks (no
    atoms, pbc with a zero cell), the unit's validation (which sets omol's charge/spin
    defaults in ``atoms.info``, as the calculator does) and its ``a2g``."""
    from fairchem.core.calculate.ase_calculator import AllZeroUnitCellError

    if len(atoms) == 0:
        raise ValueError("Atoms object has no atoms inside.")
    if atoms.pbc.all() and np.allclose(atoms.cell.array, 0):
        raise AllZeroUnitCellError
    calculator.predictor.validate_atoms_data(atoms, calculator.task_name)
    return calculator.a2g(atoms)


def _energy_only_unit(unit) -> bool:
    """Whether `unit` can skip the gradient: a local ``MLIPPredictUnit`` (not Nitro, whose
    fused model has no such switch; not the Ray-parallel or batch-server units, whose model
    runs elsewhere) on a model whose backbone computes forces by autograd
    (``regress_config`` with ``direct_forces`` off; a direct-force model already runs under
    ``no_grad`` and gets forces in the same forward).  Read per call: fairchem may reload
    the model (falling back from a merged or Nitro model)."""
    if not is_instance(unit, "fairchem", "MLIPPredictUnit"):
        return False
    if getattr(unit.inference_settings, "nitro", False):
        return False
    if getattr(type(unit).predict, "__wrapped__", None) is None:
        return False
    config = getattr(unit.model.module.backbone, "regress_config", None)
    return config is not None and not config.direct_forces


@contextmanager
def _gradients_off(model):
    """fairchem's own switch for an energy-only pass: ``GradRegressConfig`` with forces,
    stress and hessian off (what ``MLP_Energy_Head`` and ``HydraModel.add_tasks`` rely on):
    ``conditional_grad`` then leaves grad mode alone, the backbone does not mark positions
    and cell as requiring grad, and ``MLP_EFS_Head`` returns the energy alone.

    Every ``regress_config`` of `model`'s modules is switched, not only the backbone's: the
    heads share the backbone's object when built, but a MOLE merge replaces the backbone
    (with a new config) and leaves the heads on the old one -- switching the backbone's
    alone made the heads differentiate an energy that no longer depends on the positions
    (RuntimeError, measured).  Restored afterwards, also on an error.  Not thread-safe: no
    other thread may call the same unit meanwhile (a backend drives its model from one
    thread).
    """
    configs = {id(c): c for module in model.modules()
               if (c := getattr(module, "regress_config", None)) is not None}.values()
    saved = [(c.forces, c.stress, c.hessian) for c in configs]
    for config in configs:
        config.forces = config.stress = config.hessian = False
    try:
        yield
    finally:
        for config, (forces, stress, hessian) in zip(configs, saved, strict=True):
            config.forces, config.stress, config.hessian = forces, stress, hessian


def _energies(unit, batch) -> torch.Tensor:
    """Per-system energies (eV) of an ``AtomicData`` batch, as ``unit.predict`` reports them,
    without forces, stress or any autograd pass.

    Runs the unit's own ``predict`` (lazy initialisation, dtype, single-atom lookup, MOLE
    checks and fall-backs, element references, normalisers) with the gradient switched off
    and under ``torch.no_grad``.  It calls the function that ``@collate_predictions`` wraps
    (``functools.wraps``' ``__wrapped__``), because that decorator collates *every* task of
    the dataset, forces and stress included, which an energy-only pass does not produce;
    the energy of system i is then ``preds[<its dataset's energy task>][i]``, the element
    the decorator would have picked.

    Where fairchem replaces the model inside ``predict`` (the first call's MOLE merge, a
    fall-back from a merged or Nitro model), the new model's modules still have their
    gradients on, so that one call computes forces too -- the energy is the same.
    """
    import torch

    predict = type(unit).predict.__wrapped__
    with _gradients_off(unit.model.module), torch.no_grad():
        preds = predict(unit, batch, True)
    names = {}
    for dataset in set(batch.dataset):
        names[dataset] = next(task.name for task in unit.dataset_to_tasks[dataset]
                              if task.property == "energy")
    return torch.stack([preds[names[dataset]][i].reshape(())
                        for i, dataset in enumerate(batch.dataset)]).detach()


def energy_only(calculator) -> Callable[[Atoms], float] | None:
    """For a ``FAIRChemCalculator`` whose model computes forces by autograd (UMA, conserving
    eSEN): ``f(atoms)`` = the calculator's energy (eV) of `atoms` without the forces/stress
    backward pass (what LAMMPS' Monte Carlo fixes need: they discard a trial's forces).

    None for other calculators, for direct-force models (fairchem already runs them under
    ``no_grad``, forces from the same forward: the plain call is as cheap) and for units
    fairchem gives no gradient switch for (Nitro, Ray-parallel, batch server) -- see
    `_energy_only_unit`.  The calculator's cache is not touched.
    """
    if not is_instance(calculator, "fairchem", "FAIRChemCalculator"):
        return None
    unit = calculator.predictor
    if not _energy_only_unit(unit):
        return None

    def energy(atoms: Atoms) -> float:
        return float(_energies(unit, _data(calculator, atoms))[0])

    return energy


def backend(calculator, batched: bool | None) -> Backend | None:
    """`FairchemBackend` for a ``FAIRChemCalculator`` (batched on CUDA unless told), else
    None."""
    if not is_instance(calculator, "fairchem", "FAIRChemCalculator"):
        return None
    device = calculator.predictor.device
    return FairchemBackend(calculator, batched=batched_default(device, batched))


ENTRIES = {name: entry(_uma, name) for name in ("uma-s-1p1", "uma-m-1p1")}

"""UMA (fairchem): ``uma-s-1p1`` and ``uma-m-1p1`` by name (option ``task``), and the batch
backend of any ``FAIRChemCalculator``.

Why one module: the tasks, the CPU inference settings, the omol charge/spin defaults and the
way a batch of systems goes through one ``predict_unit.predict`` follow fairchem's own code,
so they change together when fairchem does.
"""

from __future__ import annotations

import numpy as np
from ase.stress import full_3x3_to_voigt_6_stress as voigt  # (n, 3, 3) -> (n, 6), ASE order

from ..errors import CalculatorSetupError
from ..serve.batch import Backend, Request, split
from .base import CalculatorSpec, batched_default, entry, is_instance, offline_weights

UMA_TASKS = ("omol", "omat", "odac", "oc20", "omc")


def _uma(name: str, task: str | None = None, device: str = "cpu", precision: str = "float32",
         weights: str | None = None, inference_settings: object = None,
         charge: int | None = None, spin: int | None = None) -> CalculatorSpec:
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
        from fairchem.core.calculate.ase_calculator import AllZeroUnitCellError

        atoms = request.to_atoms()
        if len(atoms) == 0:
            raise ValueError("Atoms object has no atoms inside.")
        if atoms.pbc.all() and np.allclose(atoms.cell.array, 0):
            raise AllZeroUnitCellError
        self.unit.validate_atoms_data(atoms, self.calculator.task_name)
        return self.calculator.a2g(atoms)

    def _run(self, inputs: list, requests: list[Request]) -> list[dict]:
        from fairchem.core.datasets.atomic_data import atomicdata_list_to_batch

        n = len(inputs)
        pred = self.unit.predict(atomicdata_list_to_batch(inputs))
        energy = pred["energy"].detach().reshape(n).cpu().numpy()
        forces = pred["forces"].detach().cpu().numpy() if "forces" in pred else None
        stress = (voigt(pred["stress"].detach().reshape(n, 3, 3).cpu().numpy())
                  if "stress" in pred else None)
        return split(requests, energy, forces, stress)


def backend(calculator, batched: bool | None) -> Backend | None:
    """`FairchemBackend` for a ``FAIRChemCalculator`` (batched on CUDA unless told), else
    None."""
    if not is_instance(calculator, "fairchem", "FAIRChemCalculator"):
        return None
    device = calculator.predictor.device
    return FairchemBackend(calculator, batched=batched_default(device, batched))


ENTRIES = {name: entry(_uma, name) for name in ("uma-s-1p1", "uma-m-1p1")}

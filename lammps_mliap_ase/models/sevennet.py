"""SevenNet (sevenn): the models whose weights ship inside sevenn's wheel, their batch backend
and their energy-only pass.

Why one module: the names, the multi-fidelity ``modal``, how SevenNetCalculator builds its
graph and reads its outputs, how sevenn batches graphs and how its own deployment drops the
force module all follow sevenn's code, so they change together when sevenn does.

Names (checkpoints inside the sevenn 0.13.0 wheel, no download): ``sevennet-0`` (SevenNet-0,
11 Jul 2024), ``sevennet-0-22may2024`` (its first release), ``sevennet-l3i5`` (lmax 3, 5
layers: slower, more accurate) and ``sevennet-mf-0`` (multi-fidelity: ``modal=PBE`` or
``R2SCAN``, required).  All are trained on PBE(+U) data (MPtrj; R2SCAN fidelity of
sevennet-mf-0 on MP-r2SCAN) without dispersion: overlay LAMMPS' ``pair_style dispersion/d3``
(sevenn's own D3 calculator needs CUDA).  Option ``device``: cpu, cuda or cuda:N.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import CalculatorSetupError
from ..serve.batch import Backend, Request, asks_energy_only, select
from .base import CalculatorSpec, batched_default, entry, is_instance

#: registry name -> sevenn's pretrained name
MODELS = {"sevennet-0": "7net-0", "sevennet-0-22may2024": "7net-0_22May2024",
          "sevennet-l3i5": "7net-l3i5", "sevennet-mf-0": "7net-mf-0"}

#: the fidelities of sevennet-mf-0: its checkpoint's modal_map (tests/test_sevennet.py checks)
MF_MODALS = ("PBE", "R2SCAN")

#: the names sevenn's own LAMMPS ML-IAP exporter writes (`lammps-ase export NAME`)
MLIAP_EXPORTS = tuple(MODELS)


def _modal(name: str, modal: str | None) -> str | None:
    """The fidelity of sevennet-mf-0 as its checkpoint spells it (any case); None otherwise."""
    if name != "sevennet-mf-0":
        return modal
    canonical = {m.lower(): m for m in MF_MODALS}.get(str(modal).lower())
    if canonical is None:
        raise CalculatorSetupError(
            f"{name} needs modal= one of {', '.join(MF_MODALS)} (the DFT fidelity it "
            f"reproduces: PBE(+U) like sevennet-0, or r2SCAN), not {modal!r}")
    return canonical


def export_mliap(name: str, path: Path, modal: str | None = None) -> Path:
    """Write `name` as a LAMMPS ML-IAP unified model with sevenn's own exporter, exactly
    `sevenn_get_model CHECKPOINT --use_mliap -o PATH [-m MODAL]` (its SevenNetMLIAPWrapper,
    saved with torch.save).  The wrapper runs on CUDA when torch sees a GPU where it is
    exported, else on the CPU (sevenn's choice, kept in the file)."""
    path = Path(path)
    if path.suffix != ".pt":  # sevenn appends .pt to any other name; LAMMPS torch.loads .pt
        raise CalculatorSetupError(
            f"name the export {path.with_suffix('.pt').name} (ending in .pt): LAMMPS loads "
            "'pair_style mliap unified FILE' with torch.load only for .pt/.pth files, and "
            f"sevenn would write {path}.pt")
    modal = _modal(name, modal)
    sevenn_get_model = _sevenn(name, "sevenn.main.sevenn_get_model")
    parser = argparse.ArgumentParser()
    sevenn_get_model.add_args(parser)
    argv = [MODELS[name], "--use_mliap", "-o", str(path)] + (["-m", modal] if modal else [])
    with _no_accelerator_advice():
        sevenn_get_model.run(parser.parse_args(argv))
    return path


def _sevennet(name: str, device: str = "cpu", modal: str | None = None) -> CalculatorSpec:
    """SevenNetCalculator with the checkpoint shipped in sevenn's wheel."""
    modal = _modal(name, modal)
    calculator = _sevenn(name, "sevenn.calculator").SevenNetCalculator
    with _no_accelerator_advice():
        calc = calculator(MODELS[name], device=device, modal=modal)
    return CalculatorSpec(calc)


def _sevenn(name: str, module: str):
    """sevenn's `module`, or the one line that says how to install it for model `name`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CalculatorSetupError(
            f"{name} needs sevenn: pip install 'lammps-mliap-ase[sevennet]' -c constraints.txt"
        ) from exc


@contextlib.contextmanager
def _no_accelerator_advice():
    """sevenn's advice to install CUDA tensor-product kernels, held back (one per model)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No tensor product accelerator")
        yield


def _graph(calc, atoms):
    """The input graph of `atoms`, exactly as ``SevenNetCalculator.calculate`` builds it."""
    import sevenn._keys as KEY
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.train.dataload import unlabeled_atoms_to_graph

    data = AtomGraphData.from_numpy_dict(
        unlabeled_atoms_to_graph(atoms, calc.cutoff, with_shift=False))
    if calc.modal:
        data[KEY.DATA_MODALITY] = calc.modal
    return data.to(calc.device)


def _energy_model(model):
    """`model` without its force/stress module, as sevenn's own deployment drops it
    (``delete_module_by_key('force_output')``): a shallow copy sharing every other module and
    parameter, so nothing is duplicated and the calculator's model is untouched."""
    energy = copy.copy(model)
    energy._modules = OrderedDict(model._modules)
    energy.delete_module_by_key("force_output")
    return energy


@contextlib.contextmanager
def _batch_mode(model, on: bool):
    """sevenn's models run a single graph or a torch_geometric batch depending on a flag
    (``set_is_batch_data``); the calculator keeps it off.  On for a batch, off again after."""
    if not on:
        yield
        return
    model.set_is_batch_data(True)
    try:
        yield
    finally:
        model.set_is_batch_data(False)


def energy_only(calculator) -> Callable | None:
    """For a SevenNetCalculator: atoms -> energy (eV) from the model without its force
    module and with autograd off (the same energy as the calculator's, bit for bit in our
    measurements; 3-5x faster); None for any other calculator."""
    if not is_instance(calculator, "sevenn", "SevenNetCalculator"):
        return None
    model = _energy_model(calculator.model)

    def energy(atoms) -> float:
        import sevenn._keys as KEY
        import torch

        with torch.no_grad():
            return model(_graph(calculator, atoms))[KEY.PRED_TOTAL_ENERGY].item()

    return energy


class SevenNetBackend(Backend):
    """SevenNet: per-system graphs, one torch_geometric batch, one forward pass.

    Graphs are built as ``SevenNetCalculator.calculate`` builds them (its cutoff, modal and
    device) and outputs read as its ``output_to_results`` reads them (stress sign and Voigt
    order), so a batch of one -- the calculator's model on one graph, batch mode off -- is the
    calculator's own call.  Larger batches are collated as sevenn batches graphs (its
    torch-sim interface, its inference script: ``Collater``, batch mode on).  Per-atom
    energies are the model's atomic energies, whose sum is the energy.  Energy-only requests
    run the model without its force module, autograd off (`energy_only`).
    """

    implemented_properties = ("energy", "forces", "stress", "energies")

    def __init__(self, calculator, batched: bool = False):
        super().__init__(batched)
        self.calculator = calculator
        self.energy_model = _energy_model(calculator.model)
        self.name = "SevenNetCalculator" + (f"(modal={calculator.modal})"
                                            if calculator.modal else "")

    def _prepare(self, request: Request):
        atoms = request.to_atoms()
        self.calculator.set_atoms(atoms)  # its check for elements the model does not know
        return _graph(self.calculator, atoms)

    def _run(self, inputs: list, requests: list[Request]) -> list[dict]:
        import sevenn._keys as KEY
        import torch
        from torch_geometric.loader.dataloader import Collater

        full = not asks_energy_only(requests[0])
        model = self.calculator.model if full else self.energy_model
        batched = len(inputs) > 1
        data = (Collater([], follow_batch=None, exclude_keys=None)(inputs).to(
            self.calculator.device) if batched else inputs[0])
        with _batch_mode(model, batched), (contextlib.nullcontext() if full
                                           else torch.no_grad()):
            out = model(data)
        bounds = np.cumsum([0] + [len(r.numbers) for r in requests])
        energy = out[KEY.PRED_TOTAL_ENERGY].detach().cpu().numpy().reshape(-1)
        atomic = out[KEY.ATOMIC_ENERGY].detach().cpu().numpy().reshape(-1)
        forces = stress = None
        if full:
            forces = out[KEY.PRED_FORCE].detach().cpu().numpy()
            stress = -out[KEY.PRED_STRESS].detach().cpu().numpy().reshape(-1, 6)
            stress = stress[:, [0, 1, 2, 4, 5, 3]]  # xx yy zz xy yz zx -> ASE's Voigt order
        return [select(request, {
            "energy": energy[i],
            "forces": None if forces is None else forces[bounds[i]:bounds[i + 1]],
            "stress": None if stress is None else stress[i],
            "energies": atomic[bounds[i]:bounds[i + 1]]})
            for i, request in enumerate(requests)]


def backend(calculator, batched: bool | None) -> Backend | None:
    """`SevenNetBackend` for a ``SevenNetCalculator`` (batched on CUDA unless told), else
    None."""
    if not is_instance(calculator, "sevenn", "SevenNetCalculator"):
        return None
    return SevenNetBackend(calculator, batched=batched_default(calculator.device, batched))


ENTRIES = {name: entry(_sevennet, name, drop=() if name == "sevennet-mf-0" else ("modal",))
           for name in MODELS}

"""CHGNet (chgnet): the models whose weights ship inside chgnet's wheel, their batch backend
and their energy-only pass.

Why one module: the names, how CHGNetCalculator turns atoms into a graph (through pymatgen)
and its outputs into ASE units (energy per atom -> total, stress GPa -> eV/A^3), and how
chgnet batches graphs (``predict_graph`` on a list) follow chgnet's code, so they change
together when chgnet does.

Names (checkpoints inside the chgnet 0.4.2 wheel, no download): ``chgnet`` (CHGNet 0.3.0,
the library's default), ``chgnet-0.2.0`` and ``chgnet-r2scan`` (transfer-learned on
MP-r2SCAN).  0.3.0 and 0.2.0 are trained on PBE(+U) data (MPtrj) without dispersion: overlay
LAMMPS' ``pair_style dispersion/d3``.  Options: ``device`` (cpu, cuda or cuda:N) and
``on_isolated_atoms`` (ignore, warn, error: an atom with no neighbour within 6 A; warn
prints a line to stderr for every such call, as chgnet does).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

from ..errors import CalculatorSetupError
from ..serve.batch import Backend, Request, asks_energy_only, select
from .base import CalculatorSpec, batched_default, entry, is_instance

#: registry name -> chgnet's pretrained name (``CHGNet.load(model_name=...)``)
MODELS = {"chgnet": "0.3.0", "chgnet-0.2.0": "0.2.0", "chgnet-r2scan": "r2scan"}

ISOLATED_ATOMS = ("ignore", "warn", "error")

# rows and columns of ASE's Voigt order (xx yy zz yz xz xy) in a 3x3 stress: the elements the
# bridge reads from a calculator's 3x3 stress (adapter/results.py), so that the backend gives
# a replica what the calculator gives LAMMPS directly
_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])


def _chgnet(name: str, device: str = "cpu", on_isolated_atoms: str = "warn") -> CalculatorSpec:
    """CHGNetCalculator with the checkpoint shipped in chgnet's wheel."""
    if on_isolated_atoms not in ISOLATED_ATOMS:
        raise CalculatorSetupError(
            f"option on_isolated_atoms of {name} takes one of {', '.join(ISOLATED_ATOMS)}, not "
            f"{on_isolated_atoms!r}")
    try:
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError as exc:
        raise CalculatorSetupError(
            f"{name} needs chgnet: pip install 'lammps-mliap-ase[chgnet]' -c constraints.txt"
        ) from exc
    # chgnet prints its parameter count and device to stdout, where LAMMPS writes its output
    with contextlib.redirect_stdout(io.StringIO()):
        model = CHGNet.load(model_name=MODELS[name], use_device=device, verbose=False)
        calc = CHGNetCalculator(model=model, use_device=device,
                                on_isolated_atoms=on_isolated_atoms)
    return CalculatorSpec(calc)


def _graph(model, atoms):
    """The crystal graph of `atoms`, exactly as ``CHGNetCalculator.calculate`` builds it."""
    from pymatgen.io.ase import AseAtomsAdaptor

    return model.graph_converter(AseAtomsAdaptor.get_structure(atoms))


def energy_only(calculator) -> Callable | None:
    """For a CHGNetCalculator: atoms -> energy (eV) from chgnet's energy task (``task='e'``:
    no force or stress gradient) with autograd off; the same energy as the calculator's (bit
    for bit in our measurements); None for any other calculator."""
    if not is_instance(calculator, "chgnet", "CHGNetCalculator"):
        return None
    model = calculator.model

    def energy(atoms) -> float:
        import torch
        from ase import Atoms

        # only what the graph depends on: pymatgen's converter would also read the results
        # of a calculator attached to `atoms` (magnetic moments of another system)
        bare = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell,
                     pbc=atoms.pbc)
        with torch.no_grad():
            graph = _graph(model, bare).to(calculator.device)
            out = model.predict_graph(graph, task="e", return_crystal_feas=False)
        return float(out["e"] * (len(bare) if model.is_intensive else 1))

    return energy


class CHGNetBackend(Backend):
    """CHGNet: per-system crystal graphs, one ``predict_graph`` over the list (one batched
    forward pass).

    Graphs are built as ``CHGNetCalculator.calculate`` builds them (pymatgen structure, the
    model's graph converter and its isolated-atom response) and outputs converted as it
    converts them (energy per atom times the number of atoms for the intensive models; stress
    in GPa times the calculator's ``stress_weight``), so a batch of one is the calculator's own
    call.  Forces and stress are chgnet's autograd gradients (task ``ef``, plus ``s`` when a
    request asks for stress); energy-only requests use its ``e`` task, autograd off.  No
    per-atom energies (the calculator gives them only when built with
    ``return_site_energies``).
    """

    implemented_properties = ("energy", "forces", "stress")

    def __init__(self, calculator, batched: bool = False):
        super().__init__(batched)
        self.calculator = calculator
        self.model = calculator.model
        self.name = f"CHGNetCalculator(CHGNet {calculator.version})"

    def _prepare(self, request: Request):
        return _graph(self.model, request.to_atoms())

    def _run(self, inputs: list, requests: list[Request]) -> list[dict]:
        import torch

        calc, model = self.calculator, self.model
        full = not asks_energy_only(requests[0])
        task = "e"
        if full:
            task = "efs" if any("stress" in r.properties for r in requests) else "ef"
        graphs = [graph.to(calc.device) for graph in inputs]
        with contextlib.nullcontext() if full else torch.no_grad():
            out = model.predict_graph(graphs, task=task, batch_size=len(graphs))
        out = [out] if len(graphs) == 1 else out
        results = []
        for request, pred in zip(requests, out, strict=True):
            factor = len(request.numbers) if model.is_intensive else 1
            values = {"energy": pred["e"] * factor, "forces": pred.get("f")}
            if "s" in pred:
                values["stress"] = (pred["s"] * calc.stress_weight)[_VOIGT]
            results.append(select(request, values))
        return results


def backend(calculator, batched: bool | None) -> Backend | None:
    """`CHGNetBackend` for a ``CHGNetCalculator`` (batched on CUDA unless told), else None."""
    if not is_instance(calculator, "chgnet", "CHGNetCalculator"):
        return None
    return CHGNetBackend(calculator, batched=batched_default(calculator.device, batched))


ENTRIES = {name: entry(_chgnet, name) for name in MODELS}

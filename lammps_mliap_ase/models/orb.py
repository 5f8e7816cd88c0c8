"""Orb-v3 (orb-models): every ``orb-v3-*`` model by name, and its batch backend.

Why one module: the names, how weights load (by name, ``weights=PATH`` or seeded random
weights), the OMol charge/spin defaults and the way a batch of systems goes through one
``model.predict`` all follow orb-models' own code, so they change together when orb-models
does.  ``random_weights=True`` builds the real architecture with seeded random weights and
loads it through the library's own loader from a local file, so the real code paths run
offline (tests, benchmarks).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from ase import Atoms

from ..errors import CalculatorSetupError
from ..serve.batch import Backend, Request, asks_energy_only, split
from .base import CalculatorSpec, batched_default, entry, is_instance, offline_weights
from .options import SPIN_MULTIPLICITY

# orb-v3-{direct|conservative}-{20|inf}-{omat|mpa} and orb-v3-{direct|conservative}-omol
_ORB_NAME = re.compile(r"^orb-v3-(direct|conservative)-(?:(20|inf)-(omat|mpa)|(omol))$")


def orb_architecture(name: str, device: str = "cpu"):
    """The network of an Orb-v3 model with fresh (random) weights, exactly as orb-models'
    loader builds it before loading weights (6 A radius; 20 or 120 neighbours; OMol models are
    conditioned on charge and spin and have no stress head)."""
    from orb_models.forcefield import pretrained
    from orb_models.forcefield.atomic_system import SystemConfig

    match = _ORB_NAME.match(name)
    if not match:
        raise CalculatorSetupError(f"{name!r} is not an Orb-v3 model name")
    kind, neighbours, _, omol = match.groups()
    config = SystemConfig(radius=6.0, max_num_neighbors=20 if neighbours == "20" else 120)
    build = (pretrained.orb_v3_direct_architecture if kind == "direct"
             else pretrained.orb_v3_conservative_architecture)
    return build(device=device, system_config=config, has_charge_spin_cond=bool(omol),
                 has_stress=not omol)


def _orb(name: str, device: str = "cpu", precision: str = "float32-high",
         weights: str | None = None, compile: bool = False, random_weights: bool = False,
         seed: int = 0, charge: int | None = None,
         spin: Annotated[int | None, SPIN_MULTIPLICITY] = None) -> CalculatorSpec:
    try:
        import torch
        from orb_models.forcefield import pretrained
        from orb_models.forcefield.calculator import ORBCalculator
    except ImportError as exc:
        raise CalculatorSetupError(
            f"{name} needs orb-models: pip install 'lammps-mliap-ase[orb]' -c constraints.txt"
        ) from exc
    loader = pretrained.ORB_PRETRAINED_MODELS[name]
    kwargs = {"device": device, "precision": precision, "compile": compile}
    if random_weights:
        # the same weights whatever torch's global default dtype is (orb-models changes it)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)
        try:
            torch.manual_seed(seed)
            state = orb_architecture(name, "cpu").state_dict()
        finally:
            torch.set_default_dtype(previous)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}-random-{seed}.ckpt"
            torch.save(state, path)
            model = loader(weights_path=str(path), **kwargs)
    elif weights is not None:
        model = loader(weights_path=str(weights), **kwargs)
    else:
        with offline_weights(name, "--weights PATH, or random_weights=True to test the code "
                                   "path"):
            model = loader(**kwargs)  # the library downloads and caches the published weights
    options = {}
    if name.endswith("omol"):  # OMol models need atoms.info charge and spin
        options = {"charge": 0 if charge is None else charge, "spin": 1 if spin is None else spin}
    return CalculatorSpec(ORBCalculator(model, device=device), options)


def _entries() -> dict[str, Callable[..., CalculatorSpec]]:
    names = ["orb-v3-direct-omol", "orb-v3-conservative-omol"] + [
        f"orb-v3-{kind}-{n}-{data}" for kind in ("direct", "conservative")
        for n in ("20", "inf") for data in ("omat", "mpa")]
    return {name: entry(_orb, name) for name in names}


class OrbBackend(Backend):
    """Orb-v3 (orb-models): per-system ``AtomGraphs``, ``batch_graphs``, one ``predict``.

    Graphs are built exactly as ``ORBCalculator.calculate`` builds them (its system config,
    neighbour limit, edge method, device and torch's default dtype, which orb-models' loader
    sets from ``precision``), so a batch of one is the calculator's own call.  OMol models
    read ``info["charge"]``/``["spin"]`` per system (required, as in the calculator); other
    models ignore them, and they are left out of those graphs so every graph in a batch has
    the same features.  Orb has no per-atom energies or stresses; the OMol models have no
    stress.  Mixed pbc fails that request alone (orb-models' NotImplementedError).
    A group asking for the energy alone (Monte Carlo trials) runs a conservative model
    without its gradient pass (`energy_only`); a direct model takes its normal pass.
    """

    def __init__(self, calculator, batched: bool = False):
        super().__init__(batched)
        self.calculator = calculator
        self.name = f"ORBCalculator({type(calculator.model).__name__})"
        model = calculator.model
        props = ["energy", "forces"]
        if (model.has_stress if calculator.conservative else "stress" in model.heads):
            props.append("stress")
        self.implemented_properties = tuple(props)

    def _prepare(self, request: Request):
        return _graph(self.calculator, request.to_atoms(), self.name)

    def _run(self, inputs: list, requests: list[Request]) -> list[dict]:
        from orb_models.forcefield.base import batch_graphs

        calc, model = self.calculator, self.calculator.model
        batch = (inputs[0] if len(inputs) == 1 else batch_graphs(inputs)).to(calc.device)
        if asks_energy_only(requests[0]) and _is_conservative(model):
            # energy-only group (Monte Carlo trials): no gradient pass; a direct model's
            # forces come from the same forward, so it takes the normal pass below
            energy = _conservative_energy(model, batch).reshape(-1).cpu().numpy()
            return split(requests, energy, None, None)
        out = model.predict(batch)
        forces_key = model.grad_forces_name if calc.conservative else "forces"
        stress_key = model.grad_stress_name if calc.conservative else "stress"
        energy = out["energy"].detach().reshape(-1).cpu().numpy()
        forces = out[forces_key].detach().cpu().numpy()
        stress = (out[stress_key].detach().reshape(len(inputs), 6).cpu().numpy()
                  if "stress" in self.implemented_properties else None)
        return split(requests, energy, forces, stress)


def _graph(calc, atoms: Atoms, name: str = "ORBCalculator"):
    """The ``AtomGraphs`` of `atoms` exactly as ``ORBCalculator.calculate`` builds it (its
    system config, neighbour limit, edge method, half-supercell choice and device; torch's
    default dtype, which orb-models' loader sets from ``precision``).

    OMol models need ``info["charge"]`` and ``["spin"]`` (the calculator's own check).  Other
    models ignore them, and they are left out of the graph so that every graph of a batch has
    the same features (`atoms` is copied first, never changed).
    """
    from orb_models.forcefield.atomic_system import ase_atoms_to_atom_graphs

    if calc.expects_charge_and_spin:
        if "charge" not in atoms.info or "spin" not in atoms.info:
            raise ValueError("atoms.info must contain both 'charge' and 'spin' for "
                             f"{name} (an OMol model)")
    elif "charge" in atoms.info or "spin" in atoms.info:
        atoms = atoms.copy()
        atoms.info.pop("charge", None)
        atoms.info.pop("spin", None)
    return ase_atoms_to_atom_graphs(
        atoms, system_config=calc.system_config, max_num_neighbors=calc.max_num_neighbors,
        edge_method=calc.edge_method, half_supercell=calc.half_supercell, device=calc.device)


def _is_conservative(model) -> bool:
    return is_instance(model, "orb_models", "ConservativeForcefieldRegressor")


def _conservative_energy(model, batch):
    """Per-system energies (eV, a tensor) of a ``ConservativeForcefieldRegressor`` without
    its gradient pass: the energy part of its ``forward`` -- the same edge vectors (through
    ``compute_differentiable_edge_vectors``, zero displacement and identity rotation
    included), GNS, energy head and pair repulsion -- under ``torch.no_grad``, then what
    ``predict`` reports: ``denormalize(normalize(raw))``, the same sequence of float
    operations, so the value is the calculator's energy.  ``forward`` goes on to
    ``compute_gradient_forces_and_stress`` (autograd through the whole network, the larger
    part of the cost), which is what Monte Carlo trials do not need.

    Why no_grad and not inference_mode: the edge vectors set ``requires_grad`` on the
    graph's positions and make a ``requires_grad`` generator, which inference mode forbids
    on tensors that later leave it; no_grad keeps the same code path and is as fast here.
    """
    import torch

    with torch.no_grad():
        vectors, displacement, generator = batch.compute_differentiable_edge_vectors()
        batch.system_features["stress_displacement"] = displacement
        batch.system_features["generator"] = generator
        batch.edge_features["vectors"] = vectors
        node_features = model.model(batch)["node_features"]
        head = model.heads[model.energy_name]
        raw = head.denormalize(head(node_features, batch), batch)
        if model.pair_repulsion:
            raw += model.pair_repulsion_fn(batch)["energy"]
        return head.denormalize(head.normalize(raw, batch, online=False), batch)


def energy_only(calculator) -> Callable[[Atoms], float] | None:
    """For an ``ORBCalculator`` on a conservative model: ``f(atoms)`` = the calculator's
    energy (eV) of `atoms` without the autograd pass for forces and stress (what LAMMPS'
    Monte Carlo fixes need: they throw the forces of a trial away).  The calculator's state
    (cache, ``atoms``) is not touched.

    None for other calculators, and for Orb *direct* models: their forces and stress come
    from heads in the same forward pass as the energy, so the plain call is already as cheap.
    """
    if not is_instance(calculator, "orb_models", "ORBCalculator"):
        return None
    model = calculator.model
    if not _is_conservative(model):
        return None

    def energy(atoms: Atoms) -> float:
        batch = _graph(calculator, atoms).to(calculator.device)
        return float(_conservative_energy(model, batch).reshape(-1)[0])

    return energy


def backend(calculator, batched: bool | None) -> Backend | None:
    """`OrbBackend` for an ``ORBCalculator`` (batched on CUDA unless told), else None."""
    if not is_instance(calculator, "orb_models", "ORBCalculator"):
        return None
    return OrbBackend(calculator, batched=batched_default(calculator.device, batched))


ENTRIES = _entries()

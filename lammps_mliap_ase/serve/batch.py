"""Many systems, one model: the requests of several LAMMPS replicas evaluated together.

The model server (server.py) collects the systems that replicas send, cuts them into batches
with `pack` and hands each batch to a `Backend`, which returns one result dict (or one
exception) per system.  A backend evaluates through the model's *own* batch API, so a batch
is one forward pass and each system gets what the plain ASE calculator would give it alone:

* `OrbBackend` -- orb-models: one ``AtomGraphs`` per system built exactly as
  ``ORBCalculator.calculate`` builds it, ``batch_graphs``, one ``model.predict``, split by
  ``n_node``.  Direct and conservative models; charge/spin for the OMol models.
* `FairchemBackend` -- fairchem (UMA): one ``AtomicData`` per system built as
  ``FAIRChemCalculator`` builds it, ``atomicdata_list_to_batch``, one
  ``predict_unit.predict``, split by ``natoms`` (what fairchem's ``InferenceBatcher`` does
  inside its Ray batch server).
* `TorchSimBackend` -- torch-sim models (torchsim.py): one ``SimState`` of all systems.
* `AseBackend` -- any other ASE calculator, one system at a time (EMT, LJ, ...).

Why results are *independent arrays*: the server keeps them while it answers replicas, and a
view into a batched output tensor would pin (or, for reused buffers, change) memory that
belongs to the next batch.

Cost and budget: `Backend.cost` is the number of atoms.  Edges would track the memory of
graph models more closely, but counting them means building the graph, which is the work we
are budgeting; fairchem's batcher and torch-sim's autobatcher size batches by atoms too.

Not thread-safe: a backend drives one model; call `evaluate` from one thread at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.stress import full_3x3_to_voigt_6_stress as voigt  # (n, 3, 3) -> (n, 6), ASE order

from .results import _same_system

#: Everything a replica may ask for (ASE names and conventions).
PROPERTIES = ("energy", "forces", "stress", "energies", "stresses")


@dataclass
class Request:
    """One system to evaluate, in ASE units (Angstrom, e); `properties` says what to return."""

    numbers: np.ndarray  # (n,) int64 atomic numbers
    positions: np.ndarray  # (n, 3) float64
    cell: np.ndarray  # (3, 3) float64, rows a b c
    pbc: np.ndarray  # (3,) bool
    charges: np.ndarray | None = None  # (n,) initial_charges
    magmoms: np.ndarray | None = None  # (n, 3) initial_magmoms
    info: dict = field(default_factory=dict)  # atoms.info entries, e.g. charge, spin (ints)
    properties: tuple[str, ...] = ("energy", "forces")

    def __post_init__(self):
        n = len(self.numbers)
        shapes = {"numbers": (self.numbers, (n,)), "positions": (self.positions, (n, 3)),
                  "cell": (self.cell, (3, 3)), "pbc": (self.pbc, (3,)),
                  "charges": (self.charges, (n,)), "magmoms": (self.magmoms, (n, 3))}
        for name, (array, shape) in shapes.items():
            if array is not None and np.shape(array) != shape:
                raise ValueError(f"request {name} has shape {np.shape(array)}, expected {shape}")
        unknown = set(self.properties) - set(PROPERTIES)
        if unknown:
            raise ValueError(f"unknown properties {sorted(unknown)}; known: {PROPERTIES}")

    def to_atoms(self) -> Atoms:
        """An ase.Atoms with initial charges/moments and info set (what the calculator sees)."""
        atoms = Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell,
                      pbc=self.pbc)
        if self.charges is not None:
            atoms.set_initial_charges(self.charges)
        if self.magmoms is not None:
            atoms.set_initial_magnetic_moments(self.magmoms)
        atoms.info.update(self.info)
        return atoms


def pack(costs: list[int], budget: int | None) -> list[list[int]]:
    """Split request indices into consecutive batches whose summed cost is at most `budget`.

    A single request that alone exceeds the budget goes in a batch of its own (it must be
    evaluated somehow; the budget cannot make it smaller).  ``budget=None``: one batch.
    """
    if not costs:
        return []
    if budget is None:
        return [list(range(len(costs)))]
    batches: list[list[int]] = [[]]
    total = 0
    for index, cost in enumerate(costs):
        if batches[-1] and total + cost > budget:
            batches.append([])
            total = 0
        batches[-1].append(index)
        total += cost
    return batches


class Backend:
    """One model evaluating lists of `Request`s; subclasses implement `_prepare` and `_run`.

    `evaluate` checks each request, prepares it (model input, e.g. a graph; a failure fails
    that request alone), then runs the prepared ones together when `batched`, or one by one.
    A batched run that raises is retried one system at a time, so one bad system (or a model
    error it provokes) cannot spoil the results of the others.
    """

    name = "backend"
    implemented_properties: tuple[str, ...] = ()

    def __init__(self, batched: bool = False):
        self.batched = batched

    def cost(self, request: Request) -> int:
        """Size against the memory budget: the number of atoms (see the module docstring)."""
        return len(request.numbers)

    def evaluate(self, requests: list[Request]) -> list[dict | Exception]:
        results: list[dict | Exception] = [None] * len(requests)  # type: ignore[list-item]
        ready: list[tuple[int, object]] = []
        for index, request in enumerate(requests):
            try:
                self._check(request)
                ready.append((index, self._prepare(request)))
            except Exception as exc:  # noqa: BLE001 -- the request fails alone
                results[index] = exc
        for group in self._groups(ready, requests):
            self._run_group(group, requests, results)
        return results

    # -- for subclasses ------------------------------------------------------------------------

    def _prepare(self, request: Request) -> object:
        """The model input of one request (raise to fail this request alone)."""
        return request

    def _run(self, inputs: list, requests: list[Request]) -> list[dict]:
        """Evaluate prepared inputs together; one result dict per input."""
        raise NotImplementedError

    def _alone(self, request: Request, prepared: object) -> bool:
        """True when this request must never share a forward pass."""
        return False

    # -- shared machinery ----------------------------------------------------------------------

    def _check(self, request: Request) -> None:
        missing = [p for p in request.properties if p not in self.implemented_properties]
        if missing:
            raise PropertyNotImplementedError(
                f"{self.name} does not implement {', '.join(map(repr, missing))} (it "
                f"implements {', '.join(self.implemented_properties)}); ask for fewer "
                "properties or use a calculator that provides them")

    def _groups(self, ready, requests) -> list[list[tuple[int, object]]]:
        if not self.batched:
            return [[item] for item in ready]
        alone = [[item] for item in ready if self._alone(requests[item[0]], item[1])]
        together = [item for item in ready if not self._alone(requests[item[0]], item[1])]
        return ([together] if together else []) + alone

    def _run_group(self, group, requests, results) -> None:
        batch = [requests[index] for index, _ in group]
        try:
            outputs = self._run([prepared for _, prepared in group], batch)
        except Exception as exc:  # noqa: BLE001
            if len(group) == 1:
                results[group[0][0]] = exc
                return
            for item in group:  # find the culprit: the others still get their results
                self._run_group([item], requests, results)
            return
        for (index, _), output in zip(group, outputs, strict=True):
            results[index] = output


def select(request: Request, values: dict) -> dict:
    """The requested properties from `values`, as independent numpy arrays (energy: float)."""
    out = {}
    for name in request.properties:
        value = values[name]
        out[name] = float(value) if name == "energy" else np.array(value, dtype=np.float64)
    return out


def _split(requests: list[Request], energy: np.ndarray, forces: np.ndarray | None,
           stress: np.ndarray | None) -> list[dict]:
    """Per-request results of one batched pass: system i gets ``energy[i]``, its own rows of
    the concatenated `forces` and ``stress[i]`` (None where the model gave none)."""
    bounds = np.cumsum([0] + [len(r.numbers) for r in requests])
    return [select(request, {
        "energy": energy[i],
        "forces": None if forces is None else forces[bounds[i]:bounds[i + 1]],
        "stress": None if stress is None else stress[i]})
        for i, request in enumerate(requests)]


class AseBackend(Backend):
    """Any ASE calculator, one system at a time: the generic fallback (EMT, LJ, ...).

    The calculator is reset before each request: consecutive requests come from different
    replicas, and ASE's cache check ignores ``atoms.info`` (charge/spin), so a cached result
    could otherwise be returned for another replica's system.
    """

    def __init__(self, calculator):
        super().__init__(batched=False)
        self.calculator = calculator
        self.name = type(calculator).__name__
        self.implemented_properties = tuple(
            p for p in PROPERTIES if p in getattr(calculator, "implemented_properties", ()))

    def _run(self, inputs: list[Request], requests: list[Request]) -> list[dict]:
        (request,) = requests
        atoms = request.to_atoms()
        calc = self.calculator
        if hasattr(calc, "reset"):
            calc.reset()
        values: dict = {}
        for name in request.properties:  # one full check_state, then the same system
            values[name] = (_same_system(calc, atoms, name) if values
                            else calc.get_property(name, atoms))
        return [select(request, values)]


class OrbBackend(Backend):
    """Orb-v3 (orb-models): per-system ``AtomGraphs``, ``batch_graphs``, one ``predict``.

    Graphs are built exactly as ``ORBCalculator.calculate`` builds them (its system config,
    neighbour limit, edge method, device and torch's default dtype, which orb-models' loader
    sets from ``precision``), so a batch of one is the calculator's own call.  OMol models
    read ``info["charge"]``/``["spin"]`` per system (required, as in the calculator); other
    models ignore them, and they are left out of those graphs so every graph in a batch has
    the same features.  Orb has no per-atom energies or stresses; the OMol models have no
    stress.  Mixed pbc fails that request alone (orb-models' NotImplementedError).
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
        from orb_models.forcefield.atomic_system import ase_atoms_to_atom_graphs

        calc = self.calculator
        atoms = request.to_atoms()
        if calc.expects_charge_and_spin:
            if "charge" not in atoms.info or "spin" not in atoms.info:
                raise ValueError("atoms.info must contain both 'charge' and 'spin' for "
                                 f"{self.name} (an OMol model)")
        else:
            atoms.info.pop("charge", None)
            atoms.info.pop("spin", None)
        return ase_atoms_to_atom_graphs(
            atoms, system_config=calc.system_config, max_num_neighbors=calc.max_num_neighbors,
            edge_method=calc.edge_method, half_supercell=calc.half_supercell,
            device=calc.device)

    def _run(self, inputs: list, requests: list[Request]) -> list[dict]:
        from orb_models.forcefield.base import batch_graphs

        calc, model = self.calculator, self.calculator.model
        batch = (inputs[0] if len(inputs) == 1 else batch_graphs(inputs)).to(calc.device)
        out = model.predict(batch)
        forces_key = model.grad_forces_name if calc.conservative else "forces"
        stress_key = model.grad_stress_name if calc.conservative else "stress"
        energy = out["energy"].detach().reshape(-1).cpu().numpy()
        forces = out[forces_key].detach().cpu().numpy()
        stress = (out[stress_key].detach().reshape(len(inputs), 6).cpu().numpy()
                  if "stress" in self.implemented_properties else None)
        return _split(requests, energy, forces, stress)


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
        return _split(requests, energy, forces, stress)


def _is_instance(obj, module: str, cls: str) -> bool:
    """isinstance without importing the (heavy, optional) model library."""
    return any(k.__name__ == cls and k.__module__.startswith(module) for k in type(obj).__mro__)


def _on_cuda(device) -> bool:
    return str(device).startswith("cuda")


def make_backend(calculator, batched: bool | None = None) -> Backend:
    """The backend that evaluates lists of systems with `calculator`'s model.

    ORBCalculator -> `OrbBackend`, FAIRChemCalculator -> `FairchemBackend`,
    `TorchSimCalculator` -> `TorchSimBackend`, anything else -> `AseBackend` (never batched).
    ``batched=None`` batches on CUDA devices and not on the CPU: there a batched pass saves
    little or nothing (measurements disagree, docs/replicas-backends.md), while one system
    per pass gives each replica bit-identically what it gets alone.  ``True``/``False``
    forces it.
    """
    if _is_instance(calculator, "orb_models", "ORBCalculator"):
        cls, device = OrbBackend, calculator.device
    elif _is_instance(calculator, "fairchem", "FAIRChemCalculator"):
        cls, device = FairchemBackend, calculator.predictor.device
    elif _is_instance(calculator, "lammps_mliap_ase", "TorchSimCalculator"):
        from .torchsim import TorchSimBackend

        cls, device = TorchSimBackend, calculator.model.device
    else:
        return AseBackend(calculator)
    return cls(calculator, batched=_on_cuda(device) if batched is None else batched)

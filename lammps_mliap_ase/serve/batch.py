"""Many systems, one model: the requests of several LAMMPS replicas evaluated together.

The model server (serve/server.py) collects the systems that replicas send, cuts them into
batches with `pack` and hands each batch to a `Backend`, which returns one result dict (or one
exception) per system.  A backend evaluates through the model's *own* batch API, so a batch
is one forward pass and each system gets what the plain ASE calculator would give it alone.

Backends of model libraries live with their model family (models/orb.py: `OrbBackend`,
models/uma.py: `FairchemBackend`, models/torchsim.py: `TorchSimBackend`; models/registry.py's
`make_backend` picks one); this module holds what they share -- `Request`, the `Backend`
machinery (checking, grouping, retrying a failed batch one system at a time), `select`,
`split` -- and the generic fallback, `AseBackend`: any other ASE calculator, one system at a
time (EMT, LJ, ...).

Why results are *independent arrays*: the server keeps them while it answers replicas, and a
view into a batched output tensor would pin (or, for reused buffers, change) memory that
belongs to the next batch.

Cost and budget: `Backend.cost` is the number of atoms.  Edges would track the memory of
graph models more closely, but counting them means building the graph, which is the work we
are budgeting; fairchem's batcher and torch-sim's autobatcher size batches by atoms too.

Not thread-safe: a backend drives one model; call `evaluate` from one thread at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError

from ..properties import same_system

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
        """Batches of one pass each: energy-only requests (Monte Carlo trials, `asks_energy_only`)
        never share a pass with full ones, so a family's `_run` chooses its pass by
        ``requests[0]``."""
        if not self.batched:
            return [[item] for item in ready]
        alone = [[item] for item in ready if self._alone(requests[item[0]], item[1])]
        together = [item for item in ready if not self._alone(requests[item[0]], item[1])]
        kinds = [[item for item in together if asks_energy_only(requests[item[0]]) == kind]
                 for kind in (False, True)]
        return [group for group in kinds if group] + alone

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


def asks_energy_only(request: Request) -> bool:
    """A request for the energy alone: a Monte Carlo trial (LAMMPS' ENERGY_ONLY calls), which
    a family backend answers without the force gradient where its model can."""
    return "forces" not in request.properties


def select(request: Request, values: dict) -> dict:
    """The requested properties from `values`, as independent numpy arrays (energy: float)."""
    out = {}
    for name in request.properties:
        value = values[name]
        out[name] = float(value) if name == "energy" else np.array(value, dtype=np.float64)
    return out


def split(requests: list[Request], energy: np.ndarray, forces: np.ndarray | None,
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
    could otherwise be returned for another replica's system.  `energy`, when given, answers
    energy-only requests (models.registry.energy_function: the family's path without forces).
    """

    def __init__(self, calculator, energy: Callable[[Atoms], float] | None = None):
        super().__init__(batched=False)
        self.calculator = calculator
        self.energy = energy
        self.name = type(calculator).__name__
        self.implemented_properties = tuple(
            p for p in PROPERTIES if p in getattr(calculator, "implemented_properties", ()))

    def _run(self, inputs: list[Request], requests: list[Request]) -> list[dict]:
        (request,) = requests
        atoms = request.to_atoms()
        calc = self.calculator
        if hasattr(calc, "reset"):
            calc.reset()
        if self.energy is not None and asks_energy_only(request):
            return [select(request, {"energy": self.energy(atoms)})]
        values: dict = {}
        for name in request.properties:  # one full check_state, then the same system
            values[name] = (same_system(calc, atoms, name) if values
                            else calc.get_property(name, atoms))
        return [select(request, values)]

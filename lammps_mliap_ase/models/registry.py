"""Calculator registry: a name (and options) -> an ASE calculator plus interface defaults, and a
calculator -> the batch backend of its family.

Why a registry: `lammps-ase run --calc orb-v3-direct-omol` and pickled pair files need to build
a calculator from words.  Model weights load the way each library loads them (by name, downloaded
by the library when the machine is online, or from a local file with ``weights=PATH``); this
project hard-codes no download addresses (offline test weights: models/orb.py).

Why only a lookup: each model family is one module (models/orb.py, models/uma.py, ...) holding
its names (``ENTRIES``: name -> factory), its option defaults and, when its library batches, its
batch backend (``backend(calculator, batched)``: a serve.batch.Backend, or None for another
family's calculator) and, when its model can skip the force gradient, its energy-only path
(``energy_only(calculator)``: a function atoms -> energy in eV, or None).  Adding a family is
that module plus its name here (the import and `FAMILIES`).

Names: ``emt``, ``lj``, every ``orb-v3-*`` model of orb-models, ``uma-s-1p1``/``uma-m-1p1``
(fairchem; option ``task``), and ``package.module:Factory`` (any callable returning an ASE
calculator, called with the options as keyword arguments).

Options are checked before anything is built (models/options.py): each registry factory's signature
lists exactly the options of its calculator (an ASE calculator's ``**kwargs`` would swallow any
typo), and its annotations are the types that command-line text is converted to.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from ase import Atoms

from ..errors import CalculatorSetupError
from ..serve.batch import AseBackend, Backend
from . import ase_calculators, chgnet, orb, sevennet, shared, torchsim, uma
from .base import CalculatorSpec, offline_weights
from .options import check

#: One line per model family; their order is the order in which `make_backend` asks them.
FAMILIES: tuple[ModuleType, ...] = (ase_calculators, shared, torchsim, orb, uma, sevennet,
                                     chgnet)

REGISTRY: dict[str, Callable[..., CalculatorSpec]] = {
    name: build for family in FAMILIES for name, build in family.ENTRIES.items()}

__all__ = ["FAMILIES", "REGISTRY", "CalculatorSpec", "available", "check_options",
           "energy_function", "exportable", "export_mliap", "factory", "make_backend",
           "make_calculator", "offline_weights"]


def available() -> list[str]:
    """Registered names (``package.module:Factory`` is accepted as well)."""
    return sorted(REGISTRY)


def factory(name: str) -> Callable:
    """The factory behind `name`: a registry entry, or the callable ``package.module:Factory``."""
    if name in REGISTRY:
        return REGISTRY[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise CalculatorSetupError(f"cannot import {name!r}: {exc}") from exc
    raise CalculatorSetupError(
        f"unknown calculator {name!r}; known: {', '.join(available())}, or package.module:Factory")


def check_options(name: str, options: dict) -> dict:
    """`options` checked against what the calculator `name` accepts and converted to the types
    it declares (options.check); CalculatorSetupError names an unknown key or a wrong value."""
    return check(name, factory(name), options)


def make_calculator(name: str, **options) -> CalculatorSpec:
    """Build the calculator `name` with keyword options (see the module docstring), checked
    first (`check_options`)."""
    build = factory(name)
    calc = build(**check(name, build, options))
    return calc if isinstance(calc, CalculatorSpec) else CalculatorSpec(calc)


def make_backend(calculator, batched: bool | None = None) -> Backend:
    """The backend that evaluates lists of systems with `calculator`'s model: its family's
    (ORBCalculator -> OrbBackend, FAIRChemCalculator -> FairchemBackend, TorchSimCalculator ->
    TorchSimBackend), anything else -> `AseBackend` (never batched).  ``batched=None`` batches
    on CUDA devices and not on the CPU (models/base.py's `batched_default`); ``True``/``False``
    forces it."""
    for family in FAMILIES:
        backend = getattr(family, "backend", None)
        found = backend(calculator, batched) if backend is not None else None
        if found is not None:
            return found
    return AseBackend(calculator, energy=energy_function(calculator))


def energy_function(calculator) -> Callable[[Atoms], float]:
    """How to get `calculator`'s energy alone (Monte Carlo trials: LAMMPS' ENERGY_ONLY calls).

    Its family's ``energy_only(calculator)`` when one offers it (a forward pass without the
    force gradient: CHGNet, SevenNet, Orb conservative, UMA, the shared model server), else the
    calculator asked for ``energy`` only -- which ASE calculators that compute forces anyway
    (EMT, direct models) answer at the same cost, and cache for an MD step at the same positions.
    """
    for family in FAMILIES:
        energy_only = getattr(family, "energy_only", None)
        found = energy_only(calculator) if energy_only is not None else None
        if found is not None:
            return found

    def energy(atoms: Atoms) -> float:
        return float(calculator.get_property("energy", atoms))

    return energy


def exportable() -> list[str]:
    """Names whose library writes a LAMMPS ML-IAP unified export of the model (a family's
    ``MLIAP_EXPORTS`` and ``export_mliap(name, path, **options)``)."""
    return sorted(name for family in FAMILIES for name in getattr(family, "MLIAP_EXPORTS", ()))


def export_mliap(name: str, path: Path, **options) -> Path:
    """Write `name` as an ML-IAP unified model file with its library's own exporter (for
    `pair_style mliap unified FILE 0`, or `lammps-ase run --mliap FILE`); the path written."""
    for family in FAMILIES:
        if name in getattr(family, "MLIAP_EXPORTS", ()):
            return family.export_mliap(name, Path(path), **options)
    raise CalculatorSetupError(
        f"{name!r} has no ML-IAP export (its library writes none); exportable: "
        f"{', '.join(exportable())}.  Any calculator runs through `lammps-ase run --calc NAME` "
        "or a pair file (`lammps-ase write-pair`)")

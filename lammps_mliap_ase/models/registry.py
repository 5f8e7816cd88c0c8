"""Calculator registry: a name (and options) -> an ASE calculator plus interface defaults.

Why a registry: `lammps-ase run --calc orb-v3-direct-omol` and pickled pair files need to build
a calculator from words.  Model weights load the way each library loads them (by name, downloaded
by the library when the machine is online, or from a local file with ``weights=PATH``); this
project hard-codes no download addresses.  ``random_weights=True`` builds the real architecture
with seeded random weights and loads it through the library's own loader from a local file, so
the real code paths run offline (tests, benchmarks).

Names: ``emt``, ``lj``, every ``orb-v3-*`` model of orb-models, ``uma-s-1p1``/``uma-m-1p1``
(fairchem; option ``task``), and ``package.module:Factory`` (any callable returning an ASE
calculator, called with the options as keyword arguments).

Options are checked before anything is built (options.py): each registry factory's signature
lists exactly the options of its calculator (an ASE calculator's ``**kwargs`` would swallow any
typo), and its annotations are the types that command-line text is converted to.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import re
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .client import DEFAULT_TIMEOUT
from .errors import CalculatorSetupError
from .options import check

_NETWORK_ERRORS = ("ConnectionError", "NameResolutionError", "MaxRetryError", "URLError",
                   "gaierror", "LocalEntryNotFoundError", "OfflineModeIsEnabled", "Timeout")


@contextmanager
def offline_weights(name: str, alternative: str):
    """Turn a failed download of published weights into one line naming the fix.

    Model libraries download weights on first use; offline they fail deep inside an HTTP
    client (a name-resolution error after a hundred lines of traceback).  Any exception whose
    chain holds a network error becomes a CalculatorSetupError; other errors pass unchanged.
    The download helpers' own log lines (orb-models: cached_path; fairchem: huggingface_hub's
    retries) are held back: this one line says it all.
    """
    quiet = [logging.getLogger(name) for name in ("cached_path", "huggingface_hub")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if any(word in type(cause).__name__ for word in _NETWORK_ERRORS):
                raise CalculatorSetupError(
                    f"weights for {name} cannot be downloaded (no network: "
                    f"{type(cause).__name__}): pass weights=PATH, the local weights file "
                    f"({alternative})") from exc
            cause = cause.__cause__ or cause.__context__
        raise
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


@dataclass
class CalculatorSpec:
    """A built calculator and the interface options it needs (e.g. charge/spin defaults)."""

    calculator: object
    interface_options: dict = field(default_factory=dict)


def _emt(asap_cutoff: bool = False) -> CalculatorSpec:
    """ASE's EMT; its one parameter is listed here because EMT(**kwargs) accepts any key."""
    from ase.calculators.emt import EMT

    return CalculatorSpec(EMT(asap_cutoff=asap_cutoff))


def _require_pair(what: str, sigma: float | None, epsilon: float | None) -> None:
    """Refuse a pair potential without sigma and epsilon: defaults (ASE's 1 Angstrom, 1 eV for
    every element) describe no real element, and used silently they give e.g. Cu at -20 kbar.
    One message for every such calculator."""
    missing = [key for key, value in (("sigma", sigma), ("epsilon", epsilon)) if value is None]
    if missing:
        raise CalculatorSetupError(
            f"{what} needs {' and '.join(missing)} (Angstrom, eV; one pair for all atoms): e.g. "
            "--calc-opt sigma=3.405 --calc-opt epsilon=0.0103 for argon; ASE's defaults "
            "(1 Angstrom, 1 eV) describe no real element")


def _lj(sigma: float | None = None, epsilon: float | None = None, rc: float | None = None,
        ro: float | None = None, smooth: bool = False) -> CalculatorSpec:
    """ASE's LennardJones (its parameters, listed because LennardJones(**kwargs) accepts any
    key); sigma and epsilon are required (`_require_pair`); rc and ro left None take ASE's
    defaults (3 sigma, 0.66 rc)."""
    from ase.calculators.lj import LennardJones

    _require_pair("lj", sigma, epsilon)
    return CalculatorSpec(LennardJones(sigma=sigma, epsilon=epsilon, rc=rc, ro=ro,
                                       smooth=smooth))


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
         seed: int = 0, charge: int | None = None, spin: int | None = None) -> CalculatorSpec:
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


def _orb_factories() -> dict[str, Callable[..., CalculatorSpec]]:
    names = ["orb-v3-direct-omol", "orb-v3-conservative-omol"] + [
        f"orb-v3-{kind}-{n}-{data}" for kind in ("direct", "conservative")
        for n in ("20", "inf") for data in ("omat", "mpa")]
    return {name: _entry(_orb, name) for name in names}


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


def _server(address: str, timeout: float = DEFAULT_TIMEOUT, connect_timeout: float = 300.0,
            **unknown) -> CalculatorSpec:
    """The model of a shared model server (`lammps-ase serve`); options are the server's."""
    if unknown:
        raise CalculatorSetupError(
            f"the server's model is chosen where it is started (`lammps-ase serve --calc ...`); "
            f"options {sorted(unknown)} do not apply to a replica")
    from .client import SharedModelCalculator

    calc = SharedModelCalculator(address, timeout=timeout, connect_timeout=connect_timeout)
    return CalculatorSpec(calc, calc.interface_options)


def _torchsim(kind: str, sigma: float | None = None, epsilon: float | None = None,
              cutoff: float | None = None, alpha: float = 5.0, device: str = "cpu",
              dtype: str = "float64") -> CalculatorSpec:
    """torch-sim's float64 pair potentials (torchsim.py; the options of its build_model, listed
    here so they are checked before torch loads); sigma and epsilon are required, as for
    ``lj``; alpha is Morse's."""
    from .torchsim import TorchSimCalculator, build_model

    _require_pair(f"torchsim-{kind}", sigma, epsilon)
    return CalculatorSpec(TorchSimCalculator(build_model(
        kind, sigma=sigma, epsilon=epsilon, cutoff=cutoff, alpha=alpha, device=device,
        dtype=dtype)))


def _entry(factory: Callable[..., CalculatorSpec], *fixed: object,
           drop: tuple[str, ...] = ()) -> Callable[..., CalculatorSpec]:
    """A registry entry: `factory` with its leading arguments `fixed` (the model name).  Its
    signature is what a user may pass (options.check): neither the fixed arguments nor `drop`,
    options that mean nothing for this entry (alpha for Lennard-Jones)."""
    entry = functools.partial(factory, *fixed)
    if drop:
        sig = inspect.signature(entry, eval_str=True)
        entry.__signature__ = sig.replace(
            parameters=[p for p in sig.parameters.values() if p.name not in drop])
    return entry


REGISTRY: dict[str, Callable[..., CalculatorSpec]] = {
    "emt": _emt,
    "server": _server,
    "lj": _lj,
    "torchsim-lj": _entry(_torchsim, "lj", drop=("alpha",)),
    "torchsim-morse": _entry(_torchsim, "morse"),
    **_orb_factories(),
    **{name: _entry(_uma, name) for name in ("uma-s-1p1", "uma-m-1p1")},
}


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

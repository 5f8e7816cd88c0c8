"""What every model family module builds on: the spec it returns, its registry entries, and
the helpers several families share (offline downloads, pair-potential parameters, batching
defaults).

Why a module of its own: a family module (models/orb.py, models/uma.py, ...) imports this and
serve/ only, never another family or the registry, so adding or removing a family touches no
other family (docs/architecture.md).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import CalculatorSetupError

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


def require_pair(what: str, sigma: float | None, epsilon: float | None) -> None:
    """Refuse a pair potential without sigma and epsilon: defaults (ASE's 1 Angstrom, 1 eV for
    every element) describe no real element, and used silently they give e.g. Cu at -20 kbar.
    One message for every such calculator."""
    missing = [key for key, value in (("sigma", sigma), ("epsilon", epsilon)) if value is None]
    if missing:
        raise CalculatorSetupError(
            f"{what} needs {' and '.join(missing)} (Angstrom, eV; one pair for all atoms): e.g. "
            "--calc-opt sigma=3.405 --calc-opt epsilon=0.0103 for argon; ASE's defaults "
            "(1 Angstrom, 1 eV) describe no real element")


def entry(factory: Callable[..., CalculatorSpec], *fixed: object,
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


def is_instance(obj, module: str, cls: str) -> bool:
    """isinstance without importing the (heavy, optional) model library."""
    return any(k.__name__ == cls and k.__module__.startswith(module) for k in type(obj).__mro__)


def batched_default(device, batched: bool | None) -> bool:
    """Whether a backend batches: as asked, else on CUDA devices and not on the CPU, where a
    batched pass saves little or nothing (measurements disagree, docs/replicas-backends.md)
    while one system per pass gives each replica bit-identically what it gets alone."""
    if batched is not None:
        return batched
    return str(device).startswith("cuda")

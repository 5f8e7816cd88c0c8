"""Calculator options are checked against what the calculator accepts, never silently misread.

Why: options arrive as words (`--calc-opt KEY=VALUE`, a pair file's recipe) and end as keyword
arguments of a factory.  Passed on unchecked, a typo (`rcutt=6`) was swallowed by ASE's
``Calculator(**kwargs)``, the string ``'false'`` switched a boolean option on (it is truthy),
and ``sigma=abc`` ended in a TypeError deep inside the calculator that named no option.  Here the
factory's signature is the declaration: its keyword parameters are the options, their
annotations (or defaults) the types.  Registry entries get signatures that list exactly their
options (models/base.py's `entry`, the family modules).

Numeric options declare their valid values too, in the same place:
``sigma: Annotated[float | None, POSITIVE_LENGTH] = None``.  A negative sigma or epsilon gave
a meaningless energy with exit code 0; now it is refused with the other option checks, in one
line naming the option and its range.

A factory that takes ``**kwargs`` (ASE calculator classes, many ``package.module:Factory``
callables) declares nothing more: its extra keys are accepted as given, and text typed on the
command line is read as a Python literal when it is one (3.5, 7, 'x'), plus ``true``/``false``
in any case.  Only those spellings: without a declared type, ``on`` or ``no`` may well be
meant as words.  Values that Python callers pass are left alone there; they carry their type.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import numbers
import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CalculatorSetupError

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_EXAMPLES = {bool: "true", int: "7", float: "1.5", str: "text"}
_WHAT = {bool: "true or false (yes/no, on/off, 1/0)", int: "an integer", float: "a number",
         str: "text", type(None): "None"}


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric option, declared in its annotation
    (``Annotated[float, Range(gt=0, unit="Angstrom")]``) and checked with its type: lengths and
    energies positive, cutoffs above zero, probabilities in [0, 1], ..."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    unit: str = ""

    def __contains__(self, value: float) -> bool:
        return ((self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge)
                and (self.lt is None or value < self.lt) and (self.le is None or value <= self.le))

    def __str__(self) -> str:
        bounds = [f"{op} {bound:g}" for op, bound in ((">", self.gt), (">=", self.ge),
                                                      ("<", self.lt), ("<=", self.le))
                  if bound is not None]
        return " and ".join(bounds) + (f" ({self.unit})" if self.unit else "")


POSITIVE = Range(gt=0)
POSITIVE_LENGTH = Range(gt=0, unit="Angstrom")
POSITIVE_ENERGY = Range(gt=0, unit="eV")
POSITIVE_SECONDS = Range(gt=0, unit="s")
SPIN_MULTIPLICITY = Range(ge=1, unit="2S+1")


class CommandLineValue(str):
    """An option value as typed on the command line: its type is not known until the
    calculator's declaration is read (a typed Python value needs no such guess)."""


def option(text: str) -> tuple[str, CommandLineValue]:
    """KEY=VALUE from the command line; VALUE stays text until `check` converts it to the type
    the calculator declares (argparse's type= for --calc-opt)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, CommandLineValue(value)


def guess(value: object) -> object:
    """Command-line text for an option of unknown type: a Python literal when it is one, a
    boolean for true/false in any case, else the text (what `--calc-opt` always did, plus
    true/false, which used to stay truthy strings)."""
    if not isinstance(value, CommandLineValue):
        return value
    if value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return str(value)


def signature(factory: Callable) -> inspect.Signature | None:
    """The factory's signature with its annotations evaluated (None when Python cannot tell,
    e.g. some C functions: then every key is accepted, as for ``**kwargs``)."""
    try:
        return inspect.signature(factory, eval_str=True)
    except ValueError:  # no signature to read
        return None
    except Exception:  # noqa: BLE001 - annotations that do not evaluate outside their module:
        try:  # the types then come from the defaults
            return inspect.signature(factory)
        except (TypeError, ValueError):
            return None


def check(name: str, factory: Callable, options: dict) -> dict:
    """`options` converted to what `factory` declares; an unknown key or a value of the wrong
    type raises CalculatorSetupError naming the option, what it takes and an example."""
    sig = signature(factory)
    if sig is None:
        return {key: guess(value) for key, value in options.items()}
    params = {p.name: p for p in sig.parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    open_ended = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    out = {}
    for key, value in options.items():
        param = params.get(key)
        if param is None:
            if not open_ended:
                raise CalculatorSetupError(_unknown(name, key, sorted(params)))
            out[key] = guess(value)
            continue
        kinds = _kinds(param)
        if not kinds:
            out[key] = guess(value)
            continue
        try:
            out[key] = _convert(value, kinds)
        except (ValueError, TypeError):
            raise CalculatorSetupError(_wrong_type(name, key, value, kinds, param)) from None
        valid = _range(param)
        if valid is not None and out[key] is not None and out[key] not in valid:
            raise CalculatorSetupError(
                f"option {key} of {name} must be {valid}, not {out[key]!r}")
    return out


def _unknown(name: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    takes = f"its options are {', '.join(known)}" if known else "it takes no options"
    return f"{name} has no option {key!r}{hint}; {takes}"


def _wrong_type(name: str, key: str, value: object, kinds: tuple[type, ...],
                param: inspect.Parameter) -> str:
    what = " or ".join(_WHAT[k] for k in kinds if k is not type(None) or len(kinds) == 1)
    shown = repr(str(value)) if isinstance(value, CommandLineValue) else repr(value)
    example = next((k for k in kinds if k is not type(None)), str)
    default = param.default
    sample = (str(default).lower() if isinstance(default, bool) else str(default)) \
        if type(default) is example else _EXAMPLES[example]
    return f"option {key} of {name} takes {what}, not {shown}: e.g. {key}={sample}"


def _range(param: inspect.Parameter) -> Range | None:
    """The Range an option's annotation declares (``Annotated[..., Range(...)]``), or None."""
    if typing.get_origin(param.annotation) is not typing.Annotated:
        return None
    return next((m for m in param.annotation.__metadata__ if isinstance(m, Range)), None)


def _kinds(param: inspect.Parameter) -> tuple[type, ...]:
    """The types an option declares (bool, int, float, str, None), from its annotation, else
    from its default; empty when it declares nothing we can check (object, Any, a class)."""
    note = param.annotation
    if typing.get_origin(note) is typing.Annotated:
        note = typing.get_args(note)[0]
    if note is inspect.Parameter.empty or isinstance(note, str):
        default = param.default
        return (type(default),) if type(default) in _EXAMPLES else ()
    parts = typing.get_args(note) if isinstance(note, types.UnionType) or \
        typing.get_origin(note) is typing.Union else (note,)
    parts = tuple(type(None) if part is None else part for part in parts)
    return parts if all(part in _WHAT for part in parts) else ()


def _convert(value: object, kinds: tuple[type, ...]) -> object:
    """`value` as the first of `kinds` it is, or can be read as (ValueError when none)."""
    if type(None) in kinds and (value is None or (
            isinstance(value, str) and value.strip() in ("None", "none"))):
        return None
    for kind in kinds:
        try:
            return _as(value, kind)
        except (ValueError, TypeError):
            continue
    raise ValueError(value)


def _as(value: object, kind: type) -> object:
    text = value.strip() if isinstance(value, str) else None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, numbers.Integral) and value in (0, 1):
            return bool(value)
        if text is not None and text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
    elif kind is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if text is not None:
            return int(text)
    elif kind is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        if text is not None:
            return float(text)
    elif kind is str:
        if isinstance(value, CommandLineValue):  # 'odac' as a Python literal is odac
            literal = guess(value)
            return literal if isinstance(literal, str) else str(value)
        if isinstance(value, str | os.PathLike):
            return os.fspath(value)
    raise ValueError(value)

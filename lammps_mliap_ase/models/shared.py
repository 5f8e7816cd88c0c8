"""``server``: the model of a shared model server (`lammps-ase serve`), as a calculator.

Why a family of its own: to a replica the shared model is one more calculator, chosen by name
(``--calc server --calc-opt address=...``) and rebuilt from a pair file's recipe like any other;
its client lives in serve/client.py.
"""

from __future__ import annotations

from typing import Annotated

from ..errors import CalculatorSetupError
from ..serve.client import DEFAULT_TIMEOUT, SharedModelCalculator
from .base import CalculatorSpec
from .options import POSITIVE_SECONDS


def _server(address: str, timeout: Annotated[float, POSITIVE_SECONDS] = DEFAULT_TIMEOUT,
            connect_timeout: Annotated[float | None, POSITIVE_SECONDS] = None,
            **unknown) -> CalculatorSpec:
    """The model of a shared model server (`lammps-ase serve`); options are the server's.
    `timeout`: seconds to wait for each answer, and for a server that is not up yet unless
    `connect_timeout` says otherwise (one option, `--server-timeout`, bounds every wait)."""
    if unknown:
        raise CalculatorSetupError(
            f"the server's model is chosen where it is started (`lammps-ase serve --calc ...`); "
            f"options {sorted(unknown)} do not apply to a replica")
    calc = SharedModelCalculator(address, timeout=timeout, connect_timeout=timeout
                                 if connect_timeout is None else connect_timeout)
    return CalculatorSpec(calc, calc.interface_options)


def energy_only(calculator):
    """A replica's energy-only requests (Monte Carlo trials): the server's model answers them
    with its family's cheaper path (serve/batch.py `asks_energy_only`)."""
    return calculator.energy_only if isinstance(calculator, SharedModelCalculator) else None


ENTRIES = {"server": _server}

"""One-line errors for the command line: `ERROR: cause and fix`, as LAMMPS prints its own.

Why: a LAMMPS user expects one line that says what is wrong.  A Python error inside LAMMPS
(a unified model's exception) used to appear three times: as the traceback that the embedded
interpreter prints (`PyErr_Print`, i.e. `sys.excepthook`), as LAMMPS' `ERROR:` line, and as the
traceback of the driver that caught LAMMPS' exception.  Without `--debug` the command line keeps
only the one line: LAMMPS' own when it already printed it to the screen, else ours.  Python
driver scripts (the examples) get the same with `sys.exit(run_script(main))`.
"""

from __future__ import annotations

import argparse
import os
import sys
import typing

from ..errors import BridgeError

DEBUG_HINT = " (--debug or LAMMPS_ASE_DEBUG=1 shows the traceback)"


def silence_embedded_tracebacks() -> None:
    """Tracebacks that LAMMPS' embedded Python prints for a failing unified model go through
    sys.excepthook; the message itself reaches LAMMPS' ERROR line (patch 0004)."""
    sys.excepthook = lambda *exc_info: None


def is_lammps_message(text: str) -> bool:
    """LAMMPS' own error text (`ERROR: ...`, `ERROR on proc N: ...`), printed by LAMMPS."""
    return text.startswith("ERROR")


def _text(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc).strip()  # MPIAbortException: .message


def error_line(exc: BaseException) -> str:
    """The line to print for `exc`: LAMMPS' message as it is, ours as `ERROR: ...`."""
    text = _text(exc)
    if is_lammps_message(text):
        return text
    text = " ".join(text.split())
    if isinstance(exc, BridgeError):  # our messages name cause and fix
        return f"ERROR: {text}"
    return f"ERROR: {type(exc).__name__}: {text}{DEBUG_HINT}"


def is_root_rank() -> bool:
    """Rank 0 under mpirun (or no MPI): only it reports, as LAMMPS does."""
    for name in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"):
        if name in os.environ:
            return os.environ[name] == "0"
    return True


def _stdout_is_stderr() -> bool:
    """Whether stdout and stderr are one file (a terminal, or `> log 2>&1`)."""
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)


def report(exc: BaseException, screen_has_it: bool) -> None:
    """Print `exc` as one line on stderr, where job scripts collect errors.  LAMMPS' own
    message, which it printed on its screen (stdout), is not repeated when stdout and stderr
    are the same file (a terminal): once is enough there."""
    if is_lammps_message(_text(exc)) and screen_has_it and _stdout_is_stderr():
        return
    line = error_line(exc)
    if is_root_rank():
        print(line, file=sys.stderr, flush=True)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors end like every other error: one line `ERROR: ...` on
    stderr naming the fix (argparse printed its usage block and `PROG: error: ...`)."""

    def error(self, message: str) -> typing.NoReturn:
        print(f"ERROR: {self.prog}: {message} (`{self.prog} --help` lists the options)",
              file=sys.stderr, flush=True)
        sys.exit(2)


def debugging() -> bool:
    """LAMMPS_ASE_DEBUG=1 asks for tracebacks (drivers have no --debug option of their own)."""
    return os.environ.get("LAMMPS_ASE_DEBUG", "") not in ("", "0")


def run_script(main, screen_has_it: bool = True) -> int:
    """Exit status of a driver script's `main()`: errors as one line, as on the command line.

    `screen_has_it`: whether the script's LAMMPS prints to the screen (then LAMMPS' own ERROR
    line is not repeated).  LAMMPS_ASE_DEBUG=1 shows the traceback instead.
    """
    if debugging():
        main()
        return 0
    silence_embedded_tracebacks()
    try:
        main()
    except Exception as exc:
        report(exc, screen_has_it)
        return 1
    return 0

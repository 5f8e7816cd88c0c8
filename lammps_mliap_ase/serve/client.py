"""`SharedModelCalculator`: an ASE calculator whose model lives in a shared model server.

Why an ASE calculator: "who evaluates" is then just another calculator.  The bridge's system
modes (periodic, gather, cluster) decide *which atoms* are evaluated and hand them to whatever
calculator they hold; with this one the model server (server.py) evaluates them, batched with
the pending requests of other replicas.  It works from plain ASE as well.

Faults become one clear error, never a hang: a server that exits or is killed closes the
connection, which the next receive sees at once; a server that stops answering is given
`timeout` seconds per request (default 600 s: a first call may compile a model), checked in
one-second slices that also ask the kernel whether the server's process still exists.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import time

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ..errors import BridgeError
from . import protocol as wire

DEFAULT_TIMEOUT = 600.0
CONNECT_TIMEOUT = 30.0


class SharedModelError(BridgeError):
    """The shared model server is unreachable, died, timed out or refused a request."""


def connect(address: wire.Address, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    """A connected socket; retries until `timeout` while a server is starting.  A path that
    exists and is no socket (a file, a folder) is refused at once: no server will ever listen
    there, and waiting for one used to take the whole timeout."""
    start = time.monotonic()
    deadline, told = start + timeout, False
    while True:
        _refuse_non_socket(address)
        try:
            if address.path is not None:
                sock = socket.socket(socket.AF_UNIX)
                try:
                    sock.connect(address.path)
                except OSError:
                    sock.close()
                    raise
                return sock
            return socket.create_connection((address.host, address.port), timeout=timeout)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            if time.monotonic() >= deadline:
                raise SharedModelError(
                    f"no model server at {address} ({exc.strerror}); start one with "
                    f"`lammps-ase serve --calc NAME --socket {address}`") from None
            if not told and time.monotonic() - start > 2.0:
                told = True  # a server may still be loading its model: say what we wait for
                print(f"lammps-ase: waiting up to {timeout:g} s for the model server at "
                      f"{address} (start it with `lammps-ase serve`)", file=sys.stderr,
                      flush=True)
            time.sleep(0.1)


def _refuse_non_socket(address: wire.Address) -> None:
    """SharedModelError when `address` is a path that exists but is not a Unix socket."""
    if address.path is None:
        return
    try:
        mode = os.stat(address.path).st_mode
    except OSError:  # not there (yet): a server may still be starting
        return
    if not stat.S_ISSOCK(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "a file" if stat.S_ISREG(mode) else \
            "not a socket"
        raise SharedModelError(
            f"{address.path} is {what}, not a model server's socket: pass the socket that "
            "`lammps-ase serve` printed ('listening on PATH'), or start a server there with "
            f"`lammps-ase serve --calc NAME --socket PATH` at a free path")


class SharedModelCalculator(Calculator):
    """Evaluate systems in the model server at `address` (a socket path or HOST:PORT).

    The server's model decides `implemented_properties`; `interface_options` carries the
    defaults the model needs in the bridge (e.g. charge and spin for OMol models).
    """

    implemented_properties: list[str] = []

    def __init__(self, address: str, timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float = CONNECT_TIMEOUT, name: str | None = None) -> None:
        super().__init__()
        self.address = wire.Address.parse(address)
        self.timeout = float(timeout)
        self.sock = connect(self.address, connect_timeout)
        self._next_id = 0
        self._extra: tuple[str, ...] = ()
        welcome = self._ask({"type": "hello", "version": wire.VERSION,
                             "client": name or f"pid {os.getpid()}"}, connect_timeout)
        if welcome.header.get("version") != wire.VERSION:
            raise SharedModelError(f"model server at {self.address} speaks protocol version "
                                   f"{welcome.header.get('version')}, not {wire.VERSION}")
        self.server_pid = int(welcome.header["pid"])
        self.implemented_properties = list(welcome.header["implemented_properties"])
        self.interface_options = dict(welcome.header.get("interface_options", {}))

    def request_properties(self, properties) -> None:
        """Properties to compute with the next system as well (one round trip per step)."""
        self._extra = tuple(p for p in properties if p in self.implemented_properties)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)  # keeps a copy of atoms
        wanted = dict.fromkeys(("energy", "forces", *properties, *self._extra))
        reply = self._evaluate(self.atoms, list(wanted))
        for key, value in reply.arrays.items():
            self.results[key] = float(value[0]) if key == "energy" else np.array(value)

    def energy_only(self, atoms) -> float:
        """The energy of `atoms` alone (a Monte Carlo trial, LAMMPS' ENERGY_ONLY calls): the
        server's model skips the force gradient where it can.  Not cached: an MD step at the
        same positions asks again, for forces."""
        return float(self._evaluate(atoms, ["energy"]).arrays["energy"][0])

    def _evaluate(self, atoms, properties: list[str]) -> wire.Message:
        """One ``eval`` round trip for `atoms`: the answer, checked to be ours."""
        arrays = {"numbers": atoms.numbers.astype(np.int64, copy=False),
                  "positions": atoms.positions, "cell": atoms.cell.array,
                  "pbc": atoms.pbc}
        if "initial_charges" in atoms.arrays:
            arrays["charges"] = atoms.arrays["initial_charges"]
        if "initial_magmoms" in atoms.arrays:
            magmoms = atoms.arrays["initial_magmoms"]
            if magmoms.ndim == 2:
                arrays["magmoms"] = magmoms
        info = {k: atoms.info[k] for k in ("charge", "spin") if k in atoms.info}
        self._next_id += 1
        reply = self._ask({"type": "eval", "id": self._next_id, "properties": properties,
                           "info": info}, self.timeout, arrays)
        if reply.type != "result" or reply.header.get("id") != self._next_id:
            raise SharedModelError(f"model server at {self.address} sent an unexpected "
                                   f"{reply.type!r} message")
        return reply

    def stats(self) -> dict:
        """The server's counters (requests, batches, max_batch, ...)."""
        return self._ask({"type": "stats"}, self.timeout).header

    def close(self) -> None:
        if self.sock is not None:
            try:
                wire.send(self.sock, {"type": "bye"})
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _ask(self, header: dict, timeout: float, arrays=None) -> wire.Message:
        if self.sock is None:
            raise SharedModelError(f"the connection to the model server at {self.address} "
                                   "is closed")
        try:
            self.sock.settimeout(timeout)
            wire.send(self.sock, header, arrays)
            reply = self._receive(timeout)
        except (wire.ConnectionClosed, BrokenPipeError, ConnectionResetError):
            # one cause, one message: a server that dies while a replica is sending shows as a
            # reset or a broken pipe, one that dies while it waits as end-of-stream (the test
            # of a killed server saw both, by timing)
            self._lost()
            raise SharedModelError(
                f"the model server at {self.address} closed the connection (it exited or was "
                "killed; its own output says why)") from None
        if reply.type == "error":
            err = reply.header.get("error", "Error")
            raise SharedModelError(f"model server: {err}: {reply.header.get('message', '')}")
        return reply

    def _receive(self, timeout: float) -> wire.Message:
        """One reply, waiting in 1 s slices; the server's death or `timeout` end the wait."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(1.0)
        while True:
            try:
                # peek a byte, so a timeout never splits a message
                if self.sock.recv(1, socket.MSG_PEEK):
                    self.sock.settimeout(max(timeout, 1.0))
                    return wire.recv(self.sock)
                raise wire.ConnectionClosed("connection closed")
            except TimeoutError:
                pid = getattr(self, "server_pid", None)
                if pid is not None and self.address.path is not None and not process_alive(pid):
                    raise wire.ConnectionClosed("server process gone") from None
                if time.monotonic() >= deadline:
                    self._lost()
                    raise SharedModelError(
                        f"the model server at {self.address} did not answer within "
                        f"{timeout:g} s (raise it with timeout=/--server-timeout if a batch "
                        "can take longer)") from None

    def _lost(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

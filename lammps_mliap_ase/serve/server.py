"""The shared model server: one model, many LAMMPS replicas, pending requests batched.

Why a process of its own: LAMMPS replicas (the partitions of one MPI run, or separate processes
of a job array) each own a copy of the model today and call it for a few hundred atoms at a
time, which leaves a GPU mostly idle.  Here one process holds the model; each replica's
`SharedModelCalculator` (client.py) sends its system over a local socket, and the server
evaluates the requests that are pending at the same moment in one call of the batch backend
(serve/batch.py: one batched forward pass for Orb-v3 and UMA, one system at a time for any
other ASE calculator).  The server is handed a backend, never a calculator: which backend fits
which model is the model family's business (models/registry.py: `make_backend`), and serve/
imports no model family (docs/architecture.md).

Batching rule (no lock-step, no waiting on the dead): the replicas served in the last batch are
*expected*; a batch starts as soon as every expected replica that is still connected has sent
its next request, or `batch_wait` seconds after the first pending request, whichever is first.
A replica that finished or died closes its connection (the kernel does that on a kill), so it
is never waited for again; one that is merely slow costs at most `batch_wait` once.  Batches are
split to respect a cost budget (`max_cost`, atoms by default) so many large replicas do not run
the device out of memory.

Security: the server listens where the user says (a Unix socket by default, or one TCP host,
never all interfaces) and decodes data only (protocol.py): no pickle, no code.  A malformed
message gets an error reply and its connection is closed.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import stat
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import BridgeError
from . import protocol as wire
from .batch import PROPERTIES, Request, pack
from .client import process_alive

_INFO_KEYS = ("charge", "spin")


@dataclass
class _Client:
    sock: socket.socket
    reader: wire.Reader = field(default_factory=wire.Reader)
    name: str = "?"
    pending: tuple[int, Request] | None = None  # (request id, request)
    since: float = 0.0
    replica: bool = False  # has asked for an evaluation (see Stats.clients)


@dataclass
class Stats:
    """What the server has done (reported on exit and to a `stats` message)."""

    requests: int = 0
    batches: int = 0
    calls: int = 0  # backend.evaluate calls (a batch split by the budget makes several)
    atoms: int = 0
    max_batch: int = 0
    # replicas: connections that asked for an evaluation; one that only says hello is none
    # (`write-pair --server` checks the server and leaves, a monitor asks for `stats`)
    clients: int = 0
    errors: int = 0
    busy_s: float = 0.0  # seconds inside backend.evaluate

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def listen(address: wire.Address) -> socket.socket:
    """A listening socket at `address` (Unix: mode 0600; a stale socket file is replaced)."""
    if address.path is None:
        return socket.create_server((address.host, address.port), reuse_port=False)
    path = address.path
    if os.path.exists(path):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise BridgeError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # left behind by a server that died
        else:
            probe.close()
            raise BridgeError(f"a model server is already listening at {path}")
    sock = socket.socket(socket.AF_UNIX)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    sock.listen(64)
    return sock


def parse_request(message: wire.Message) -> tuple[int, Request]:
    """Validate an ``eval`` message into a batch.Request (ProtocolError when malformed)."""
    h, a = message.header, message.arrays
    try:
        rid = int(h["id"])
        props = tuple(str(p) for p in h["properties"])
        numbers, positions = a["numbers"], a["positions"]
        cell, pbc = a["cell"], a["pbc"]
    except (KeyError, TypeError, ValueError) as exc:
        raise wire.ProtocolError(f"eval message lacks {exc}") from None
    n = len(numbers)
    checks = [
        (numbers.dtype == np.int64 and numbers.shape == (n,), "numbers must be (n,) int64"),
        (positions.dtype == np.float64 and positions.shape == (n, 3),
         "positions must be (n, 3) float64"),
        (cell.dtype == np.float64 and cell.shape == (3, 3), "cell must be (3, 3) float64"),
        (pbc.dtype == np.bool_ and pbc.shape == (3,), "pbc must be (3,) bool"),
        (set(props) <= set(PROPERTIES), f"properties must be among {PROPERTIES}"),
        (n == 0 or (numbers.min() >= 1 and numbers.max() <= 118), "atomic numbers 1..118"),
        (np.isfinite(positions).all() and np.isfinite(cell).all(), "non-finite coordinates"),
    ]
    charges, magmoms = a.get("charges"), a.get("magmoms")
    if charges is not None:
        checks.append((charges.dtype == np.float64 and charges.shape == (n,),
                       "charges must be (n,) float64"))
    if magmoms is not None:
        checks.append((magmoms.dtype == np.float64 and magmoms.shape == (n, 3),
                       "magmoms must be (n, 3) float64"))
    info = h.get("info", {})
    checks.append((isinstance(info, dict) and set(info) <= set(_INFO_KEYS)
                   and all(type(v) is int for v in info.values()),
                   f"info may hold only integer {_INFO_KEYS}"))
    for ok, what in checks:
        if not ok:
            raise wire.ProtocolError(f"malformed eval message: {what}")
    return rid, Request(numbers=numbers, positions=positions, cell=cell, pbc=pbc,
                        charges=charges, magmoms=magmoms, info=dict(info), properties=props)


class ModelServer:
    """Serve one batch backend to many replicas (see the module docstring).

    `backend` is a serve.batch.Backend, e.g. ``models.registry.make_backend(calculator)``."""

    def __init__(self, backend, address: wire.Address, *, max_cost: int | None = None,
                 batch_wait: float = 0.02, interface_options: dict | None = None,
                 parent_pid: int | None = None, name: str = "model",
                 log=sys.stderr) -> None:
        self.backend = backend
        self.address = address
        self.max_cost = max_cost
        self.batch_wait = batch_wait
        self.interface_options = dict(interface_options or {})
        self.parent_pid = parent_pid
        self.name = name
        self.log = log
        self.stats = Stats()
        self.selector = selectors.DefaultSelector()
        self.clients: dict[int, _Client] = {}
        self.expected: set[int] = set()  # fds served in the last batch
        self.listener: socket.socket | None = None
        self._stop = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.listener = listen(self.address)
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, None)

    def stop(self, *_) -> None:
        self._stop = True

    def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT, `stop()`, or the parent process (if given) is gone."""
        if self.listener is None:
            self.start()
        with contextlib.suppress(ValueError):  # not the main thread: no signal handlers
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        try:
            while not self._stop:
                self._poll()
                if self.parent_pid is not None and not process_alive(self.parent_pid):
                    self._say(f"parent process {self.parent_pid} is gone: stopping")
                    break
        finally:
            self.close()

    def close(self) -> None:
        for client in list(self.clients.values()):
            self._drop(client)
        if self.listener is not None:
            self.selector.unregister(self.listener)
            self.listener.close()
            self.listener = None
            if self.address.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.address.path)
        s = self.stats
        mean = s.requests / s.batches if s.batches else 0.0
        self._say(f"served {s.requests} requests from {s.clients} replicas in {s.batches} "
                  f"batches (mean {mean:.2f}, max {s.max_batch}), {s.errors} errors, "
                  f"{s.busy_s:.1f} s in the model (pid {os.getpid()})")

    # -- event loop --------------------------------------------------------------------------

    def _poll(self) -> None:
        pending = [c for c in self.clients.values() if c.pending is not None]
        timeout = 1.0
        if pending:
            first = min(c.since for c in pending)
            timeout = max(0.0, first + self.batch_wait - time.monotonic())
            if self._ready(pending):
                timeout = 0.0
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                self._accept()
            else:
                self._read(key.data)
        pending = [c for c in self.clients.values() if c.pending is not None]
        if pending and (self._ready(pending) or
                        time.monotonic() >= min(c.since for c in pending) + self.batch_wait):
            self._run_batch(pending)

    def _ready(self, pending: list[_Client]) -> bool:
        waiting_for = self.expected & self.clients.keys()
        return waiting_for <= {c.sock.fileno() for c in pending}

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        client = _Client(sock)
        self.clients[sock.fileno()] = client
        self.selector.register(sock, selectors.EVENT_READ, client)

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        try:
            messages = client.reader.feed(data)
        except wire.ProtocolError as exc:
            self._refuse(client, None, exc)
            return
        for message in messages:
            if client.sock.fileno() < 0:
                return
            self._handle(client, message)

    def _handle(self, client: _Client, message: wire.Message) -> None:
        kind = message.type
        if kind == "hello":
            client.name = str(message.header.get("client", "?"))[:200]
            self._reply(client, {"type": "welcome", "version": wire.VERSION,
                                 "pid": os.getpid(), "model": self.name,
                                 "implemented_properties": list(
                                     self.backend.implemented_properties),
                                 "interface_options": self.interface_options})
        elif kind == "eval":
            if client.pending is not None:
                self._refuse(client, None, wire.ProtocolError(
                    "a second request before the answer to the first"))
                return
            try:
                client.pending = parse_request(message)
            except wire.ProtocolError as exc:
                self._refuse(client, message.header.get("id"), exc)
                return
            client.since = time.monotonic()
            if not client.replica:
                client.replica = True
                self.stats.clients += 1
        elif kind == "stats":
            self._reply(client, {"type": "stats", **self.stats.as_dict()})
        elif kind == "bye":
            self._drop(client)
        else:
            self._refuse(client, None, wire.ProtocolError(f"unknown message type {kind!r}"))

    def _run_batch(self, pending: list[_Client]) -> None:
        requests = [c.pending[1] for c in pending]
        self.stats.batches += 1
        self.stats.requests += len(requests)
        self.stats.max_batch = max(self.stats.max_batch, len(requests))
        self.stats.atoms += sum(len(r.numbers) for r in requests)
        costs = [self.backend.cost(r) for r in requests]
        outcomes: list[dict | BaseException] = [None] * len(requests)
        for group in pack(costs, self.max_cost):
            self.stats.calls += 1
            start = time.perf_counter()
            try:
                results = self.backend.evaluate([requests[i] for i in group])
            except Exception as exc:  # noqa: BLE001 - the whole call failed: tell each replica
                results = [exc] * len(group)
            self.stats.busy_s += time.perf_counter() - start
            for i, result in zip(group, results, strict=True):
                outcomes[i] = result
        self.expected = set()
        for client, outcome in zip(pending, outcomes, strict=True):
            rid = client.pending[0]
            client.pending = None
            if isinstance(outcome, BaseException):
                self.stats.errors += 1
                self._reply(client, _error_header(rid, outcome))
            else:
                self._reply(client, {"type": "result", "id": rid}, _result_arrays(outcome))
            if client.sock.fileno() >= 0:
                self.expected.add(client.sock.fileno())

    # -- replies -----------------------------------------------------------------------------

    def _reply(self, client: _Client, header: dict, arrays=None) -> None:
        sock = client.sock
        try:
            sock.settimeout(30.0)  # blocking, bounded: a live replica reads its answer at once
            wire.send(sock, header, arrays)
            sock.setblocking(False)
        except OSError:  # the replica died meanwhile
            self._drop(client)

    def _refuse(self, client: _Client, rid, exc: Exception) -> None:
        self.stats.errors += 1
        self._reply(client, _error_header(rid, exc))
        self._drop(client)

    def _drop(self, client: _Client) -> None:
        fd = client.sock.fileno()
        if fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(client.sock)
            self.clients.pop(fd, None)
            self.expected.discard(fd)
            client.sock.close()

    def _say(self, text: str) -> None:
        if self.log is not None:
            print(f"lammps-ase serve: {text}", file=self.log, flush=True)


def _error_header(rid, exc: BaseException) -> dict:
    return {"type": "error", "id": rid, "error": type(exc).__name__, "message": str(exc)}


def _result_arrays(result: dict) -> dict[str, np.ndarray]:
    arrays = {}
    for key, value in result.items():
        if key == "energy":
            value = np.array([float(value)])
        arrays[key] = np.asarray(value, dtype=np.float64)
    return arrays

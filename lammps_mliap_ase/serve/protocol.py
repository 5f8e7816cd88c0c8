"""Wire format between LAMMPS replicas and a shared model server: a small header and raw arrays.

Why not pickle: the model server accepts connections from other processes, and unpickling a
message runs code.  A message here is data only: an 8-byte preamble (magic ``LMA1`` and the
header length), a JSON header (at most 64 KiB) that names the message type and lists the arrays
that follow (name, dtype from a short whitelist, shape), then the arrays' raw bytes.  Anything
that does not parse is a `ProtocolError`; the server answers it with an error message and drops
the connection, it never crashes.

Addresses: a filesystem path is a Unix socket (the default: only processes of this machine that
may open the file can connect); ``HOST:PORT`` is TCP, where HOST must name one interface
(``localhost``, ``127.0.0.1``, ...): the empty host and ``0.0.0.0``/``::`` (all interfaces) are
refused.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass, field

import numpy as np

from ..errors import BridgeError

MAGIC = b"LMA1"
VERSION = 1
_PREAMBLE = struct.Struct("<4sI")
MAX_HEADER = 64 * 1024
MAX_PAYLOAD = 2 * 1024**3  # bytes of arrays in one message (~100 M atoms of positions)
DTYPES = {"<f8": np.float64, "<i8": np.int64, "|b1": np.bool_}
_ALL_INTERFACES = {"", "0.0.0.0", "::", "*"}


class ProtocolError(BridgeError):
    """A message that does not follow the wire format (or a broken connection)."""


class ConnectionClosed(ProtocolError):
    """The other side closed the connection."""


@dataclass
class Message:
    """A decoded message: the JSON header and the named arrays."""

    header: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.header.get("type", ""))


def encode(header: dict, arrays: dict[str, np.ndarray] | None = None) -> list[bytes]:
    """The message as a list of buffers (sent with one `sendmsg`, no concatenation copy)."""
    arrays = arrays or {}
    specs, buffers = [], []
    for name, array in arrays.items():
        a = np.ascontiguousarray(array)
        dtype = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        key = dtype.str
        if key not in DTYPES:
            raise ProtocolError(f"array {name!r} has unsupported dtype {a.dtype}")
        specs.append({"name": name, "dtype": key, "shape": list(a.shape)})
        buffers.append(a.astype(dtype, copy=False).data.cast("B"))
    head = json.dumps({**header, "arrays": specs}, separators=(",", ":")).encode()
    if len(head) > MAX_HEADER:
        raise ProtocolError(f"header of {len(head)} bytes exceeds {MAX_HEADER}")
    return [_PREAMBLE.pack(MAGIC, len(head)), head, *buffers]


def parse_preamble(data: bytes) -> int:
    """Header length from the 8-byte preamble."""
    magic, length = _PREAMBLE.unpack(data)
    if magic != MAGIC:
        raise ProtocolError("not a lammps-mliap-ase message (bad magic)")
    if length > MAX_HEADER:
        raise ProtocolError(f"header length {length} exceeds {MAX_HEADER}")
    return length


def parse_header(data: bytes) -> tuple[dict, list[tuple[str, np.dtype, tuple[int, ...]]], int]:
    """The header, the array specs and the number of payload bytes that follow."""
    try:
        header = json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    specs, total = [], 0
    raw = header.pop("arrays", [])
    if not isinstance(raw, list):
        raise ProtocolError("header 'arrays' is not a list")
    for spec in raw:
        try:
            name, key, shape = str(spec["name"]), spec["dtype"], tuple(spec["shape"])
            dtype = np.dtype(DTYPES[key])
            if not all(isinstance(s, int) and 0 <= s < 2**40 for s in shape) or len(shape) > 3:
                raise ValueError(shape)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"bad array spec {spec!r} ({exc!r})") from None
        total += int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        specs.append((name, dtype, shape))
    if total > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {total} bytes exceeds {MAX_PAYLOAD}")
    return header, specs, total


def split_payload(specs, payload: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """Arrays (read-only views into `payload`) from the specs of `parse_header`."""
    arrays, offset = {}, 0
    for name, dtype, shape in specs:
        count = int(np.prod(shape, dtype=np.int64))
        arrays[name] = np.frombuffer(payload, dtype=dtype, count=count,
                                     offset=offset).reshape(shape)
        offset += count * dtype.itemsize
    return arrays


def send(sock: socket.socket, header: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    """Send one message (blocking).

    A large message may go out partly in one `sendmsg`; the rest follows buffer by buffer
    through memoryviews, so the arrays are never copied into one joined message.
    """
    buffers = encode(header, arrays)
    sent = sock.sendmsg(buffers)
    for buffer in buffers:
        view = memoryview(buffer)
        if sent >= view.nbytes:  # already sent whole
            sent -= view.nbytes
            continue
        sock.sendall(view[sent:])
        sent = 0


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionClosed("connection closed")
        got += k
    return buf


def recv(sock: socket.socket) -> Message:
    """Receive one message (blocking, subject to the socket's timeout)."""
    length = parse_preamble(bytes(_recv_exact(sock, _PREAMBLE.size)))
    header, specs, total = parse_header(bytes(_recv_exact(sock, length)))
    payload = _recv_exact(sock, total) if total else b""
    return Message(header, split_payload(specs, payload))


class Reader:
    """Incremental decoder for a non-blocking server: feed bytes, take complete messages."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self._need: tuple[dict, list, int, int] | None = None  # header, specs, start, size

    def feed(self, data: bytes) -> list[Message]:
        self.buffer += data
        out = []
        while True:
            if self._need is None:
                if len(self.buffer) < _PREAMBLE.size:
                    break
                length = parse_preamble(bytes(self.buffer[:_PREAMBLE.size]))
                end = _PREAMBLE.size + length
                if len(self.buffer) < end:
                    break
                header, specs, total = parse_header(bytes(self.buffer[_PREAMBLE.size:end]))
                self._need = (header, specs, end, total)
            header, specs, start, total = self._need
            if len(self.buffer) < start + total:
                break
            # one copy, through a view released before the buffer shrinks below
            with memoryview(self.buffer) as view, view[start:start + total] as part:
                payload = bytes(part)
            del self.buffer[:start + total]
            self._need = None
            out.append(Message(header, split_payload(specs, payload)))
        return out


# -- addresses ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Address:
    """Where a model server listens: a Unix socket path or a TCP host and port."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Address:
        text = str(text)
        if text.startswith("unix:"):
            return cls(path=text[5:])
        if text.startswith("tcp:"):
            text = text[4:]
        elif "/" in text or ":" not in text:
            return cls(path=text)
        host, _, port = text.rpartition(":")
        host = host.strip("[]")
        if host in _ALL_INTERFACES:
            raise BridgeError(
                f"refusing to listen on all interfaces ({text!r}): name one host, e.g. "
                f"localhost:{port}, or use a Unix socket path")
        try:
            return cls(host=host, port=int(port))
        except ValueError:
            raise BridgeError(f"bad model-server address {text!r}: expected a socket path or "
                              "HOST:PORT") from None

    def __str__(self) -> str:
        return self.path if self.path is not None else f"{self.host}:{self.port}"

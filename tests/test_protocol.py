"""The model server's wire protocol and event loop, without LAMMPS: data only, malformed input
answered with an error (never a crash), results routed to the replica that asked."""

from __future__ import annotations

import json
import os
import pickle
import socket
import stat
import struct
import threading
from contextlib import contextmanager

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from lammps_mliap_ase.errors import BridgeError
from lammps_mliap_ase.models.registry import make_backend
from lammps_mliap_ase.serve import protocol as wire
from lammps_mliap_ase.serve.client import SharedModelCalculator, SharedModelError
from lammps_mliap_ase.serve.server import ModelServer


@contextmanager
def serving(path, **options):
    """An EMT model server in a thread (generic one-system-at-a-time backend)."""
    srv = ModelServer(make_backend(EMT()), wire.Address.parse(str(path)), batch_wait=0.5,
                      log=None, **options)
    srv.start()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.stop()
        thread.join(10)


@pytest.fixture
def server(tmp_path):
    with serving(tmp_path / "model.sock") as srv:
        yield srv


def systems():
    """Four different systems: sizes, elements, cells, a rattle each."""
    out = []
    for k, (symbol, a, rep) in enumerate([("Cu", 3.61, 2), ("Al", 4.05, 2), ("Ni", 3.52, 3),
                                          ("Cu", 3.65, 1)]):
        atoms = bulk(symbol, "fcc", a=a, cubic=True).repeat(rep)
        atoms.rattle(0.05, seed=k)
        out.append(atoms)
    return out


def test_roundtrip_keeps_arrays_and_header():
    arrays = {"a": np.arange(6, dtype=np.int64).reshape(2, 3), "b": np.array([True, False]),
              "c": np.linspace(0, 1, 5)}
    reader = wire.Reader()
    data = b"".join(bytes(b) for b in wire.encode({"type": "x", "id": 3}, arrays))
    messages = reader.feed(data[:5]) + reader.feed(data[5:])
    assert len(messages) == 1
    assert messages[0].header == {"type": "x", "id": 3}
    for key, value in arrays.items():
        np.testing.assert_array_equal(messages[0].arrays[key], value)


def test_unsupported_dtype_is_refused():
    with pytest.raises(wire.ProtocolError, match="unsupported dtype"):
        wire.encode({"type": "x"}, {"o": np.array([object()])})


@pytest.mark.parametrize("text", ["0.0.0.0:5555", ":5555", "[::]:5555", "tcp:*:1"])
def test_all_interfaces_are_refused(text):
    with pytest.raises(BridgeError, match="all interfaces"):
        wire.Address.parse(text)


def test_addresses():
    assert wire.Address.parse("/tmp/x.sock").path == "/tmp/x.sock"
    assert wire.Address.parse("model.sock").path == "model.sock"
    tcp = wire.Address.parse("localhost:5555")
    assert (tcp.host, tcp.port) == ("localhost", 5555)


def test_socket_is_private(server):
    assert stat.S_IMODE(os.stat(server.address.path).st_mode) == 0o600


def replicas_in_threads(address, steps: int = 3) -> dict:
    """One client thread per system of `systems()`, moving an atom and asking for energy,
    forces and stress `steps` times in step with the others; the server's stats at the end."""
    atoms_list = systems()
    clients = [SharedModelCalculator(str(address)) for _ in atoms_list]
    results: dict[tuple[int, int], tuple] = {}
    barrier = threading.Barrier(len(clients))

    def work(k):
        atoms = atoms_list[k].copy()
        atoms.calc = clients[k]
        for step in range(steps):
            barrier.wait()
            atoms.positions[0, 0] += 0.01 * (step + 1)
            results[k, step] = (atoms.get_potential_energy(), atoms.get_forces(),
                                atoms.get_stress(), atoms.positions.copy())

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stats = clients[0].stats()
    for c in clients:
        c.close()
    # each replica got exactly EMT's answer for its own system
    assert len(results) == steps * len(atoms_list)
    for (k, _), (energy, forces, stress, positions) in results.items():
        ref = atoms_list[k].copy()
        ref.positions[:] = positions
        ref.calc = EMT()
        assert energy == pytest.approx(ref.get_potential_energy(), rel=1e-14)
        np.testing.assert_allclose(forces, ref.get_forces(), rtol=0, atol=1e-13)
        np.testing.assert_allclose(stress, ref.get_stress(), rtol=0, atol=1e-14)
    return stats


def test_results_reach_the_replica_that_asked(server):
    """Four clients in threads, four different systems, batched together (the server waits
    for all of them): each gets exactly EMT's answer for its own system."""
    stats = replicas_in_threads(server.address)
    assert stats["max_batch"] == 4, stats  # pending requests were evaluated together


def test_property_the_model_lacks_is_refused_by_the_client(server):
    calc = SharedModelCalculator(str(server.address))
    assert "energy" in calc.implemented_properties
    assert "energies" in calc.implemented_properties  # EMT has per-atom energies
    assert "stresses" not in calc.implemented_properties
    calc.close()


def raw_exchange(address: str, payload: bytes) -> wire.Message | None:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(address)
    sock.settimeout(10)
    sock.sendall(payload)
    try:
        return wire.recv(sock)
    except wire.ConnectionClosed:
        return None
    finally:
        sock.close()


def eval_message(**override) -> bytes:
    arrays = {"numbers": np.array([29, 29], dtype=np.int64),
              "positions": np.array([[0.0, 0, 0], [2.5, 0, 0]]),
              "cell": np.eye(3) * 10, "pbc": np.zeros(3, dtype=bool)}
    header = {"type": "eval", "id": 1, "properties": ["energy", "forces"], "info": {}}
    for key, value in override.items():
        (arrays if isinstance(value, np.ndarray) else header)[key] = value
    return b"".join(bytes(b) for b in wire.encode(header, arrays))


def framed(header) -> bytes:
    """A preamble and a hand-made JSON header (no arrays follow)."""
    head = json.dumps(header).encode()
    return struct.pack("<4sI", b"LMA1", len(head)) + head


@pytest.mark.parametrize("payload, message", [
    (b"GARBAGE!" * 4, "bad magic"),
    (struct.pack("<4sI", b"LMA1", 10**9), "exceeds"),
    (struct.pack("<4sI", b"LMA1", 5) + b"{nope", "not JSON"),
    (pickle.dumps({"type": "eval"}), "bad magic"),
    (framed({"type": "x", "arrays": [{"name": "a"}]}), "bad array spec"),
    (framed({"type": "x", "arrays": [{"name": "a", "dtype": "|O", "shape": [1]}]}),
     "bad array spec"),
    (framed({"type": "x", "arrays": [{"name": "a", "dtype": "<f8", "shape": [-1]}]}),
     "bad array spec"),
    (framed(["not", "an", "object"]), "not a JSON object"),
    (eval_message(positions=np.zeros((3, 3))), "positions must be"),
    (eval_message(numbers=np.array([0, 29], dtype=np.int64)), "atomic numbers"),
    (eval_message(properties=["energy", "__import__"]), "properties must be"),
    (eval_message(info={"charge": "os.system('x')"}), "info may hold only integer"),
    (b"".join(bytes(b) for b in wire.encode({"type": "shutdown"})), "unknown message type"),
])
def test_malformed_messages_get_an_error_reply_and_the_server_lives_on(server, payload,
                                                                       message):
    reply = raw_exchange(str(server.address), payload)
    assert reply is not None and reply.type == "error"
    assert message in reply.header["message"]
    calc = SharedModelCalculator(str(server.address))  # still serving
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())
    calc.close()


def test_a_per_request_error_reaches_only_its_replica(server):
    calc = SharedModelCalculator(str(server.address))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms[0].symbol = "Fe"  # EMT has no Fe
    atoms.calc = calc
    with pytest.raises(SharedModelError, match="model server: .*Fe|model server: .*26"):
        atoms.get_potential_energy()
    good = bulk("Cu", "fcc", a=3.61, cubic=True)
    good.calc = SharedModelCalculator(str(server.address))
    assert np.isfinite(good.get_potential_energy())


def test_no_server_is_one_clear_error(tmp_path):
    with pytest.raises(SharedModelError, match="no model server at .*lammps-ase serve"):
        SharedModelCalculator(str(tmp_path / "none.sock"), connect_timeout=0.3)


def test_second_server_on_the_same_socket_is_refused(server):
    with pytest.raises(BridgeError, match="a model server is already listening at"):
        ModelServer(make_backend(EMT()), server.address, log=None).start()


def test_server_socket_left_by_a_dead_server_is_replaced(tmp_path):
    path = tmp_path / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    srv = ModelServer(make_backend(EMT()), wire.Address.parse(str(path)), log=None)
    srv.start()
    srv.close()


def cli(argv, capsys) -> tuple[int, str]:
    from lammps_mliap_ase.cli import main

    code = main(argv)
    return code, capsys.readouterr().err


def test_cli_refuses_all_interfaces(capsys):
    code, err = cli(["serve", "--calc", "emt", "--listen", "0.0.0.0:5555"], capsys)
    assert code != 0
    assert err.strip().splitlines() == [
        "ERROR: refusing to listen on all interfaces ('0.0.0.0:5555'): name one host, e.g. "
        "localhost:5555, or use a Unix socket path"]


def test_cli_run_needs_a_calculator_or_a_server(tmp_path, capsys):
    inp = tmp_path / "in.x"
    inp.write_text("pair_style mliap unified EXISTS 0\n")
    code, err = cli(["run", "-in", str(inp)], capsys)
    assert code != 0
    assert "ERROR: name a calculator with --calc NAME, or a model server with --server" in err


def test_calculator_options_do_not_apply_to_a_replica(server):
    from lammps_mliap_ase.models.registry import make_calculator

    with pytest.raises(BridgeError, match="the server's model is chosen where it is started"):
        make_calculator("server", address=str(server.address), device="cuda")


def test_memory_budget_splits_a_batch(tmp_path):
    """--max-atoms: four pending systems of 32-108 atoms with a budget of 120 atoms are
    evaluated in several calls, each result still exact."""
    with serving(tmp_path / "budget.sock", max_cost=120) as srv:
        stats = replicas_in_threads(srv.address)
    # 32 + 32 + 108 + 4 atoms: any batch holding the 108-atom system and another but the
    # 4-atom one exceeds 120 atoms and must be split into several calls
    assert stats["max_batch"] >= 2 and stats["calls"] > stats["batches"], stats

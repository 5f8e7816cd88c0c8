"""Replicas of one MPI run (`-partition NxM`) sharing model servers, one or more per node.

Why: `mpirun -np 4 lammps-ase run -partition 4x1 --calc orb-... -in in.x` starts 4 LAMMPS
replicas; each loading its own model would hold 4 copies and call them one small system at a
time.  Instead the lowest rank of each node starts that node's model servers (`lammps-ase
serve`, child processes that do not take part in MPI: one per GPU under ``--device cuda``) on
Unix sockets in a private temporary folder of the node, tells every rank which one is its own,
and stops them once the node's ranks have finished.  Which rank starts which server, on which
device, for whom, is layout.py's pure rule; this module only asks MPI which ranks share a node
and starts what the plan says.  A server exits by itself if the rank that started it dies
(`--parent-pid`), so a killed job leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import BridgeError
from .layout import (
    TEST_NODES_VARIABLE,
    Layout,
    Server,
    partition_sizes,
    plan,
    pseudo_nodes,
    serving,
    visible_gpus,
)

START_TIMEOUT = 600.0  # seconds for the model to load (a first CUDA compile can be slow)


class SharedServer:
    """A model server child of this process (`start`, or `launch` then `wait` to load several
    models at once), on a Unix socket in a private temporary folder."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.folder: str | None = None
        self.address: str | None = None

    def start(self, serve_args: list[str], env: dict[str, str] | None = None) -> str:
        """Start `lammps-ase serve SERVE_ARGS` and wait until it listens; its address.
        `env`: further environment variables of the server (e.g. a PYTHONPATH under which
        a `package.module:Factory` calculator imports)."""
        self.launch(serve_args, env)
        return self.wait()

    def launch(self, serve_args: list[str], env: dict[str, str] | None = None) -> None:
        """Start the server process without waiting for its model to load."""
        self.folder = tempfile.mkdtemp(prefix="lammps-ase-")
        self.address = str(Path(self.folder) / "model.sock")
        env = _child_environment() | (env or {})
        cmd = [sys.executable, "-m", "lammps_mliap_ase.cli", "serve", *serve_args,
               "--socket", self.address, "--parent-pid", str(os.getpid())]
        self.process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)

    def wait(self, deadline: float | None = None) -> str:
        """Wait until the launched server listens (or exits, or START_TIMEOUT passes)."""
        deadline = deadline or time.monotonic() + START_TIMEOUT
        while not os.path.exists(self.address):
            if self.process.poll() is not None:
                raise BridgeError(
                    f"the shared model server exited with code {self.process.returncode} "
                    "before listening (its error is printed above)")
            if time.monotonic() > deadline:
                self.stop()
                raise BridgeError(f"the shared model server did not start in {START_TIMEOUT:g} s")
            time.sleep(0.05)
        return self.address

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class NodeServers:
    """This rank's share of a `-partition` run's servers: the address it uses, the servers it
    started (on a node's lowest rank), and the order of stopping them (`finish`)."""

    def __init__(self, world, node_comm, layout: Layout, address: str,
                 own: list[SharedServer]) -> None:
        self.world, self.node_comm, self.layout = world, node_comm, layout
        self.address, self.own = address, own

    def finish(self) -> None:
        """Stop this node's servers once every rank of the node is done with them; then wait
        for the other nodes, so that no rank leaves early (Open MPI ends the whole job when a
        process exits with an error while others still run)."""
        self.node_comm.Barrier()
        for server in self.own:
            server.stop()
        self.node_comm.Free()
        self.world.Barrier()

    def abort(self, error: BaseException) -> None:
        """End the whole job (MPI_Abort), LAMMPS' rule for an error in one partition: the
        other partitions' ranks would wait in `finish` for ever.  First the reason goes to the
        job's console (stderr) as one line naming the partition and its model server: LAMMPS
        wrote it only to that partition's screen.N and log.N, and Open MPI's abort text says
        nothing of it.  The other nodes' servers follow their parent ranks (--parent-pid)."""
        rank = self.world.Get_rank()
        partition = self.layout.partition_of_rank[rank]
        first = self.layout.partition_of_rank.index(partition)
        text = lammps_error_text(error)
        # an error of the whole partition (LAMMPS' `ERROR:`) reaches all its ranks: its first
        # rank says it, the others give it a moment before they end the job; an `ERROR on proc
        # N` reached this rank alone, which says it
        match = re.match(r"ERROR(?: on proc (\d+))?: *(.*)", text)
        proc, reason = match.groups() if match else (None, text)
        if rank == first or proc is not None:
            where = f"partition {partition}" + (f", its rank {proc}" if proc else "")
            print(f"ERROR: {where} (model server {self.address}): {reason}", file=sys.stderr,
                  flush=True)
        else:
            time.sleep(2.0)
        for server in self.own:
            server.stop()
        self.world.Abort(1)


def lammps_error_text(error: BaseException) -> str:
    """The first line of LAMMPS' error message (without the source file and line LAMMPS
    appends, and without the input line it quotes below)."""
    text = str(getattr(error, "message", None) or error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return re.sub(r" \([\w/.-]+\.(?:cpp|h):\d+\)$", "", first)


def node_of_ranks(world) -> list[int]:
    """A label per world rank; ranks with the same label share memory (MPI_COMM_TYPE_SHARED),
    or the test-only pseudo-nodes of LAMMPS_ASE_TEST_NODES (rank 0's value counts)."""
    from mpi4py import MPI

    test = world.bcast(os.environ.get(TEST_NODES_VARIABLE), root=0)
    if test:
        return pseudo_nodes(test, world.Get_size())
    node = world.Split_type(MPI.COMM_TYPE_SHARED, key=world.Get_rank())
    leader = node.bcast(world.Get_rank(), root=0)
    node.Free()
    return world.allgather(leader)


def _child_environment() -> dict[str, str]:
    """The environment of a child process, which must not believe it is an MPI rank (Open
    MPI/PMIx variables)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("OMPI_", "PMIX_", "PMI_", "MPI_LOCALRANK"))}


def gpu_count() -> int:
    """GPUs this process may use (CUDA_VISIBLE_DEVICES, else torch), read on a node's lowest
    rank: launch so that it sees every GPU of its node.  torch counts in a child process: the
    rank has loaded LAMMPS already, and torch loaded after LAMMPS aborted on a GPU node
    (benchmarks/gpu_acceptance.py); nor should a rank hold a CUDA context it never uses."""
    def torch_count() -> int:
        code = "import torch; print(torch.cuda.device_count())"
        try:
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 timeout=300, env=_child_environment(), check=True)
            return int(out.stdout.split()[-1])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return 0  # no torch, or no CUDA: one server, whose model says what is wrong

    return visible_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"), torch_count)


def start_node_servers(world, partition: str | None,
                       devices: Callable[[], list[str | None]],
                       servers_per_node: int | None,
                       serve_args: Callable[[Server, str], list[str]]) -> NodeServers:
    """Start this run's servers (layout.plan) and return this rank's share.  Collective: every
    world rank calls it, and an error on any rank stops every rank with it (one line each),
    never a hang.  `devices()` is called on each node's lowest rank (its servers' devices);
    `serve_args(server, serving)` gives the `lammps-ase serve` arguments of one server."""
    rank, size = world.Get_rank(), world.Get_size()
    labels = node_of_ranks(world)
    sizes = partition_sizes(partition, size)
    leader = labels.index(labels[rank]) == rank
    mine = world.allgather(_text_of_error(devices) if leader else None)
    errors = [m for m in mine if isinstance(m, str)]
    if errors:
        raise BridgeError(errors[0])
    per_node = [devices_of_node for devices_of_node in mine if devices_of_node is not None]
    layout = plan(labels, sizes, dict(enumerate(per_node)), servers_per_node)
    node_comm = world.Split(color=layout.node_of_rank[rank], key=rank)
    own, started = [], {}
    host = socket.gethostname()
    try:
        for index in layout.started_by(rank):
            own.append(SharedServer())
            own[-1].launch(serve_args(layout.servers[index], serving(layout, index, host)))
        deadline = time.monotonic() + START_TIMEOUT
        for index, server in zip(layout.started_by(rank), own, strict=True):
            started[index] = server.wait(deadline)
    except Exception as exc:  # noqa: BLE001 - every rank must hear of it (allgather below)
        started = {-1: f"node {layout.node_of_rank[rank]} (host {host}): {exc}"}
    addresses = {}
    for part in world.allgather(started):
        addresses.update(part)
    if -1 in addresses:
        for server in own:
            server.stop()
        node_comm.Free()
        raise BridgeError(addresses[-1])
    return NodeServers(world, node_comm, layout, addresses[layout.server_of_rank[rank]], own)


def _text_of_error(devices: Callable[[], list[str | None]]) -> list[str | None] | str:
    """`devices()`, or its error as text (sent to every rank, which all stop with it)."""
    try:
        return devices()
    except Exception as exc:  # noqa: BLE001 - every rank must hear of it
        return f"cannot list this node's devices for its model servers: {exc}"


def partitions(cmdline: str | None) -> int:
    """Number of partitions in LAMMPS' `-partition` argument ("4x1", "2 3", "2x2 1x4")."""
    if not cmdline:
        return 1
    total = 0
    for word in cmdline.split():
        count, sep, _ = word.partition("x")
        total += int(count) if sep else 1
    return total

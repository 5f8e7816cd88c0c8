"""Which rank starts which model server, on which device, and which server each rank uses.

Why pure functions: the rule decides where a cluster job's model copies live (one per server,
so one per GPU by default) and a wrong rule shows only on machines that tests do not have.
Here it is plain data in, plain data out, tested without MPI (tests/test_layout.py); the MPI
side (serve/replicas.py) only collects the inputs and starts what the plan says.

The rule (docs/replicas.md, "On a cluster"):

* A node is the set of ranks that share memory; its lowest rank starts that node's servers.
  Nothing crosses a node: each server listens on a Unix socket in a private folder of its node.
* A *piece* is the ranks of one partition on one node; every partition has one piece, or more
  when it spans nodes.  Each rank talks to a server of its own node, the one of its piece.  The
  piece that holds the partition's root rank is the *replica*: in gather mode (the default for
  a partition of several ranks) only the root evaluates, so the replica is served by its root's
  node; the other pieces only say hello (cluster mode: each piece evaluates on its own node).
* A node starts one server per device (`devices`, e.g. one per GPU), or `servers_per_node`
  servers cycling over the devices, but never more than the replicas rooted on it (at least
  one: its other pieces must connect somewhere).  Replicas are spread evenly, in contiguous
  blocks in partition order; other pieces round-robin.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import BridgeError

#: Test-only: split the world's ranks into this many contiguous pseudo-nodes instead of asking
#: MPI which ranks share memory (tests simulate several nodes on one machine).
TEST_NODES_VARIABLE = "LAMMPS_ASE_TEST_NODES"


@dataclass(frozen=True)
class Server:
    """One model server: its node, the rank that starts it, its device, whom it serves."""

    node: int  # node number, 0.. in the order of the nodes' lowest ranks
    rank: int  # world rank that starts it: its node's lowest
    device: str | None  # its --device (None: the calculator's default)
    replicas: tuple[int, ...]  # partitions rooted on this node that it serves
    ranks: tuple[int, ...]  # every world rank that connects to it


@dataclass(frozen=True)
class Layout:
    servers: tuple[Server, ...]
    server_of_rank: tuple[int, ...]  # index into servers, per world rank
    node_of_rank: tuple[int, ...]  # node number per world rank
    partition_of_rank: tuple[int, ...]

    def started_by(self, rank: int) -> list[int]:
        """Indices of the servers that world rank `rank` starts."""
        return [i for i, s in enumerate(self.servers) if s.rank == rank]


def partition_sizes(cmdline: str | None, world_size: int) -> list[int]:
    """Ranks per partition of LAMMPS' `-partition` argument ("4x1", "2x2", "2 3"; none: one
    partition of the whole world).  LAMMPS gives partitions contiguous blocks of ranks."""
    if not cmdline:
        return [world_size]
    sizes = []
    for word in cmdline.split():
        count, sep, per = word.partition("x") if "x" in word else ("1", "x", word)
        if not (count.isdigit() and per.isdigit() and int(count) > 0 and int(per) > 0):
            raise BridgeError(f"-partition {cmdline}: {word!r} is not N or NxM (e.g. 4x1)")
        sizes += [int(per)] * int(count)
    if sum(sizes) != world_size:
        raise BridgeError(f"-partition {cmdline} needs {sum(sizes)} MPI ranks, this job has "
                          f"{world_size}: start it with mpirun -np {sum(sizes)}")
    return sizes


def pseudo_nodes(text: str, world_size: int) -> list[int]:
    """Node of each rank for LAMMPS_ASE_TEST_NODES=K: K contiguous blocks of ranks (test-only)."""
    if not text.strip().isdigit() or not 1 <= int(text) <= world_size:
        raise BridgeError(f"{TEST_NODES_VARIABLE}={text!r} must be a number of nodes from 1 to "
                          f"{world_size} (it is for tests only: unset it)")
    k = int(text)
    return [rank * k // world_size for rank in range(world_size)]


def visible_gpus(cuda_visible_devices: str | None, device_count) -> int:
    """GPUs a node's processes may use: CUDA_VISIBLE_DEVICES when set (its entries, up to the
    first empty one, as CUDA reads it), else `device_count()` (torch.cuda.device_count)."""
    if cuda_visible_devices is None:
        return device_count()
    count = 0
    for entry in cuda_visible_devices.split(","):
        if not entry.strip() or entry.strip().startswith("-"):
            break
        count += 1
    return count


def server_devices(device: str | None, explicit: Sequence[str] | None, gpus) -> list[str | None]:
    """The devices of a node's servers, one server each: `explicit` (--server-devices) as
    given; one per GPU (`gpus()` of them) for ``--device cuda``; else the one --device."""
    if explicit:
        return list(explicit)
    if device == "cuda":
        n = gpus()
        return [f"cuda:{i}" for i in range(n)] if n > 1 else ["cuda"]
    return [device]


def plan(node_of_rank: Sequence[int], sizes: Sequence[int],
         devices: Mapping[int, Sequence[str | None]],
         servers_per_node: int | None = None) -> Layout:
    """The layout (see the module docstring).  `node_of_rank`: any label per world rank (ranks
    with the same label share a node); `devices`: node number -> its servers' devices."""
    labels = list(dict.fromkeys(node_of_rank))  # in the order of the nodes' lowest ranks
    node = [labels.index(label) for label in node_of_rank]
    partition = [p for p, size in enumerate(sizes) for _ in range(size)]
    if len(partition) != len(node):
        raise BridgeError(f"{len(node)} ranks but partitions of {sum(sizes)}")
    roots = {p: partition.index(p) for p in range(len(sizes))}
    servers: list[Server] = []
    piece_server: dict[tuple[int, int], int] = {}
    for n in range(len(labels)):
        ranks = [r for r in range(len(node)) if node[r] == n]
        pieces = list(dict.fromkeys(partition[r] for r in ranks))
        rooted = [p for p in pieces if node[roots[p]] == n]
        others = [p for p in pieces if node[roots[p]] != n]
        devs = list(devices.get(n) or [None])
        count = max(1, min(servers_per_node or len(devs), len(rooted)))
        first = len(servers)
        for i, p in enumerate(rooted):
            piece_server[(p, n)] = first + i * count // len(rooted)
        for j, p in enumerate(others):
            piece_server[(p, n)] = first + j % count
        for k in range(count):
            servers.append(Server(
                node=n, rank=ranks[0], device=devs[k % len(devs)],
                replicas=tuple(p for p in rooted if piece_server[(p, n)] == first + k),
                ranks=tuple(r for r in ranks if piece_server[(partition[r], n)] == first + k)))
    return Layout(tuple(servers),
                  tuple(piece_server[(partition[r], node[r])] for r in range(len(node))),
                  tuple(node), tuple(partition))


def describe(layout: Layout, partitions: int) -> str:
    """One console line: how many servers on how many nodes, and what that costs."""
    nodes = len({s.node for s in layout.servers})
    counts = [sum(1 for s in layout.servers if s.node == n) for n in range(nodes)]
    each = str(counts[0]) if len(set(counts)) == 1 else f"{min(counts)}-{max(counts)}"
    n = len(layout.servers)
    return (f"lammps-ase run: {partitions} partitions share {n} model server"
            f"{'s' if n > 1 else ''} ({each} per node on {nodes} node{'s' if nodes > 1 else ''}"
            f", one copy of the model each); each server's first line names its partitions")


def spans(numbers: Sequence[int]) -> str:
    """0,1,2,5 -> '0-2,5' (partition lists in the servers' lines)."""
    out, run = [], []
    for x in sorted(numbers):
        if run and x == run[-1] + 1:
            run.append(x)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [x]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out) or "none"


def serving(layout: Layout, index: int, host: str) -> str:
    """What server `index` says it serves in its first line (`lammps-ase serve --serving`):
    its replicas and node, and the ranks of partitions rooted elsewhere that connect to it."""
    server, part = layout.servers[index], layout.partition_of_rank
    line = f"{_counted('partition', server.replicas) or 'no partition'} on node {server.node} " \
           f"({host})"
    visitors = [r for r in server.ranks if part[r] not in server.replicas]
    if visitors:
        line += (f", and {_counted('rank', visitors)} of "
                 f"{_counted('partition', {part[r] for r in visitors})} rooted on another node")
    return line


def _counted(word: str, numbers) -> str:
    """'partition 3', 'partitions 0-1,4'; '' for none."""
    return f"{word}{'s' if len(numbers) > 1 else ''} {spans(numbers)}" if numbers else ""


def expand_host(template: str, host: str | None = None) -> str:
    """`{host}` in a server address -> this machine's host name: one job script line names the
    server of each node (`--server /tmp/lammps-ase-{host}.sock`)."""
    if "{host}" not in template:
        return template
    return template.replace("{host}", host or socket.gethostname())

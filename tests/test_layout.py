"""The rule that places a `-partition` run's model servers (serve/layout.py), without MPI: which
rank starts which server on which device, which server each rank uses, what the lines say.
The same rule under mpirun, with servers that really run: tests/test_node_servers.py."""

from __future__ import annotations

import pytest

from lammps_mliap_ase.errors import BridgeError
from lammps_mliap_ase.serve.layout import (
    describe,
    expand_host,
    partition_sizes,
    plan,
    pseudo_nodes,
    server_devices,
    serving,
    spans,
    visible_gpus,
)


def test_partition_sizes_follow_lammps():
    assert partition_sizes("4x1", 4) == [1, 1, 1, 1]
    assert partition_sizes("2x2", 4) == [2, 2]
    assert partition_sizes("2 3", 5) == [2, 3]
    assert partition_sizes("1x2 3", 5) == [2, 3]
    assert partition_sizes(None, 3) == [3]  # --share yes without -partition: one replica
    with pytest.raises(BridgeError, match=r"-partition 4x1 needs 4 MPI ranks, this job has 3: "
                                          r"start it with mpirun -np 4"):
        partition_sizes("4x1", 3)
    with pytest.raises(BridgeError, match="'4y1' is not N or NxM"):
        partition_sizes("4y1", 4)


def test_pseudo_nodes_are_contiguous_blocks():
    assert pseudo_nodes("2", 4) == [0, 0, 1, 1]
    assert pseudo_nodes("3", 4) == [0, 0, 1, 2]
    assert pseudo_nodes("1", 4) == [0, 0, 0, 0]
    for bad in ("0", "5", "two"):
        with pytest.raises(BridgeError, match="LAMMPS_ASE_TEST_NODES=.* must be a number of "
                                              "nodes from 1 to 4 .it is for tests only"):
            pseudo_nodes(bad, 4)


def test_visible_gpus_read_cuda_visible_devices_as_cuda_does():
    def never() -> int:
        raise AssertionError("CUDA_VISIBLE_DEVICES is set: torch is not asked")

    assert visible_gpus("0,1", never) == 2
    assert visible_gpus("GPU-5f1e,GPU-77aa,GPU-0b3c", never) == 3
    assert visible_gpus("", never) == 0
    assert visible_gpus("2,,3", never) == 1  # CUDA stops at the first invalid entry
    assert visible_gpus("-1", never) == 0
    assert visible_gpus(None, lambda: 4) == 4


def test_server_devices_one_per_gpu_under_device_cuda():
    def never() -> int:
        raise AssertionError("not --device cuda: GPUs are not counted")

    assert server_devices("cuda", None, lambda: 2) == ["cuda:0", "cuda:1"]
    assert server_devices("cuda", None, lambda: 1) == ["cuda"]
    assert server_devices("cuda", None, lambda: 0) == ["cuda"]  # the server says what is wrong
    assert server_devices("cuda:1", None, never) == ["cuda:1"]  # one named GPU: one server
    assert server_devices("cpu", None, never) == ["cpu"]
    assert server_devices(None, None, never) == [None]  # the calculator's default
    assert server_devices("cuda", ["cuda:2", "cuda:3"], never) == ["cuda:2", "cuda:3"]


def test_one_server_per_node_serves_the_partitions_rooted_there():
    layout = plan([0, 0, 1, 1], [1, 1, 1, 1], {})
    assert [(s.node, s.rank, s.device, s.replicas, s.ranks) for s in layout.servers] == [
        (0, 0, None, (0, 1), (0, 1)), (1, 2, None, (2, 3), (2, 3))]
    assert layout.server_of_rank == (0, 0, 1, 1)
    assert layout.started_by(0) == [0] and layout.started_by(2) == [1]
    assert layout.started_by(1) == layout.started_by(3) == []
    # node labels are anything (MPI gives the node's lowest rank); numbers follow rank order
    assert plan([7, 7, 3, 3], [2, 2], {}).server_of_rank == (0, 0, 1, 1)


def test_two_gpus_split_the_replicas_in_contiguous_blocks():
    layout = plan([0] * 4, [1] * 4, {0: ["cuda:0", "cuda:1"]})
    assert [(s.device, s.replicas) for s in layout.servers] == [
        ("cuda:0", (0, 1)), ("cuda:1", (2, 3))]
    assert all(s.rank == 0 for s in layout.servers)  # the node's lowest rank starts both
    assert layout.server_of_rank == (0, 0, 1, 1)
    uneven = plan([0] * 5, [1] * 5, {0: ["cuda:0", "cuda:1"]})
    assert [s.replicas for s in uneven.servers] == [(0, 1, 2), (3, 4)]
    two_nodes = plan([0, 0, 0, 0, 1, 1, 1, 1], [1] * 8,
                     {0: ["cuda:0", "cuda:1"], 1: ["cuda:0", "cuda:1"]})
    assert [(s.node, s.device, s.replicas) for s in two_nodes.servers] == [
        (0, "cuda:0", (0, 1)), (0, "cuda:1", (2, 3)),
        (1, "cuda:0", (4, 5)), (1, "cuda:1", (6, 7))]


def test_servers_per_node_cycle_over_the_devices_and_never_exceed_the_replicas():
    four = plan([0] * 8, [1] * 8, {0: ["cuda:0", "cuda:1"]}, servers_per_node=4)
    assert [(s.device, s.replicas) for s in four.servers] == [
        ("cuda:0", (0, 1)), ("cuda:1", (2, 3)), ("cuda:0", (4, 5)), ("cuda:1", (6, 7))]
    cpu = plan([0] * 4, [1] * 4, {0: ["cpu"]}, servers_per_node=2)
    assert [(s.device, s.replicas) for s in cpu.servers] == [("cpu", (0, 1)), ("cpu", (2, 3))]
    few = plan([0, 0], [1, 1], {0: [f"cuda:{i}" for i in range(4)]})
    assert [(s.device, s.replicas) for s in few.servers] == [("cuda:0", (0,)), ("cuda:1", (1,))]


def test_a_partition_spanning_two_nodes_is_served_on_its_roots_node():
    """2x2 over 3 nodes of 2, 1, 1 ranks: partition 1 (ranks 2, 3) spans nodes 1 and 2.  Its
    root (rank 2) evaluates in gather mode, on node 1's server; rank 3 only says hello to the
    server of its own node 2, which serves no replica (but must exist: rank 3 connects)."""
    layout = plan(pseudo_nodes("3", 4), [2, 2], {})
    assert [(s.node, s.rank, s.replicas, s.ranks) for s in layout.servers] == [
        (0, 0, (0,), (0, 1)), (1, 2, (1,), (2,)), (2, 3, (), (3,))]
    assert layout.server_of_rank == (0, 0, 1, 2)
    assert serving(layout, 2, "n3") == ("no partition on node 2 (n3), and rank 3 of partition "
                                        "1 rooted on another node")
    # a node with a rooted replica and a visiting piece starts one server for both, even with
    # two GPUs: the visitor does not evaluate in gather mode, so it is not worth a model copy
    mixed = plan([0, 0, 1, 1], [3, 1], {1: ["cuda:0", "cuda:1"]})
    assert [(s.node, s.device, s.replicas, s.ranks) for s in mixed.servers] == [
        (0, None, (0,), (0, 1)), (1, "cuda:0", (1,), (2, 3))]


def test_lines_that_name_the_layout():
    layout = plan([0, 0, 1, 1], [1, 1, 1, 1], {})
    assert describe(layout, 4) == (
        "lammps-ase run: 4 partitions share 2 model servers (1 per node on 2 nodes, one copy of "
        "the model each); each server's first line names its partitions")
    assert serving(layout, 1, "n2") == "partitions 2-3 on node 1 (n2)"
    one = plan([0, 0], [1, 1], {})
    assert describe(one, 2).startswith("lammps-ase run: 2 partitions share 1 model server "
                                       "(1 per node on 1 node,")
    assert spans([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_server_address_template_names_this_host():
    assert expand_host("/tmp/lammps-ase-{host}.sock", "node07") == "/tmp/lammps-ase-node07.sock"
    assert expand_host("{host}:5555", "node07") == "node07:5555"
    assert expand_host("/tmp/model.sock") == "/tmp/model.sock"
    import socket

    assert expand_host("{host}") == socket.gethostname()

"""`-partition` runs on several nodes and GPUs (docs/replicas.md, "On a cluster"), simulated
on one machine: LAMMPS_ASE_TEST_NODES=K splits the world's ranks into K pseudo-nodes (a
test-only override of MPI's shared-memory split), and CUDA_VISIBLE_DEVICES=0,1 with a
calculator that accepts and ignores a device (tests/calculators.py) stands for two GPUs.

Each test checks three things: every replica's thermo equals its run alone (1e-10, as in
test_replicas.py), the number of server processes (their first lines, by pid), and that each
server saw only its own replicas.  Partitions run different numbers of steps (21, 31, 41, 51
requests), so a server's request count names the partitions it served.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from test_mpi import clean_mpi_environment
from test_replicas import DATA, LAMMPS_ASE, assert_same_thermo, run_alone

from conftest import mpirun_command, requires_mpi

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
TEMPERATURES = (60, 90, 120, 150)
STEPS = (20, 30, 40, 50)
LISTENING = re.compile(r"lammps-ase serve: \S+ \(.+?\)(?: on (\S+))? listening on (\S+), "
                       r"pid (\d+); serving (.+?) for process \d+ \(none to start by hand\)")
SERVED = re.compile(r"served (\d+) requests from (\d+) replicas .*\(pid (\d+)\)")


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """Thermo of partition k's input run alone (EMT in this process), made once per module."""
    logs: dict[int, str] = {}

    def get(k: int) -> str:
        if k not in logs:
            logs[k] = run_alone(DATA / "in.replica_md", replica_variables(k), ["--calc", "emt"],
                                tmp_path_factory.mktemp(f"alone{k}"))
        return logs[k]

    return get


def replica_variables(k: int) -> list[str]:
    return ["-var", "T", str(TEMPERATURES[k]), "-var", "steps", str(STEPS[k])]


def partition_input(tmp_path: Path, n: int, steps: dict[int, int] | None = None) -> Path:
    """Partition k runs at TEMPERATURES[k] for STEPS[k] steps (or `steps[k]`)."""
    steps = {k: STEPS[k] for k in range(n)} | (steps or {})
    lines = [f"partition yes {k + 1} variable T index {TEMPERATURES[k]}" for k in range(n)]
    lines += [f"partition yes {k + 1} variable steps index {steps[k]}" for k in range(n)]
    path = tmp_path / "in.partitions"
    path.write_text("\n".join([*lines, f"include {DATA / 'in.replica_md'}", ""]))
    return path


def job(tmp_path: Path, partition: str, nodes: int | None, *extra: str,
        steps: dict[int, int] | None = None, **env: str) -> subprocess.Popen:
    """`mpirun -np 4 lammps-ase run -partition ...` under `nodes` pseudo-nodes."""
    n = int(partition.split("x")[0])
    environment = clean_mpi_environment() | env | {
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])}
    environment.pop("LAMMPS_ASE_TEST_NODES", None)
    if nodes is not None:
        environment["LAMMPS_ASE_TEST_NODES"] = str(nodes)
    cmd = mpirun_command(4) + [LAMMPS_ASE, "run", "-in", str(partition_input(tmp_path, n, steps)),
                               "-partition", partition, "--nocite", "--quiet", *extra]
    return subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environment)


def finished(proc: subprocess.Popen) -> tuple[str, str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    return out, err


def servers(out: str, err: str) -> dict[int, dict]:
    """Per server pid: its device, whom its first line says it serves, and its statistics."""
    found = {int(pid): {"device": device, "address": address, "serving": serving}
             for device, address, pid, serving in LISTENING.findall(out)}
    for requests, replicas, pid in SERVED.findall(err):
        found[int(pid)] |= {"requests": int(requests), "replicas": int(replicas)}
    return found


def by_serving(found: dict[int, dict]) -> dict[str, tuple]:
    """{'partitions 0-1 on node 0': (requests, replicas, device), ...}"""
    return {s["serving"].split(" (")[0]: (s["requests"], s["replicas"], s["device"])
            for s in found.values()}


@requires_mpi
def test_two_nodes_4x1_one_server_per_node(tmp_path, alone):
    """Acceptance: `mpirun -np 4 lammps-ase run -partition 4x1 --calc emt`, two nodes: two
    servers, partitions 0-1 on node 0's and 2-3 on node 1's, each replica as alone."""
    out, err = finished(job(tmp_path, "4x1", 2, "--calc", "emt"))
    found = servers(out, err)
    assert len(found) == 2, out
    assert "4 partitions share 2 model servers (1 per node on 2 nodes" in out
    assert len({s["address"] for s in found.values()}) == 2
    assert by_serving(found) == {"partitions 0-1 on node 0": (21 + 31, 2, ""),
                                 "partitions 2-3 on node 1": (41 + 51, 2, "")}, found
    for k in range(4):
        assert_same_thermo(alone(k), (tmp_path / f"log.lammps.{k}").read_text())


@requires_mpi
def test_two_nodes_2x2_one_server_per_partition(tmp_path, alone):
    """Acceptance: 2x2 partitions on two nodes of two ranks: each partition is one node, its
    root evaluates (gather mode) on its node's server; its second rank only says hello."""
    out, err = finished(job(tmp_path, "2x2", 2, "--calc", "emt"))
    found = servers(out, err)
    assert len(found) == 2, out
    assert by_serving(found) == {"partition 0 on node 0": (21, 1, ""),
                                 "partition 1 on node 1": (31, 1, "")}, found
    for k in range(2):
        assert_same_thermo(alone(k), (tmp_path / f"log.lammps.{k}").read_text())


@requires_mpi
def test_a_partition_spanning_two_nodes_uses_its_roots_server(tmp_path, alone):
    """2x2 over three nodes (ranks 0-1 | 2 | 3): partition 1 spans nodes 1 and 2.  Its root
    evaluates on node 1's server; node 2's server exists for rank 3's connection and serves
    no replica.  Both partitions equal their runs alone."""
    out, err = finished(job(tmp_path, "2x2", 3, "--calc", "emt"))
    found = servers(out, err)
    assert len(found) == 3, out
    assert by_serving(found) == {"partition 0 on node 0": (21, 1, ""),
                                 "partition 1 on node 1": (31, 1, ""),
                                 "no partition on node 2": (0, 0, "")}, found
    assert any("rank 3 of partition 1 rooted on another node" in s["serving"]
               for s in found.values())
    for k in range(2):
        assert_same_thermo(alone(k), (tmp_path / f"log.lammps.{k}").read_text())


@requires_mpi
def test_two_gpus_one_server_each(tmp_path, alone):
    """--device cuda on a node whose ranks see two GPUs (CUDA_VISIBLE_DEVICES=0,1): one server
    per GPU, started with --device cuda:0 and cuda:1, two replicas each."""
    out, err = finished(job(tmp_path, "4x1", None, "--calc", "calculators:emt_on_device",
                            "--device", "cuda", CUDA_VISIBLE_DEVICES="0,1"))
    found = servers(out, err)
    assert len(found) == 2, out
    assert by_serving(found) == {"partitions 0-1 on node 0": (21 + 31, 2, "cuda:0"),
                                 "partitions 2-3 on node 0": (41 + 51, 2, "cuda:1")}, found
    for k in range(4):
        assert_same_thermo(alone(k), (tmp_path / f"log.lammps.{k}").read_text())


@requires_mpi
def test_a_killed_server_stops_only_the_replicas_it_served(tmp_path, alone):
    """Node 1's server is killed while its replicas run: they stop with the documented error
    (in their logs), node 0's replicas finish exactly as alone, and the job exits non-zero
    only after them (no rank leaves early, so mpirun does not abort the others)."""
    proc = job(tmp_path, "4x1", 2, "--calc", "emt", steps={2: 100000, 3: 100000})
    victim = None
    try:
        for line in proc.stdout:
            match = LISTENING.search(line)
            if match and match.group(4).startswith("partitions 2-3"):
                victim = int(match.group(3))
                break
        assert victim, "no server for partitions 2-3"
        deadline = time.monotonic() + 300
        while not all(running(tmp_path / f"log.lammps.{k}") for k in (2, 3)):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.5)
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    for k in (2, 3):
        log = (tmp_path / f"log.lammps.{k}").read_text()
        assert "SharedModelError: the model server at" in log and "closed the connection" in log
    # the console (stderr) carries the reason, naming the partition and its server
    reasons = re.findall(r"^ERROR: partition (\d) \(model server (\S+)\): .*SharedModelError: "
                         r"the model server at (\S+) closed the connection", err, re.MULTILINE)
    assert reasons and {int(k) for k, _, _ in reasons} <= {2, 3}, err[-3000:]
    assert all(server == named for _, server, named in reasons), reasons
    for k in (0, 1):
        assert_same_thermo(alone(k), (tmp_path / f"log.lammps.{k}").read_text())
    assert re.search(r"served 52 requests from 2 replicas", err), err[-3000:]


@requires_mpi
def test_an_error_on_one_rank_ends_the_whole_job_at_once(tmp_path):
    """LAMMPS' `ERROR on proc N` (here: 1/0 in an atom-style variable, on the rank that owns
    atom 1) stops one rank while its partition's other rank waits inside LAMMPS: LAMMPS' rule
    is MPI_Abort, so the job ends at once (it used to hang in the final barrier), and the
    servers of every node stop with their parents."""
    inp = tmp_path / "in.bad"
    inp.write_text(f"variable steps index 20\ninclude {DATA / 'in.replica_md'}\n"
                   "variable bad atom 1/(id-1)\ncompute r all reduce sum v_bad\n"
                   "thermo_style custom step pe c_r\nrun 10\n")
    environment = clean_mpi_environment() | {"PYTHONPATH": str(REPO),
                                             "LAMMPS_ASE_TEST_NODES": "2"}
    start = time.monotonic()
    proc = subprocess.run(mpirun_command(4) + [LAMMPS_ASE, "run", "-in", str(inp), "-partition",
                                               "2x2", "--nocite", "--quiet", "--calc", "emt"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=environment)
    print(f"the job ended {time.monotonic() - start:.1f} s after it started")
    assert proc.returncode != 0
    # both partitions run the input; whichever reaches the error first ends the job
    assert re.search(r"^ERROR: partition [01], its rank 1 \(model server \S+\): Divide by 0 in "
                     r"variable formula", proc.stderr, re.MULTILINE), proc.stderr[-3000:]
    pids = [int(m[2]) for m in LISTENING.findall(proc.stdout)]
    assert len(pids) == 2, proc.stdout
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in pids)


@requires_mpi
def test_a_server_that_fails_to_start_stops_every_rank_in_one_line(tmp_path):
    """A server whose model does not build (EMT has no device option) stops the run before
    LAMMPS starts: the server's own error, then one line that names the node."""
    environment = clean_mpi_environment() | {"PYTHONPATH": str(REPO)}
    proc = subprocess.run(mpirun_command(2) + [
        LAMMPS_ASE, "run", "-in", str(partition_input(tmp_path, 2)), "-partition", "2x1",
        "--calc", "emt", "--server-devices", "cpu:0"], cwd=tmp_path, capture_output=True,
        text=True, timeout=300, env=environment)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert errors == ["ERROR: emt has no option 'device'; its options are asap_cutoff",
                      f"ERROR: node 0 (host {socket.gethostname()}): the shared model server "
                      "exited with code 1 before listening (its error is printed above)"], \
        proc.stderr


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running(log: Path) -> bool:
    """Whether the replica has printed its thermo row of step 10 (so it is connected)."""
    return log.exists() and re.search(r"^\s+10\s+\S", log.read_text(), re.MULTILINE) is not None


def test_server_template_names_each_hosts_server(tmp_path, alone):
    """Servers started by hand on each node (`serve --socket DIR/{host}.sock`) and replicas
    pointed at `--server DIR/{host}.sock`: one line for every node of a job script."""
    template = str(tmp_path / "lammps-ase-{host}.sock")
    server = subprocess.Popen([LAMMPS_ASE, "serve", "--calc", "emt", "--socket", template],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert f"listening on {tmp_path / f'lammps-ase-{socket.gethostname()}.sock'}" in line
        run = subprocess.run([LAMMPS_ASE, "run", "-in", str(DATA / "in.replica_md"), "--quiet",
                              "--nocite", "--server", template, "-log", "log.lammps",
                              *replica_variables(0)], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
    finally:
        server.terminate()
        server.communicate(timeout=60)
    assert_same_thermo(alone(0), (tmp_path / "log.lammps").read_text())


@pytest.mark.parametrize("args, message", [
    (["--calc", "emt", "--servers-per-node", "2"],
     "ERROR: --servers-per-node place the model servers that `run -partition` starts, but this "
     "run starts none (it needs -partition NxM, or --share yes): drop --servers-per-node"),
    (["--server", "/tmp/x.sock", "-partition", "2x1", "--server-devices", "cuda:0,cuda:1"],
     "ERROR: --server-devices place the model servers that `run -partition` starts, but "
     "--server /tmp/x.sock was started by hand: drop --server-devices"),
])
def test_server_placement_without_servers_to_place_is_refused(tmp_path, args, message):
    proc = subprocess.run([LAMMPS_ASE, "run", "-in", str(DATA / "in.replica_md"), *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip() == message, proc.stderr

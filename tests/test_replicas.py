"""Replicas sharing one model server (docs/replicas.md): exact, batched, and fault-tolerant.

EMT through the server is compared at 1e-10 relative, not bitwise: one EMT object serves all
replicas, so its neighbour list is rebuilt for each system and sums run in another order
(measured: the last of 12 printed digits differs now and then).

The reference is each replica run alone with the model in its own process.  Replicas differ
(temperature, pressure), so a result delivered to the wrong replica, or systems swapped inside
a batch, changes their trajectories and fails these tests.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_cli import thermo_rows
from test_mpi import clean_mpi_environment

from conftest import mpirun_command, requires_mpi

DATA = Path(__file__).parent / "data"
BIN = Path(sys.executable).parent
LAMMPS_ASE = str(BIN / "lammps-ase")
ARGON_LJ = ["--calc", "torchsim-lj", "--calc-opt", "sigma=3.405", "--calc-opt",
            "epsilon=0.0103", "--calc-opt", "cutoff=8.5"]
ARGON_MD = ["-var", "elem", "Ar", "-var", "lat", "5.26", "-var", "mass", "39.948"]
TEMPERATURES = (60, 90, 120, 150)
PRESSURES = (0.01, 1.0, 10.0, 100.0)  # bar: very different numbers of GCMC calls


def numbers(log: str) -> np.ndarray:
    rows = thermo_rows(log)
    assert len(rows) > 2, log[-2000:]
    return np.array([[float(x) for x in row] for row in rows[1:]])


def assert_same_thermo(alone: str, shared: str, rtol: float = 1e-10) -> None:
    a, b = numbers(alone), numbers(shared)
    assert a.shape == b.shape
    np.testing.assert_allclose(b, a, rtol=rtol, atol=1e-12 * np.abs(a).max())
    scale = np.where(a == 0, 1.0, np.abs(a))
    print(f"thermo: {a.shape[0]} rows, max relative difference {np.max(np.abs(b - a) / scale):.1e}")


def run_alone(inp: Path, variables: list[str], calc: list[str], cwd: Path) -> str:
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([LAMMPS_ASE, "run", "-in", str(inp), "--nocite", "--quiet", *calc,
                           *variables], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (cwd / "log.lammps").read_text()


def partition_input(tmp_path: Path, name: str, include: Path, values: dict[int, str]) -> Path:
    """An input that sets index variables per partition, then includes the replica input."""
    lines = [f"partition yes {k} variable {v}" for k, v in values.items()]
    path = tmp_path / name
    path.write_text("\n".join([*lines, f"include {include}", ""]))
    return path


def run_partitions(inp: Path, calc: list[str], cwd: Path, n: int) -> tuple[list[str], str]:
    cwd.mkdir(parents=True, exist_ok=True)
    cmd = mpirun_command(n) + [LAMMPS_ASE, "run", "-in", str(inp), "-partition", f"{n}x1",
                               "--nocite", "--batched", "yes", *calc]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900,
                          env=clean_mpi_environment())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [(cwd / f"log.lammps.{k}").read_text() for k in range(n)], proc.stderr


def served(stderr: str) -> dict[str, float]:
    """The server's closing line: requests, batches, mean and max batch size."""
    match = re.search(r"served (\d+) requests from (\d+) replicas in (\d+) batches "
                      r"\(mean ([\d.]+), max (\d+)\)", stderr)
    assert match, stderr[-3000:]
    keys = ("requests", "replicas", "batches", "mean", "max")
    return dict(zip(keys, map(float, match.groups()), strict=True))


@requires_mpi
def test_partitions_md_equal_each_replica_alone(tmp_path):
    """4 replicas at 4 temperatures, one batched float64 model: thermo of each = its run alone
    (1e-10 relative, 100 steps), and the server really formed batches of 4."""
    pytest.importorskip("torch_sim", reason="torch-sim-atomistic is the float64 batched model")
    inp = partition_input(tmp_path, "in.md", DATA / "in.replica_md",
                          {k + 1: f"T index {t}" for k, t in enumerate(TEMPERATURES)})
    shared, stderr = run_partitions(inp, [*ARGON_LJ, *ARGON_MD], tmp_path / "shared", 4)
    stats = served(stderr)
    assert stats["max"] == 4 and stats["mean"] > 3.5, stats
    for k, t in enumerate(TEMPERATURES):
        alone = run_alone(DATA / "in.replica_md", [*ARGON_MD, "-var", "T", str(t)], ARGON_LJ,
                          tmp_path / f"alone{t}")
        assert_same_thermo(alone, shared[k])


@requires_mpi
def test_partitions_gcmc_chains_equal_alone(tmp_path):
    """fix gcmc at 0.01 ... 100 bar as 4 replicas (very different numbers of calls): every
    chain identical to its run alone (atoms, energy, accepted moves), and all finish."""
    pytest.importorskip("torch_sim", reason="torch-sim-atomistic is the float64 batched model")
    inp = partition_input(tmp_path, "in.gcmc", DATA / "in.replica_gcmc",
                          {k + 1: f"P index {p}" for k, p in enumerate(PRESSURES)})
    shared, stderr = run_partitions(inp, ARGON_LJ, tmp_path / "shared", 4)
    counts = []
    for k, p in enumerate(PRESSURES):
        alone = run_alone(DATA / "in.replica_gcmc", ["-var", "P", str(p)], ARGON_LJ,
                          tmp_path / f"alone{k}")
        assert_same_thermo(alone, shared[k])
        counts.append(numbers(shared[k])[-1, 1])
    assert counts[0] < counts[-1], counts  # the pressures really differ
    assert served(stderr)["requests"] > 0


def test_separate_processes_share_one_server(tmp_path):
    """`lammps-ase serve` + replicas started as separate processes (`--server`): EMT (one system
    at a time, the generic path) gives each replica exactly its run alone."""
    server, address = start_server(tmp_path, ["--calc", "emt"])
    try:
        procs = [replica(tmp_path / f"r{t}", address, ["-var", "T", str(t)])
                 for t in TEMPERATURES[1:]]
        # the first replica is plain `lmp` with a pair file that points at the server
        pair = tmp_path / "shared.pkl"
        written = subprocess.run([LAMMPS_ASE, "write-pair", str(pair), "--server", address],
                                 capture_output=True, text=True, timeout=120)
        assert written.returncode == 0, written.stderr
        cwd = tmp_path / f"r{TEMPERATURES[0]}"
        cwd.mkdir()
        procs.append(subprocess.Popen(
            [str(BIN / "lmp"), "-in", str(DATA / "in.replica_md"), "-var", "pairfile", str(pair),
             "-var", "T", str(TEMPERATURES[0]), "-nocite", "-screen", "none"], cwd=cwd,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        for proc in procs:
            assert proc.wait(300) == 0, proc.stderr.read()[-3000:]
    finally:
        stderr = stop(server)
    assert served(stderr)["requests"] == 4 * 101  # setup + 100 steps, one round trip each
    for t in TEMPERATURES[:2]:  # the `lmp` replica and one `lammps-ase run` replica
        alone = run_alone(DATA / "in.replica_md", ["-var", "T", str(t)], ["--calc", "emt"],
                          tmp_path / f"alone{t}")
        assert_same_thermo(alone, (tmp_path / f"r{t}" / "log.lammps").read_text())


def test_killed_replica_does_not_stop_the_others(tmp_path):
    server, address = start_server(tmp_path, ["--calc", "emt"])
    try:
        procs = {t: replica(tmp_path / f"r{t}", address, ["-var", "T", str(t), "-var", "steps",
                                                           "400"]) for t in TEMPERATURES}
        time.sleep(3.0)
        victim = procs.pop(TEMPERATURES[0])
        victim.kill()
        victim.wait()
        for proc in procs.values():
            assert proc.wait(300) == 0, proc.stderr.read()[-3000:]
    finally:
        stop(server)
    t = TEMPERATURES[1]
    alone = run_alone(DATA / "in.replica_md", ["-var", "T", str(t), "-var", "steps", "400"],
                      ["--calc", "emt"], tmp_path / "alone")
    assert_same_thermo(alone, (tmp_path / f"r{t}" / "log.lammps").read_text())


def test_killed_server_stops_every_replica_with_one_error(tmp_path):
    server, address = start_server(tmp_path, ["--calc", "emt"])
    procs = [replica(tmp_path / f"r{t}", address, ["-var", "T", str(t), "-var", "steps",
                                                    "100000"]) for t in TEMPERATURES[:3]]
    time.sleep(3.0)
    server.kill()
    killed = time.monotonic()
    for proc in procs:
        proc.wait(300)  # a guard against a hang, not a speed: the message says how it ended
        assert proc.returncode != 0
        err = proc.stderr.read()
        assert "closed the connection" in err and "did not answer within" not in err, err
    print(f"every replica stopped {time.monotonic() - killed:.2f} s after the server was killed")
    server.wait()


def test_unresponsive_server_times_out(tmp_path):
    """A server that stops answering (here: SIGSTOP) gives the documented timeout error."""
    server, address = start_server(tmp_path, ["--calc", "emt"])
    proc = replica(tmp_path / "r", address, ["-var", "steps", "100000"],
                   ["--server-timeout", "3"])
    try:
        time.sleep(3.0)
        server.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        proc.wait(300)  # a guard against a hang, not a speed
        waited = time.monotonic() - stopped
        print(f"the replica stopped {waited:.2f} s after the server stopped answering")
        assert waited >= 3.0  # it gave the server the whole timeout (true on any machine)
        assert "did not answer within 3 s" in proc.stderr.read()
    finally:
        server.send_signal(signal.SIGCONT)
        stop(server)


def test_replicas_in_one_folder_keep_their_own_logs(tmp_path):
    """Two `--server` replicas started in the same folder without -log used to write the same
    log.lammps, the second truncating the first: now each writes log.lammps.PID and says so."""
    server, address = start_server(tmp_path, ["--calc", "emt"])
    try:
        procs = {t: subprocess.Popen(
            [LAMMPS_ASE, "run", "-in", str(DATA / "in.replica_md"), "--nocite", "--quiet",
             "--server", address, "-var", "T", str(t), "-var", "steps", "20"], cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for t in TEMPERATURES[:2]}
        outputs = {t: proc.communicate(timeout=300) for t, proc in procs.items()}
    finally:
        stop(server)
    assert not (tmp_path / "log.lammps").exists()
    for t, proc in procs.items():
        out, err = outputs[t]
        assert proc.returncode == 0, err[-3000:]
        log = tmp_path / f"log.lammps.{proc.pid}"
        assert out.splitlines() == [f"lammps-ase run: the LAMMPS log of this replica is "
                                    f"{log.name} (-log FILE names it)"]
        assert re.search(rf"velocity\s+all create {t} ", log.read_text())
        assert len(numbers(log.read_text())) == 3  # its own thermo rows: steps 10 and 20


def test_write_pair_is_not_counted_as_a_replica(tmp_path):
    """`write-pair --server` says hello to check the server and leaves; only connections that
    ask for an evaluation are replicas in the server's statistics."""
    from ase.build import bulk

    from lammps_mliap_ase.serve.client import SharedModelCalculator

    server, address = start_server(tmp_path, ["--calc", "emt"])
    try:
        written = subprocess.run([LAMMPS_ASE, "write-pair", str(tmp_path / "shared.pkl"),
                                  "--server", address], capture_output=True, text=True,
                                 timeout=120)
        assert written.returncode == 0, written.stderr
        calc = SharedModelCalculator(address)
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
        atoms.calc = calc
        atoms.get_potential_energy()
        assert calc.stats()["clients"] == 1
        calc.close()
    finally:
        stderr = stop(server)
    assert served(stderr)["replicas"] == 1


def test_partition_output_is_named_in_one_line():
    """LAMMPS' rule for -partition (partition N writes LOG.N and screen.N), said once."""
    from lammps_mliap_ase.cli.commands import log_name, output_note, parser

    def note(*extra: str) -> str:
        args = parser().parse_args(["run", "-in", "in.x", "-partition", "4x1", "--calc", "emt",
                                    *extra])
        return output_note(args, log_name(args))

    assert note() == ("lammps-ase run: 4 partitions; partition N (0..3) writes log.lammps.N "
                      "and screen.N; log.lammps and this console get the summary of all "
                      "partitions")
    assert note("-log", "gcmc.log", "--quiet") == (
        "lammps-ase run: 4 partitions; partition N (0..3) writes gcmc.log.N; gcmc.log gets "
        "the summary of all partitions")


def test_a_server_started_for_replicas_does_not_ask_for_them(tmp_path):
    """The server that `run -partition` starts (with --parent-pid) says whom it serves, not
    how to start replicas that are already being started."""
    import os

    address = str(tmp_path / "model.sock")
    server = subprocess.Popen([LAMMPS_ASE, "serve", "--socket", address, "--calc", "emt",
                               "--parent-pid", str(os.getpid())], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
    finally:
        stop(server)
    assert "listening on" in line and "lammps-ase run -in IN" not in line, line
    assert line.rstrip().endswith(f"serving the replicas that process {os.getpid()} starts "
                                  "(none to start by hand)"), line


# -- helpers for separate processes --------------------------------------------------------------

def start_server(tmp_path: Path, calc: list[str]) -> tuple[subprocess.Popen, str]:
    address = str(tmp_path / "model.sock")
    server = subprocess.Popen([LAMMPS_ASE, "serve", "--socket", address, *calc],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    assert "listening on" in line, line + server.stderr.read()
    return server, address


def replica(cwd: Path, address: str, variables: list[str],
            extra: list[str] = ()) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([LAMMPS_ASE, "run", "-in", str(DATA / "in.replica_md"), "--nocite",
                             "--quiet", "--server", address, "-log", "log.lammps", *extra,
                             *variables], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(server: subprocess.Popen) -> str:
    if server.poll() is None:
        server.terminate()
    _, stderr = server.communicate(timeout=60)
    return stderr

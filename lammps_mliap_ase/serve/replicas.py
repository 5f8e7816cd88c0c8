"""Replicas of one MPI run (`-partition NxM`) sharing one model server.

Why: `mpirun -np 4 lammps-ase run -partition 4x1 --calc orb-... -in in.x` starts 4 LAMMPS
replicas; each loading its own model would hold 4 copies and call them one small system at a
time.  Instead world rank 0 starts one model server (`lammps-ase serve`, a child process that
does not take part in MPI) on a Unix socket in a private temporary folder, tells every rank
where it is, and stops it once every partition has finished.  The server exits by itself if
the rank that started it dies (`--parent-pid`), so a killed job leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import BridgeError

START_TIMEOUT = 600.0  # seconds for the model to load (a first CUDA compile can be slow)


class SharedServer:
    """The model server child of world rank 0 (`start` on rank 0, `address` everywhere)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.folder: str | None = None
        self.address: str | None = None

    def start(self, serve_args: list[str], env: dict[str, str] | None = None) -> str:
        """Start `lammps-ase serve SERVE_ARGS` and wait until it listens; its address.
        `env`: further environment variables of the server (e.g. a PYTHONPATH under which
        a `package.module:Factory` calculator imports)."""
        self.folder = tempfile.mkdtemp(prefix="lammps-ase-")
        self.address = str(Path(self.folder) / "model.sock")
        # the child must not believe it is an MPI rank (Open MPI/PMIx variables)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OMPI_", "PMIX_", "PMI_", "MPI_LOCALRANK"))} | (env or {})
        cmd = [sys.executable, "-m", "lammps_mliap_ase.cli", "serve", *serve_args,
               "--socket", self.address, "--parent-pid", str(os.getpid())]
        self.process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
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


def partitions(cmdline: str | None) -> int:
    """Number of partitions in LAMMPS' `-partition` argument ("4x1", "2 3", "2x2 1x4")."""
    if not cmdline:
        return 1
    total = 0
    for word in cmdline.split():
        count, sep, _ = word.partition("x")
        total += int(count) if sep else 1
    return total

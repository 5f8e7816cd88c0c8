"""Gather mode: evaluate a system split over MPI ranks exactly, once, on the root rank.

Why the root and not every rank: an ML model on a GPU holds gigabytes; N ranks each evaluating
the full system would need N copies and N times the work.  The root gathers the participating
owned atoms of every rank (ordered by atom ID, so the calculator sees a stable order no matter
how LAMMPS distributes atoms), evaluates the periodic system once, and scatters each rank its
own forces (and per-atom energies).  Energy and virial are written on the root only: LAMMPS sums
them over ranks.  Failures are agreed on collectively (every rank learns whether any rank
failed), so all ranks raise together and nobody waits in a collective that will never come.
"""

from __future__ import annotations

import numpy as np

from ..errors import BridgeError, ParallelModeError
from .system import LocalAtoms

ROOT = 0


def communicator(data):
    """mpi4py communicator of the LAMMPS instance (may be a sub-communicator of COMM_WORLD)."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ParallelModeError(
            f"LAMMPS runs on {data.nprocs} MPI ranks: the exact gather mode needs mpi4py "
            "(pip install mpi4py, built against the MPI LAMMPS uses)") from exc
    return MPI.Comm.f2py(data.world_fortran)


class Gather:
    """Moves per-atom arrays between ranks in atom-ID order."""

    def __init__(self, comm) -> None:
        self.comm = comm
        self.rank = comm.Get_rank()
        self.counts: np.ndarray | None = None
        self.order: np.ndarray | None = None  # root: gathered position -> ID-sorted position

    def collect(self, local: LocalAtoms) -> dict[str, np.ndarray | None] | None:
        """Gather all ranks' atoms to the root, sorted by atom ID (None on other ranks)."""
        comm = self.comm
        self.counts = np.array(comm.allgather(len(local)), dtype=np.int64)
        has_q = local.charges is not None
        has_m = local.magmoms is not None
        tags = self._gatherv(np.ascontiguousarray(local.tags, dtype=np.int64))
        numbers = self._gatherv(np.ascontiguousarray(local.numbers, dtype=np.int64))
        positions = self._gatherv(np.ascontiguousarray(local.positions, dtype=float), 3)
        charges = self._gatherv(np.ascontiguousarray(local.charges), 1) if has_q else None
        magmoms = self._gatherv(np.ascontiguousarray(local.magmoms), 3) if has_m else None
        if self.rank != ROOT:
            return None
        order = np.argsort(tags, kind="stable")
        self.order = order
        return {
            "tags": tags[order],
            "numbers": numbers[order],
            "positions": positions[order],
            "charges": None if charges is None else charges[order],
            "magmoms": None if magmoms is None else magmoms[order],
        }

    def distribute(self, sorted_values: np.ndarray | None, width: int) -> np.ndarray:
        """Scatter per-atom values (root: ID-sorted, shape (N, width)) back to their ranks."""
        counts = self.counts
        n_local = int(counts[self.rank])
        recv = np.empty((n_local, width))
        if self.rank == ROOT:
            send = np.empty((int(counts.sum()), width))
            send[self.order] = np.asarray(sorted_values).reshape(-1, width)
            self.comm.Scatterv([send, counts * width], recv, root=ROOT)
        else:
            self.comm.Scatterv(None, recv, root=ROOT)
        return recv

    def agree(self, error: BaseException | None) -> None:
        """Collective: if any rank failed, every rank raises (a rank's own error, else the
        message of the lowest failing rank), so all leave the collective sequence together."""
        message = None if error is None else f"{type(error).__name__}: {error}"
        messages = self.comm.allgather(message)
        failed = [(rank, m) for rank, m in enumerate(messages) if m is not None]
        if not failed:
            return
        if error is not None:
            raise error
        rank, first = failed[0]
        raise BridgeError(f"rank {rank} failed: {first}")

    def _gatherv(self, values: np.ndarray, width: int = 1) -> np.ndarray | None:
        counts = self.counts
        flat = values.reshape(-1)
        if self.rank == ROOT:
            out = np.empty(int(counts.sum()) * width, dtype=flat.dtype)
            self.comm.Gatherv(flat, [out, counts * width], root=ROOT)
            return out.reshape(-1, width) if width > 1 else out
        self.comm.Gatherv(flat, None, root=ROOT)
        return None

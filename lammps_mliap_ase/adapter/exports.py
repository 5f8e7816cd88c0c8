"""Load a model exported for LAMMPS' ML-IAP unified interface by its own library (SevenNet's
`sevenn_get_model --use_mliap`, NequIP's `lammps_mliap` integration, MACE's
`create_lammps_model --format mliap`), for `lammps-ase run --mliap FILE`.

Why here and not in LAMMPS: `pair_style mliap unified FILE 0` loads such a file itself (plain
`lmp`), but `lammps-ase run` hands its model to `pair_style mliap unified EXISTS 0`, so that
one input runs with `--calc NAME` (the ASE route) or `--mliap FILE` (the export) unchanged.
The file is loaded as LAMMPS loads it (torch.load for .pt/.pth, else pickle) and checked for
what LAMMPS reads from it, so that a wrong file fails in one line before LAMMPS starts.
Such models compute on their own: the bridge's options (--mode, --charge, --trials, ...) do
not apply; they need patch 0019 on a build without KOKKOS (docs/mliap-exports.md).
"""

from __future__ import annotations

import pickle
from pathlib import Path

from ..errors import CalculatorSetupError, InputError

#: what `pair_style mliap unified` reads from the model object (mliap_unified_couple.pyx)
REQUIRED = ("compute_forces", "element_types", "rcutfac", "ndescriptors", "nparams")


def load_export(path: Path):
    """The unified model object in `path` (InputError / CalculatorSetupError, one line)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ML-IAP export '{path}' not found (write one with `lammps-ase export "
                         f"sevennet-0 -o {path.with_suffix('.pt').name}`)")
    try:
        if path.suffix in (".pt", ".pth"):
            import torch

            model = torch.load(path, weights_only=False)
        else:
            with path.open("rb") as stream:
                model = pickle.load(stream)
    except Exception as exc:
        raise CalculatorSetupError(
            f"cannot load the ML-IAP export {path}: {type(exc).__name__}: {exc} (is the "
            "library that wrote it installed in this environment?)") from exc
    missing = [name for name in REQUIRED if not hasattr(model, name)]
    if missing:
        raise InputError(
            f"{path} holds a {type(model).__name__}, not an ML-IAP unified model (it lacks "
            f"{', '.join(missing)}): pass a file written by a model's ML-IAP exporter, e.g. "
            "`lammps-ase export sevennet-0`")
    return model

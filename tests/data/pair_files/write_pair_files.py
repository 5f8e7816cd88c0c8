"""Write this folder's pair files with the lammps_mliap_ase found on PYTHONPATH.

Why a script: the files here are what past releases wrote, made by running *their* code
(`git archive COMMIT lammps_mliap_ase | tar -x -C /tmp/old`), so that tests/test_pair_files.py
proves each still loads; README.md in this folder lists the commits and the commands.  Only
pickling happens here, which needs no LAMMPS library: `lammps.mliap`'s pure-Python base class
from a LAMMPS source tree (python/) is enough.

    PYTHONPATH=/tmp/old:LAMMPS_SRC/python python write_pair_files.py TAG
"""

from __future__ import annotations

import sys
from pathlib import Path

from ase.calculators.emt import EMT

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface

HERE = Path(__file__).resolve().parent
#: the registry recipe kept in each file: Lennard-Jones for Cu (sigma, epsilon in A, eV)
LJ_OPTIONS = {"sigma": 2.338, "epsilon": 0.409}


def main(tag: str) -> None:
    UniversalASEUnifiedMLIAPInterface(EMT()).pickle(str(HERE / f"{tag}-emt.pkl"))
    if hasattr(UniversalASEUnifiedMLIAPInterface, "from_registry"):  # recipes since 7183da9
        UniversalASEUnifiedMLIAPInterface.from_registry("lj", dict(LJ_OPTIONS)).pickle(
            str(HERE / f"{tag}-lj-recipe.pkl"))


if __name__ == "__main__":
    main(sys.argv[1])

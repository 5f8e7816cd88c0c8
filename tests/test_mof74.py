"""The Mg-MOF-74 + CO2 example (examples/mof74_co2) at short size.

The README's claims, each checked here: the CoRE MOF structure and its supercell; the LJ
calculator computes exactly LAMMPS' pairs (framework-framework and intramolecular CO2 pairs
excluded); native LAMMPS and the bridge give the same GCMC chain (move counts, CO2 count after
every cycle, final energy) and the same fix widom result; a stopped pressure resumed from its
restart file continues the same chain; the foundation-model path runs.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).parents[1] / "examples" / "mof74_co2"
pytest.importorskip("CoRE_MOF", reason="pip install core-mof (the 'examples' extra)")
sys.path.insert(0, str(EXAMPLE))
mof74 = importlib.import_module("mof74")
sim = importlib.import_module("simulation")
guest_lj = importlib.import_module("guest_lj")
run = importlib.import_module("run")


@pytest.fixture(scope="module")
def system():
    return run.System()


def test_structure_and_supercell(system):
    unit = system.unit
    assert len(unit) == 54 and unit.get_chemical_formula() == "C24H6Mg6O18"
    assert unit.cell.lengths() == pytest.approx([6.7588, 15.1941, 15.1941])
    assert not system.charged  # the CoRE 2019 file has no partial charges
    assert mof74.channel_axis(unit.cell.array) == 0  # a: the hexagonal c axis
    assert system.repeats == (4, 2, 2) and len(system.framework) == 864
    assert (mof74.widths(system.framework.cell.array) >= 2 * mof74.CUTOFF).all()
    # the README's force-field table: UFF sigma = x / 2^(1/6), epsilon = D in kcal/mol
    from ase.units import kB, kcal, mol

    table = {s.name: (round(s.sigma, 3), s.epsilon) for s in mof74.SITES}
    assert table["Mg_mof"][0] == 2.691 and table["O_mof"][0] == 3.118
    assert table["C_mof"][0] == 3.431 and table["H_mof"][0] == 2.571
    assert table["Mg_mof"][1] == pytest.approx(0.111 * kcal / mol)
    assert table["O_co2"] == (3.05, pytest.approx(79.0 * kB))
    # 1 mmol/g = 0.728 CO2 per 54-atom cell
    one_mmol_g = system.mass / 1000.0  # CO2 per supercell
    assert system.mmol_per_g(one_mmol_g) == pytest.approx(1.0)
    assert system.per_cell(one_mmol_g) == pytest.approx(unit.get_masses().sum() / 1000.0)


def _with_co2(system, positions):
    from ase import Atoms

    n = len(positions) // 3
    atoms = system.framework + Atoms("CO2" * n, positions=positions)
    charges = np.zeros(len(atoms))
    charges[len(system.framework):] = [0.70, -0.35, -0.35] * n
    atoms.set_initial_charges(charges)
    return atoms


def test_guest_lj_is_lj_cut_on_the_right_pairs(system):
    """Against a plain ASE neighbour list, excluding by index what LAMMPS excludes."""
    from ase.neighborlist import neighbor_list

    rng = np.random.default_rng(3)
    pos = []
    for _ in range(6):
        centre = rng.random(3) @ system.framework.cell.array
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        pos += [centre, centre + 1.16 * u, centre - 1.16 * u]
    atoms = _with_co2(system, pos)
    calc = guest_lj.GuestLJ(mof74.CUTOFF)
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    nf = len(system.framework)
    i, j, d = neighbor_list("ijd", atoms, mof74.CUTOFF)
    site, guest = calc.sites(atoms)
    keep = (guest[i] | guest[j]) & ~((i >= nf) & (j >= nf) & ((i - nf) // 3 == (j - nf) // 3))
    i, j, d = i[keep], j[keep], d[keep]
    eps, sigma = calc.eps[site[i], site[j]], calc.sigma[site[i], site[j]]
    ref = 0.5 * np.sum(4 * eps * ((sigma / d) ** 12 - (sigma / d) ** 6)
                       - calc.offset[site[i], site[j]])
    assert energy == pytest.approx(ref, rel=1e-12)
    assert calc.results["forces"][:nf].any()  # framework atoms feel the CO2


def test_chains_identical_native_and_bridge(system):
    """Same seed: the same CO2 count after every cycle, the same accepted moves, the same
    final energy.  A chain diverges at the first trial whose energy differs."""
    args = run.arguments(["--compare-cycles", "4", "--exchanges", "8", "--moves", "8"])
    result = run.compare_chains(system, args)
    native, bridge = result["native"], result["bridge"]
    assert native["final_co2"] >= 3  # molecules were inserted, so guest-guest pairs occur
    assert native["moves"]["translations accepted"] + native["moves"]["rotations accepted"] > 0
    assert native["co2_per_cycle"] == bridge["co2_per_cycle"]
    assert native["moves"] == bridge["moves"]
    assert bridge["final_pe_eV"] == pytest.approx(native["final_pe_eV"], rel=1e-10)
    assert result["identical"]


def test_widom_identical_and_adsorbing(system):
    boltzmann = []  # <exp(-dU/kT)> of each invocation
    for energy in ("native", "bridge"):
        lmp = sim.make_lammps(system.framework, energy, run.interface_for(energy, None))
        boltzmann.append(sim.widom(lmp, run.SEED, 2, 20))
        lmp.close()
    assert boltzmann[0] == pytest.approx(boltzmann[1], rel=1e-8)
    assert (boltzmann[0] > 1).all()  # CO2 is attracted by the framework (mu_ex < 0)


def test_restart_files_leave_the_chain_unchanged(system, tmp_path):
    """A restart file after every 2 cycles: the chain is the uninterrupted one, move for move.
    (A plain `write_restart` re-initialises LAMMPS and the next `run 1 pre no` used PPPM's
    reallocated, never computed Green's function: chains that depended on the process's
    memory; sim.write_restart uses `noinit`.)"""
    chains = []
    for restart in (False, True):
        lmp = sim.make_lammps(system.framework, "native")
        sim.add_gcmc(lmp, 0.5, run.SEED, 10, 5)
        counts = []
        for _ in range(6):
            counts += sim.cycles(lmp, 2, len(system.framework)).tolist()
            if restart:
                sim.write_restart(lmp, tmp_path / "x.restart")
        chains.append((counts, sim.move_counts(lmp)))
        lmp.close()
    assert sum(chains[0][0]) > 0
    assert chains[0] == chains[1]


def test_gcmc_move_mix_survives_several_runs(system):
    """Patch 0018: every `run` re-initialises fix gcmc, which divided the mcmoves
    probabilities by their sum again each time (0 1 1: translations 1/2, 1/4, 1/8, ...)."""
    lmp = sim.make_lammps(system.framework, "native")
    sim.add_gcmc(lmp, 1.0, run.SEED, 0, 20)  # the example's fix: mcmoves 0 1 1
    for _ in range(6):
        lmp.command("run 5")
    moves = sim.move_counts(lmp)
    lmp.close()
    translations, rotations = moves["translation attempts"], moves["rotation attempts"]
    assert translations + rotations == 6 * 5 * 20
    assert 0.7 < translations / rotations < 1.4  # 1 asked; 0.2 without the patch


def test_replicas_make_the_sequential_chains(tmp_path):
    """The default isotherm: the pressures at once as replicas (one process each, the bridge's
    calculator in one shared `lammps-ase serve`) make exactly the chains of one after the
    other in one process."""
    common = ["--cycles", "4", "--blocks", "2", "--equilibration", "2", "--exchanges", "8",
              "--moves", "4", "--pressures", "0.3", "1.0", "--compare-cycles", "0",
              "--widom-blocks", "0"]
    run.main(common + ["--out", str(tmp_path / "replicas")])
    run.main(common + ["--out", str(tmp_path / "sequential"), "--sequential"])
    for k in range(2):
        together, alone = (json.loads((tmp_path / way / "state" / f"p{k:02d}.json").read_text())
                           for way in ("replicas", "sequential"))
        assert together["co2_per_cycle"] == alone["co2_per_cycle"]
        assert together["result"]["moves"] == alone["result"]["moves"]
        assert together["result"]["moves"]["insertions accepted"] > 0


def test_resume_continues_a_stopped_pressure(system, tmp_path):
    """A job stopped after the first block of a pressure: --resume keeps the finished pressure
    and continues the interrupted one from its restart file (fix gcmc's counters and random
    state restored): the same chain, cycle for cycle, as the run that was not stopped."""
    common = ["--cycles", "6", "--blocks", "2", "--equilibration", "2", "--exchanges", "5",
              "--moves", "5", "--compare-cycles", "0", "--widom-blocks", "0"]
    whole = run.main(common + ["--pressures", "0.5", "1.0", "--out", str(tmp_path / "whole")])
    # the stopped job: 0.5 bar finished, 1 bar stopped after its first block
    part = tmp_path / "part"
    run.main(common + ["--pressures", "0.5", "--out", str(part)])
    args = run.arguments(common + ["--pressures", "1.0", "--out", str(part)])
    args.cycles, args.blocks = 3, 1  # the same block (3 cycles) as the whole run's first
    run.run_pressure(system, 1.0, args, part / "state" / "p01", "bridge", {"cycles_left": 3})
    stopped = json.loads((part / "state" / "p01.json").read_text())
    del stopped["result"]  # a stop between blocks leaves samples and restart, no result
    (part / "state" / "p01.json").write_text(json.dumps(stopped))

    resumed = run.main(common + ["--pressures", "0.5", "1.0", "--out", str(part), "--resume"])
    first, second = resumed["isotherm"]
    assert first == json.loads((part / "state" / "p00.json").read_text())["result"]
    assert not first["resumed"] and second["resumed"]
    final = json.loads((part / "state" / "p01.json").read_text())["co2_per_cycle"]
    reference = json.loads((tmp_path / "whole" / "state" / "p01.json").read_text())
    assert final[:3] == stopped["co2_per_cycle"]
    assert final == reference["co2_per_cycle"] and len(final) == 6
    assert second["moves"] == whole["isotherm"][1]["moves"]  # counters continued, same moves
    assert sum(v for k, v in second["moves"].items() if "attempts" in k) == 60


def test_model_path_is_the_whole_energy(tmp_path):
    """--calc: a registry calculator is the whole energy with D3 overlaid (no coul/long, no
    kspace); the molecule's own energy (model + D3, through LAMMPS) goes to fix gcmc and fix
    widom as intra_energy; (a) binding, (b) Widom, (d) trial cost and the isotherm run, the
    latter as replicas sharing the model in one `lammps-ase serve`.  ASE's LJ (float64) stands
    in for CHGNet/SevenNet-0 here (the README's run uses them): energy-only and full trials
    then give the same chain."""
    report = run.main(["--calc", "lj", "--calc-opt", "sigma=3.0", "--calc-opt",
                       "epsilon=0.005", "--calc-opt", "rc=6.0", "--pressures", "0.5", "1.0",
                       "--cycles", "2", "--exchanges", "3", "--moves", "1", "--blocks", "1",
                       "--equilibration", "0", "--widom-blocks", "1", "--widom-insertions",
                       "20", "--cost-cycles", "2", "--out", str(tmp_path)])
    assert report["repeats"] == (2, 1, 1) and report["dispersion"] == "bj pbe 16.0 10.0"
    assert report["co2_intra_eV"] != 0.0  # LJ and D3 between the three CO2 atoms
    binding = report["binding"]
    assert binding["E_bind_kJ_mol"] < 0 and binding["fmax_eV_A"] < 0.05
    assert binding["E_bind_d3_kJ_mol"] < 0  # dispersion binds
    widom = report["widom"]
    assert widom["insertions"] == 20 == len(widom["distance_A"])
    full, energy_only, no_overlap = report["trial_cost"]
    assert full["energy_only_evaluations"] == 0 < energy_only["energy_only_evaluations"]
    assert full["full_evaluations"] > 0
    assert full["moves"] == energy_only["moves"]  # float64 LJ: the same chain
    assert no_overlap["energy_only_evaluations"] >= energy_only["energy_only_evaluations"]
    for point in report["isotherm"]:
        assert point["cycles"] == 2
        assert point["moves"]["insertion attempts"] > 0
        assert point["co2_reference_eV"] == report["co2_intra_eV"]
    assert "chains" not in report
    assert (tmp_path / "isotherm.png").exists()


def test_readme_shows_the_measured_run():
    """The README's tables are the measured run's (measured/results.json, measured/state_*),
    formatted by the script; the default run fits in 15 minutes and compared identical chains."""
    measured = json.loads((EXAMPLE / "measured" / "results.json").read_text())
    readme = (EXAMPLE / "README.md").read_text()
    for name, table in run.markdown_tables(measured).items():
        assert table in readme, name
    assert measured["args"]["cycles"] == run.arguments([]).cycles  # the default size
    assert measured["wall_s"] < 15 * 60
    assert measured["chains"]["identical"]
    assert measured["args"]["energy"] == "bridge" and not measured["args"]["sequential"]
    # the whole isotherm through the bridge (replicas) = natively (one after the other)
    same, table = run.compare_runs(EXAMPLE / "measured" / "state_native",
                                   EXAMPLE / "measured" / "state_bridge")
    assert same and table in readme
    assert len(measured["isotherm"]) == 10 and measured["widom"]["insertions"] >= 1000
    for png in ("isotherm.png", "widom_map.png"):
        assert (EXAMPLE / "measured" / png).stat().st_size > 10_000


def test_readme_shows_the_measured_mlip_runs():
    """Section 4 of the README shows the measured CHGNet and SevenNet-0 runs (measured_mlip/):
    their binding energies and Widom figures, energy-only trials at >= 2x less model time per
    trial with the same chain, and the default CHGNet run within 15 minutes."""
    readme = (EXAMPLE / "README.md").read_text()
    default = json.loads((EXAMPLE / "measured_mlip" / "chgnet" / "results.json").read_text())
    assert default["args"]["cycles"] == run.arguments(["--calc", "chgnet"]).cycles
    assert default["wall_s"] < 15 * 60 and default["model"] == "chgnet"
    for name in ("chgnet", "sevennet-0-10-cycles"):
        r = json.loads((EXAMPLE / "measured_mlip" / name / "results.json").read_text())
        assert f"| {r['binding']['E_bind_kJ_mol']:.1f} |" in readme, name
        assert f"| {r['widom']['overlap_filtered']['mu_ex_kJ_mol']:.1f} ±" in readme, name
        full, energy_only, _ = r["trial_cost"]
        assert full["co2_per_cycle"] == energy_only["co2_per_cycle"], name
        assert full["moves"] == energy_only["moves"], name
        assert full["model_s_per_trial"] / energy_only["model_s_per_trial"] >= 2.0, name


def test_readme_tables_of_a_model_run(capsys):
    """`run.py --readme-tables` on a --calc run's results.json (the shipped CHGNet run): the
    model tables, not a KeyError; a file that is not a results.json: one line."""
    path = EXAMPLE / "measured_mlip" / "chgnet" / "results.json"
    run.main(["--readme-tables", str(path)])
    out = capsys.readouterr().out
    report = json.loads(path.read_text())
    for name in ("binding", "widom", "isotherm", "trial_cost"):
        assert f"<!-- {name} -->" in out, name
    assert f"| chgnet + D3 | {report['binding']['E_bind_kJ_mol']:.1f} |" in out
    assert "no force criterion" in out  # that run stopped at an iteration count
    with pytest.raises(SystemExit, match="^ERROR: --readme-tables needs a results.json"):
        run.main(["--readme-tables", str(EXAMPLE / "README.md")])


def test_output_goes_to_the_current_folder_not_the_source_tree():
    """A clean clone stays clean: the default --out is relative to the current folder."""
    out = run.arguments([]).out
    assert not out.is_absolute() and out == Path(run.DEFAULT_OUT)
    assert "mof74_co2_output" in (EXAMPLE / "README.md").read_text()
    other = (EXAMPLE.parent / "co2_gcmc_isotherm" / "run.py").read_text()
    assert 'default=Path("co2_gcmc_isotherm_output")' in other
    assert "HERE / \"output\"" not in other + (EXAMPLE / "run.py").read_text()

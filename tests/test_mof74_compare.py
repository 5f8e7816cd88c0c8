"""examples/mof74_co2/compare.py: every shipped model on CO2 in Mg-MOF-74, one command.

The command's code path runs here with ASE's LJ standing in for the models (two parameter
sets, so that two isotherms are chosen): (a) minimised to the force criterion, (b) Widom with
its convergence diagnostic, (c) isotherm rounds continued from restart files, the table next to
experiment, the files; a second invocation reuses the finished stages and continues the
isotherm.  The README's comparison is the measured run's (measured_compare/).
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
compare = importlib.import_module("compare")
run = importlib.import_module("run")
mlip = importlib.import_module("mlip")

STAND_INS = ["lj:sigma=3.0,epsilon=0.005,rc=6.0", "lj:sigma=3.3,epsilon=0.004,rc=6.0"]


def _compare(out: Path, *extra: str) -> dict:
    return compare.main(["--models", *STAND_INS, "--insertions", "20", "--cycles", "10",
                         "--step-cycles", "2", "--exchanges", "3", "--moves", "1",
                         "--time-cap", "30", "--out", str(out), *extra])


def test_compare_runs_every_stage_and_continues(tmp_path, capsys):
    report = _compare(tmp_path, "--max-cycles", "12")
    out = capsys.readouterr().out
    assert len(report["models"]) == 2
    for m in report["models"]:
        b, w = m["binding"], m["widom"]
        assert m["dispersion"] == "bj pbe 16.0 10.0"
        assert b["converged"] and b["fmax_eV_A"] <= mlip.FMAX and not b["step_cap_hit"]
        assert b["E_bind_kJ_mol"] < 0 and b["E_bind_d3_kJ_mol"] < 0
        o = w["overlap_filtered"]
        assert w["insertions"] == 20 and len(o["running_mu_ex_kJ_mol"]) == 10
        assert o["running_mu_ex_kJ_mol"][-1] == pytest.approx(o["mu_ex_kJ_mol"])
        assert 0 < o["top_insertion_share"] <= 1 and 1 <= o["effective_insertions"] <= 20
        assert w["model_s_per_insertion"] > 0
    # both isotherms (two models, --isotherms 2), in the order of distance to experiment
    distances = [compare.distance_to_experiment(m["binding"]) for m in report["models"]]
    keys = [m["candidate"]["key"] for m in report["models"]]
    assert report["nearest_experiment"] == [keys[k] for k in np.argsort(distances)]
    for key in keys:
        iso = report["isotherms"][key]
        assert [q["pressure_bar"] for q in iso["points"]] == list(compare.PRESSURES)
        assert iso["cycles"] == 12 or iso["stop"] == "converged"
        assert iso["converged"] == all(q["converged"] for q in iso["points"])
        assert iso["stop"] in ("converged", "max_cycles")
    # the table: a row per model and experiment's; the files
    table = compare.markdown(report)
    assert table in out and table.count("\n") == 2 + 2
    assert "| experiment (298 K) |" in table and "| 5.1 | 7.9 |" in table
    for name in ("compare.json", "compare.csv", "compare.md", "isotherms.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "(a) E_bind" in out and "(b) mu_ex" in out and "(c) after 12 cycles" in out

    # again, longer: (a) and (b) are read back, the isotherms continue their chains
    before = {key: [json.loads(f.read_text())["co2_per_cycle"] for f in sorted(
        (tmp_path / key / "isotherm" / "state").glob("p*.json"))] for key in keys}
    again = _compare(tmp_path, "--max-cycles", "14")
    for m, first in zip(again["models"], report["models"], strict=True):
        assert m["binding"]["reused"] and m["widom"]["reused"]
        assert m["binding"]["E_bind_kJ_mol"] == first["binding"]["E_bind_kJ_mol"]
    shown = _compare(tmp_path, "--max-cycles", "14", "--stages", "none")  # computes nothing
    assert compare.markdown(shown) == compare.markdown(again)
    for key in keys:
        iso = again["isotherms"][key]
        if report["isotherms"][key]["converged"]:
            continue
        assert iso["cycles"] == 14
        for k, f in enumerate(sorted((tmp_path / key / "isotherm" / "state").glob("p*.json"))):
            chain = json.loads(f.read_text())["co2_per_cycle"]
            assert chain[:12] == before[key][k] and len(chain) == 14


def test_convergence_definition():
    """Converged: block standard error <= 5 % of the mean and the two production halves
    within 2 standard errors; the first third is equilibration."""
    system = run.System(model=True)
    rng = np.random.default_rng(1)
    steady = 20 + rng.normal(0, 0.5, 90)
    result = compare.convergence(steady.tolist(), system)
    assert result["converged"] and result["production_cycles"] == 60
    assert result["relative_error"] <= compare.REL_ERROR
    rising = np.r_[np.zeros(30), np.linspace(10, 20, 60)] + rng.normal(0, 0.2, 90)
    result = compare.convergence(rising.tolist(), system)
    assert not result["converged"] and result["drift_mmol_g"] > result["drift_allowed_mmol_g"]
    noisy = 2 + rng.normal(0, 2.0, 90).clip(-2, None)
    assert not compare.convergence(noisy.tolist(), system)["converged"]
    assert not compare.convergence([0.0] * 90, system)["converged"]  # nothing adsorbed


def test_minimisation_reports_a_step_cap(tmp_path):
    """(a) is minimised to a force criterion; a step cap that ends it is reported, never
    silent."""
    args = run.arguments(["--calc", "lj", "--calc-opt", "sigma=3.0", "--calc-opt",
                          "epsilon=0.005", "--calc-opt", "rc=6.0", "--out", str(tmp_path)])
    system = run.System(model=True)
    capped = mlip.binding_energy(system.framework, run.interface_for("model", args),
                                 run.dispersion(args), max_steps=3)
    assert capped["minimize_steps"] == 3 and capped["step_cap_hit"]
    assert not capped["converged"] and capped["fmax_eV_A"] > mlip.FMAX
    assert "NOT converged" in run.minimised(capped) and "cap" in run.minimised(capped)


def test_candidates():
    every = compare.arguments(["--models", "all"]).candidates
    assert [c.key for c in every] == [c.key for c in compare.SHIPPED] and len(every) == 8
    from lammps_mliap_ase.models.registry import REGISTRY

    for c in every:
        assert c.functional in mlip.D3_FUNCTIONALS and c.calc in REGISTRY, c.key
        assert (c.functional == "r2scan") == ("r2SCAN" in c.fidelity)
    stand_in = compare.candidate("lj:sigma=3.0,rc=6.0")
    assert stand_in.calc == "lj" and stand_in.options == (("sigma", "3.0"), ("rc", "6.0"))
    assert mlip.d3("r2scan") == "bj r2scan 16.0 10.0"



MEASURED = EXAMPLE / "measured_compare"


def test_readme_shows_the_measured_comparison():
    """Section 5 of the README is the committed run (measured_compare/): its table exactly,
    all eight rows, (a) minimised to the force criterion, and the isotherm figures quoted."""
    report = json.loads((MEASURED / "compare.json").read_text())
    readme = (EXAMPLE / "README.md").read_text()
    assert compare.markdown(report) in readme
    assert [m["candidate"]["key"] for m in report["models"]] == [c.key for c in compare.SHIPPED]
    for m in report["models"]:  # a stage the capped run did not finish reads "not done"
        if (b := m["binding"]) is not None:
            assert b["converged"] and b["fmax_eV_A"] <= mlip.FMAX, m["candidate"]["key"]
            assert f"{b['E_bind_kJ_mol']:.1f}" in readme
    for key in report["nearest_experiment"]:
        iso = report["isotherms"][key]
        state = "converged" if iso["converged"] else "not converged"
        assert f"{iso['cycles']} cycles" in readme and state in readme
    assert (MEASURED / "isotherms.png").stat().st_size > 10_000
    assert (MEASURED / "compare.csv").read_text().count("\n") == len(report["models"]) + 2

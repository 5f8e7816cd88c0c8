"""NequIP through its own ML-IAP export on the plain build (patch 0019): a tiny model trained
here on EMT-labelled Cu, exported with NequIP's tool, against NequIP's ASE calculator.

    PYTHONPATH=. .venv/bin/python benchmarks/mliap_nequip.py [--workdir DIR]

Needs `pip install nequip -c constraints.txt` (0.19.1 installs beside sevenn and chgnet with our
torch pin: e3nn 0.6, adds lightning and torchmetrics; not a dependency of this package).
Steps: (1) `nequip-train` with NequIP's own toy config (nequip/utils/unittests/
minimal_toy_emt.yaml: 50 frames of rattled fcc Cu, 128 atoms, labelled by ASE's EMT; NequIP
GNN, 3 layers, l_max 1, 16 features, float64, 5 epochs), without its test stage and progress
bar; (2) `nequip-prepare-lmp-mliap best.ckpt cu.nequip.lmp.pt --no-compile`; (3) `run 0` on a
rattled 108-atom Cu crystal on 1, 2 and 4 MPI ranks and NVE on 4 vs 1 rank, against
NequIPCalculator on the same checkpoint.  The model is float64, so agreement is to float64
rounding, whatever the training quality.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
BIN = Path(sys.executable).parent


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    out["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), out.get("PYTHONPATH", "")])
    return out


def config(workdir: Path) -> None:
    """NequIP's own toy EMT config, made to train without its test stage or a logger."""
    import nequip

    text = (Path(nequip.__file__).parent / "utils/unittests/minimal_toy_emt.yaml").read_text()
    text = text.replace("run: [train, test]", "run: [train]")
    start = text.index("    - _target_: nequip.train.callbacks.TestTimeXYZFileWriter")
    end = text.index("    - _target_: nequip.train.callbacks.LossCoefficientMonitor")
    text = text[:start] + text[end:]
    text = text.replace("radial_mlp_width: ${int_div:${num_features},${oc.env:TEST_VAL_TWO}}",
                        "radial_mlp_width: 8")
    text = text.replace("  log_every_n_steps: 5\n",
                        "  log_every_n_steps: 5\n  enable_progress_bar: false\n  logger: false\n")
    (workdir / "emt_cu.yaml").write_text(text)


def train_and_export(workdir: Path) -> tuple[Path, Path]:
    ckpt, export = workdir / "run" / "best.ckpt", workdir / "cu.nequip.lmp.pt"
    if not ckpt.exists():
        config(workdir)
        subprocess.run([str(BIN / "nequip-train"), "-cp", str(workdir), "-cn", "emt_cu",
                        f"hydra.run.dir={workdir / 'run'}"], check=True, env=env(),
                       capture_output=True)
    if not export.exists():
        subprocess.run([str(BIN / "nequip-prepare-lmp-mliap"), str(ckpt), str(export),
                        "--no-compile"], check=True, env=env(), capture_output=True)
    return ckpt, export


def reference(ckpt: Path, atoms) -> dict:
    from nequip.integrations.ase import NequIPCalculator

    atoms = atoms.copy()
    atoms.calc = NequIPCalculator._from_saved_model(str(ckpt), device="cpu")
    stress = atoms.get_stress(voigt=True)
    return {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
            "virial": -atoms.get_volume() * stress[[0, 1, 2, 5, 4, 3]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("nequip-mliap"))
    parser.add_argument("--nve-steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "mliap_nequip.json")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    ckpt, export = train_and_export(args.workdir.resolve())
    sys.path.insert(0, str(TESTS))
    import systems

    ref = reference(ckpt, systems.orthogonal())
    rows, runs = [], {}
    for nprocs in (1, 2, 4):
        out = args.workdir.resolve() / f"nequip-{nprocs}.json"
        cmd = ["mpirun", "--oversubscribe", "--allow-run-as-root", "-np", str(nprocs),
               sys.executable, str(TESTS / "export_driver.py"), "orthogonal", str(export),
               str(out), str(args.nve_steps if nprocs in (1, 4) else 0)]
        subprocess.run(cmd, check=True, env=env(), cwd=args.workdir, capture_output=True)
        record = json.loads(out.read_text())
        if "error" in record:
            raise RuntimeError(record["error"])
        runs[nprocs] = record
        rows.append({"ranks": nprocs,
                     "energy_rel": abs(record["energy"] - ref["energy"]) / abs(ref["energy"]),
                     "forces_abs": float(np.abs(np.array(record["forces"])
                                                - ref["forces"]).max()),
                     "virial_rel": float(np.abs(np.array(record["virial"]) - ref["virial"]).max()
                                         / np.abs(ref["virial"]).max()),
                     "max_force": float(np.abs(ref["forces"]).max())})
        print(rows[-1], flush=True)
    nve = {"steps": args.nve_steps,
           "pe_max_abs_diff": float(np.abs(np.array(runs[4]["pe"])
                                           - np.array(runs[1]["pe"])).max()),
           "x_max_abs_diff": float(np.abs(np.array(runs[4]["x"]) - np.array(runs[1]["x"])).max())}
    print(nve)
    args.out.write_text(json.dumps({"rows": rows, "nve": nve, "energy": ref["energy"]},
                                   indent=1) + "\n")


if __name__ == "__main__":
    main()

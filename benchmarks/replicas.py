"""Aggregate throughput of N LAMMPS replicas: one shared model server vs N own models.

    .venv/bin/python benchmarks/replicas.py                        # CPU: Orb-v3 direct, ~15 min
    .venv/bin/python benchmarks/replicas.py --device cuda --sizes 200 800 --replicas 1 2 4 8 16

For each system size S and replica count N, N water boxes of S atoms (different seeds) run
`fix nve/limit` (systems.lammps_md says why) as separate `lammps-ase run` processes:
  shared   one `lammps-ase serve` (batched forward passes, `--batched yes`) + N replicas
           (`--server`); also `shared-serial` (`--batched no`: the same server, one system at a
           time) where --serial is given;
  own      N independent processes, each with its own model (what users do today);
  sequential  one replica after the other = the N = 1 `own` throughput (runs in series do not
           overlap, so their aggregate rate does not depend on N; not re-run for each N).
Aggregate atom-steps/s = N * S * steps / (longest LAMMPS loop time of the timed run), after a
warm-up evaluation (`run 0`) per replica.  `own` is skipped where N copies of the model would
not fit in memory (N x the N = 1 footprint > 70 % of what is available).  Memory: the
largest resident set (VmHWM) of every process, summed (the server's counted once).
Writes <out>/replicas.json, .md and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ase.io.lammpsdata import write_lammps_data

import systems

HERE = Path(__file__).parent
# `python -m lammps_mliap_ase.cli`, not the lammps-ase script: the replicas run with this very
# interpreter (scripts/lammps_python.sh may have chosen a launcher other than the script's)
LAMMPS_ASE = [sys.executable, "-m", "lammps_mliap_ase.cli"]
INPUT = """units metal
atom_style atomic
read_data {data}
pair_style mliap unified EXISTS 0
pair_coeff * * {species}
timestep 0.001
fix nve all nve/limit {max_step}
thermo_style custom step temp pe etotal
run 0
run {steps}
"""


def memory_watch(pids: list[int], peaks: dict[int, int], stop: threading.Event) -> None:
    """Record VmHWM (kB) of each process until `stop` (the kernel's own peak)."""
    while not stop.is_set():
        for pid in pids:
            try:
                text = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"VmHWM:\s+(\d+)", text)
            if match:
                peaks[pid] = max(peaks.get(pid, 0), int(match.group(1)))
        stop.wait(0.2)


def gpu_memory_mb() -> float:
    """Memory in use on GPU 0 (MiB, all processes), as nvidia-smi reports it."""
    query = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,"
                            "nounits", "--id=0"], capture_output=True, text=True, check=True)
    return float(query.stdout.split()[0])


def gpu_memory_watch(peak: dict, stop: threading.Event) -> None:
    """Largest GPU memory in use until `stop` (what the replicas and the server hold together)."""
    while not stop.is_set():
        peak["mb"] = max(peak["mb"], gpu_memory_mb())
        stop.wait(0.5)


def loop_time(log: str) -> float:
    times = re.findall(r"Loop time of ([\d.eE+-]+) on", log)
    if len(times) < 2:
        raise RuntimeError(f"replica did not finish its timed run:\n{log[-1500:]}")
    return float(times[-1])


def write_inputs(folder: Path, size: int, n: int, steps: int) -> list[Path]:
    inputs = []
    for k in range(n):
        atoms = systems.water(size, seed=k + 1)
        data = folder / f"water{k}.data"
        order = systems.species(atoms)
        write_lammps_data(data, atoms, specorder=order, masses=True, velocities=True,
                          units="metal")
        path = folder / f"in.{k}"
        path.write_text(INPUT.format(data=data, species=" ".join(order), steps=steps,
                                     max_step=systems.MAX_STEP_A))
        inputs.append(path)
    return inputs


def run_replicas(inputs: list[Path], calc: list[str], server: list[str] | None,
                 folder: Path, gpu: bool = False) -> dict:
    """Run one replica process per input (with a server when `server` is given).  `gpu`: also
    the peak GPU memory they hold together (`gpu_mb`, over what was in use before)."""
    procs, pids, peaks, stop = [], [], {}, threading.Event()
    gpu_base = gpu_memory_mb() if gpu else 0.0
    gpu_peak = {"mb": gpu_base}
    serve = None
    if server is not None:
        sock = folder / "model.sock"
        serve = subprocess.Popen([*LAMMPS_ASE, "serve", "--socket", str(sock),
                                  *calc, *server], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        line = serve.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(line + serve.stderr.read())
        pids.append(serve.pid)
        replica_calc = ["--server", str(sock)]
    else:
        replica_calc = calc
    watchers = [threading.Thread(target=memory_watch, args=(pids, peaks, stop), daemon=True)]
    if gpu:
        watchers.append(threading.Thread(target=gpu_memory_watch, args=(gpu_peak, stop),
                                         daemon=True))
    for watcher in watchers:
        watcher.start()
    start = time.perf_counter()
    for k, inp in enumerate(inputs):
        cwd = folder / f"r{k}"
        cwd.mkdir()
        proc = subprocess.Popen([*LAMMPS_ASE, "run", "-in", str(inp), "--quiet",
                                 "--nocite", "-log", "log.lammps", *replica_calc], cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append((proc, cwd))
        pids.append(proc.pid)
    times = []
    for proc, cwd in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"replica failed: {err[-2000:]}")
        times.append(loop_time((cwd / "log.lammps").read_text()))
    wall = time.perf_counter() - start
    stats = ""
    if serve is not None:
        serve.terminate()
        stats = serve.communicate(timeout=60)[1].strip().splitlines()[-1]
    stop.set()
    for watcher in watchers:
        watcher.join()
    result = {"loop_times": times, "wall_s": wall, "rss_mb": sum(peaks.values()) / 1024,
              "server": stats}
    if gpu:
        result["gpu_mb"] = gpu_peak["mb"] - gpu_base
    return result


def available_mb() -> float:
    text = Path("/proc/meminfo").read_text()
    return int(re.search(r"MemAvailable:\s+(\d+)", text).group(1)) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calc", default="orb-v3-direct-20-omat")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 800])
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--serial", action="store_true", help="also time the server unbatched")
    ap.add_argument("--modes", nargs="+", choices=("shared", "own", "shared-serial"),
                    help="time only these modes (default: shared, own, and shared-serial "
                         "with --serial)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args()
    calc = ["--calc", args.calc, "--device", args.device, "--calc-opt", "random_weights=True"]
    modes = {"shared": ["--batched", "yes"], "own": None}
    if args.serial or (args.modes and "shared-serial" in args.modes):
        modes["shared-serial"] = ["--batched", "no"]
    if args.modes:
        modes = {mode: server for mode, server in modes.items() if mode in args.modes}
    rows = []
    for size in args.sizes:
        single = None  # MB held by one replica with its own model
        for n in args.replicas:
            for mode, server in modes.items():
                if mode == "own" and single and n * single > 0.7 * available_mb():
                    print(f"{size:6d} atoms  N={n:2d}  own: skipped, {n} models need "
                          f"~{n * single / 1024:.0f} GB", flush=True)
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    folder = Path(tmp)
                    inputs = write_inputs(folder, size, n, args.steps)
                    result = run_replicas(inputs, calc, server, folder,
                                          gpu=args.device.startswith("cuda"))
                atoms = len(systems.water(size))
                rate = n * atoms * args.steps / max(result["loop_times"])
                row = {"atoms": atoms, "replicas": n, "mode": mode, "rate": rate, **result}
                rows.append(row)
                if mode == "own" and n == 1:
                    single = result["rss_mb"]
                print(f"{atoms:6d} atoms  N={n:2d}  {mode:13s} {rate:10.1f} atom-steps/s  "
                      f"RSS {result['rss_mb']:8.0f} MB  {result['server']}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "device": args.device, "calc": args.calc, "steps": args.steps}
    (args.out / "replicas.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    report(rows, meta, args.out)


def report(rows: list[dict], meta: dict, out: Path) -> None:
    """Markdown table (shared vs own vs sequential) and a PNG of throughput against N."""
    lines = [f"{meta['calc']} (random weights), {meta['device']}, {meta['cpus']} cores, "
             f"{meta['steps']} timed steps", "",
             "| atoms | N | shared (atom-steps/s) | own models | sequential | shared/own | "
             "shared/sequential | RSS shared (MB) | RSS own (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    by = {(r["atoms"], r["replicas"], r["mode"]): r for r in rows}
    for atoms in sorted({r["atoms"] for r in rows}):
        sequential = by.get((atoms, 1, "own"), {}).get("rate")
        for n in sorted({r["replicas"] for r in rows}):
            shared, own = by.get((atoms, n, "shared")), by.get((atoms, n, "own"))
            if not shared or not own:
                continue
            seq = f"{sequential:.1f}" if sequential else "–"
            ratio_seq = f"{shared['rate'] / sequential:.2f}" if sequential else "–"
            lines.append(f"| {atoms} | {n} | {shared['rate']:.1f} | {own['rate']:.1f} | {seq} | "
                         f"{shared['rate'] / own['rate']:.2f} | {ratio_seq} | "
                         f"{shared['rss_mb']:.0f} | {own['rss_mb']:.0f} |")
    (out / "replicas.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    for atoms in sorted({r["atoms"] for r in rows}):
        for mode, style in (("shared", "o-"), ("own", "s--"), ("shared-serial", "^:")):
            pts = sorted((r["replicas"], r["rate"]) for r in rows
                         if r["atoms"] == atoms and r["mode"] == mode)
            if pts:
                ax.plot(*zip(*pts, strict=True), style, label=f"{atoms} atoms, {mode}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("replicas N")
    ax.set_ylabel("aggregate atom-steps / s")
    ax.set_title(f"{meta['calc']} on {meta['device']} ({meta['cpus']} cores)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "replicas.png")


if __name__ == "__main__":
    main()

"""What the benchmark writes: the machine, a JSON record, a Markdown table and a log-log plot."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from pathlib import Path

from lammps_mliap_ase.cli.machine import cpu_model

COLUMNS = [  # (header, row key, format)
    ("N", "N", "{}"),
    ("(a) calc ms", "a_calc", "ms"),
    ("(b) LAMMPS+bridge ms", "b_bridge", "ms"),
    ("(c) cluster ms", "c_cluster", "ms"),
    ("(d) ASE MD ms", "d_ase_md", "ms"),
    ("(b-a)/a", "overhead_b", "pct"),
    ("d/b", "ase_over_bridge", "{:.2f}"),
    ("c/b", "cluster_over_bridge", "{:.2f}"),
    ("cluster atoms", "cluster_atoms", "{}"),
    ("ns/day 1 fs", "ns_per_day_1fs", "{:.3f}"),
    ("ns/day 2 fs", "ns_per_day_2fs", "{:.3f}"),
    ("peak RSS MB", "peak_rss_mb", "{:.0f}"),
]


def machine(lammps_version: int) -> dict:
    """CPU model, cores, GPU and the versions that decide the numbers."""
    import ase
    import numpy

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "lammps": lammps_version, "ase": ase.__version__, "numpy": numpy.__version__,
            "gpu": None}
    torch = sys.modules.get("torch")  # only when the calculator brought it in
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if fmt == "ms":
        return f"{1e3 * value:.2f}"
    if fmt == "pct":
        return f"{100 * value:+.1f} %"
    return fmt.format(value)


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k), f) for _, k, f in COLUMNS) + " |")
    return "\n".join(lines)


def write(out: Path, label: str, record: dict) -> None:
    """results/<label>.json, .md and .png."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{label}.json").write_text(json.dumps(record, indent=1))
    m = record["machine"]
    (out / f"{label}.md").write_text(
        f"{record['calc']} on {record['system']}: {m['cpu']}, {m['cores']} cores, "
        f"GPU {m['gpu'] or 'none'}\n\n{table(record['rows'])}\n")
    _plot(out / f"{label}.png", record)


def _plot(path: Path, record: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = record["rows"]
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    for key, label in [("a_calc", "(a) calculator alone"), ("b_bridge", "(b) LAMMPS + bridge"),
                       ("c_cluster", "(c) cluster mode"), ("d_ase_md", "(d) ASE VelocityVerlet")]:
        points = [(r["N"], 1e3 * r[key]) for r in rows if not math.isnan(r[key])]
        if points:
            ax.loglog(*zip(*points, strict=True), "o-", label=label)
    ax.set_xlabel("atoms")
    ax.set_ylabel("time per MD step (ms)")
    device = record["machine"]["gpu"] or record["machine"]["cpu"]
    ax.set_title(f"{record['calc']} ({record['system']}), {device}", fontsize=8)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

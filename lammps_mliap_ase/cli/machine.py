"""One line naming the machine a timing was measured on (examples print it with their times).

Why: a time without the machine is no figure; examples quote their own measured times with it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows; one
    reader for the examples' machine line and the benchmark record."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe() -> str:
    """E.g. '2 CPU cores (Intel(R) Xeon(R) CPU @ 2.20GHz), Linux x86_64, load average 1.9'."""
    model = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = f"{cores} CPU cores ({model}), {platform.system()} {platform.machine()}"
    if hasattr(os, "getloadavg"):  # other jobs on the machine slow a timing down: say so
        text += f", load average {os.getloadavg()[0]:.1f}"
    return text

"""The code base stays ruff-clean (style is part of the contract in DEVELOPERS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    pytest.importorskip("ruff", reason="ruff is not installed (a development tool of the [test] "
                        "extra; the offline bundle leaves it out)")
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", str(REPO)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

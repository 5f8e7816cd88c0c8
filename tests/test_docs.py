"""The README lists exactly what exists: every patch, every build option, every example, every
`lammps-ase run` option; docs/errors.md names a test for every message it lists."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def table_keys(text: str, heading: str) -> list[str]:
    """First-column entries of the first table after `heading` (backticks stripped)."""
    rows, inside = [], False
    for line in text[text.index(heading):].splitlines()[1:]:
        if line.startswith("|"):
            inside = True
            cell = line.split("|")[1].strip()
            if cell and not set(cell) <= {"-", " "}:
                rows.append(cell)
        elif inside:
            break
    return rows[1:]  # without the header row


def test_patch_table_lists_every_patch():
    numbers = sorted(p.name[:4] for p in (REPO / "patches").glob("*.patch"))
    assert len(numbers) >= 17
    assert table_keys(README, "## What the patches add") == numbers


def test_build_table_lists_every_option_of_build_lammps():
    script = (REPO / "scripts" / "build_lammps.sh").read_text()
    options = set(re.findall(r"^\s+(--[a-z-]+)\)", script, re.MULTILINE))
    section = README[README.index("## Building"):]
    table = section[:section.index("\n\n", section.index("| option"))]
    named = set(re.findall(r"`(--[a-z-]+)[` ]", table))
    setup = set(re.findall(r"^\s+(--[a-z-]+)\)", (REPO / "scripts" / "setup.sh").read_text(),
                           re.MULTILINE))
    assert options <= named, options - named  # every option is documented
    assert named <= options | setup, named - options - setup  # and only real ones


def test_example_table_lists_every_example():
    examples = {p.parent.name for p in (REPO / "examples").glob("*/run.py")}
    listed = {re.search(r"examples/(\w+)", key).group(1)
              for key in table_keys(README, "### Examples")}
    assert listed == examples


def string_literals(path: Path) -> str:
    """All string constants of a Python file, joined; implicit concatenations are one constant
    in the syntax tree, regex backslashes are dropped."""
    tree = ast.parse(path.read_text())
    texts = [node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return "\n".join(texts).replace("\\", "")


def test_error_catalogue_names_existing_tests():
    """Each row of docs/errors.md is backed by a test in the file it names (else
    test_errors.py): two consecutive words of the quoted message, or one distinctive word
    (12 characters or more, e.g. lammps_units='real'), are asserted there."""
    text = (REPO / "docs" / "errors.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line
            and not line.startswith("| situation")]
    assert len(rows) >= 30
    for row in rows:
        files = re.findall(r"(test_\w+\.py)", row) or ["test_errors.py"]
        column = row.split("|")[3]
        message = re.findall(r"`([^`]+)`", column) or [column]
        words = [w.strip("=:;,.'\"") for w in
                 max(re.split(r"…|\.\.\.", message[0]), key=len).replace("\\", "").split()]
        sources = " ".join(" ".join(string_literals(REPO / "tests" / f).split())
                           for f in files)
        windows = [" ".join(words[i:i + 2]) for i in range(max(1, len(words) - 1))]
        windows += [w for w in words if len(w) >= 12]
        assert any(w in sources for w in windows), (message[0], files)


def test_every_example_is_run_by_a_test():
    """What an example README states is checked by a test that runs its script (or imports
    it): each example's directory name appears in a test file."""
    tests = " ".join(p.read_text() for p in (REPO / "tests").glob("test_*.py"))
    for example in sorted(p.parent.name for p in (REPO / "examples").glob("*/run.py")):
        assert f'"{example}"' in tests or f"/{example}/" in tests or f'"{example}/' in tests, \
            example


def test_readme_python_snippet_runs_as_written(tmp_path):
    """The "Using it" snippet defines what it uses (it once used a `setup` it never defined)
    and runs: 108 Cu atoms with EMT through LAMMPS, `run 0`."""
    section = README[README.index("## Using it"):]
    start = section.index("```python\n") + len("```python\n")
    code = section[start:section.index("```", start)]
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "log.lammps").read_text()
    assert "Created 108 atoms" in log and "Loop time" in log, log[-2000:]

"""The offline bundle (scripts/make_bundle.sh) keeps every LAMMPS file our build needs.

A full bundle build takes too long for CI; these checks are what a broken bundle would trip:
the trimmed source list against cmake/LammpsOptions.cmake and the patches, and -- where a
build tree exists -- against every source file the build compiled and every header they include.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from bundle_wheels import OPTIONAL, torch_closure  # noqa: E402


def kept() -> list[str]:
    out = subprocess.run(["bash", str(REPO / "scripts" / "make_bundle.sh"), "--list-source"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def is_kept(path: str, paths: list[str]) -> bool:
    """Whether `path` (relative to the LAMMPS root) lies in the trimmed tree."""
    if path.startswith("src/") and path.count("/") == 1:
        return "src/*" in paths
    return any(path == p or path.startswith(p + "/") for p in paths)


def test_every_enabled_package_and_build_folder_is_kept():
    text = (REPO / "cmake" / "LammpsOptions.cmake").read_text()
    block = re.search(r"set\(LMA_LAMMPS_PACKAGES\s+([^)]*)\)", text).group(1)
    packages = block.split()
    assert "ML-IAP" in packages and "PYTHON" in packages
    paths = kept()
    for folder in [f"src/{p}" for p in packages] + ["src/*", "src/STUBS", "cmake", "python"]:
        assert folder in paths, folder


def test_every_patched_file_is_kept():
    """A patch whose file was trimmed away would stop the offline build at its first step."""
    paths = kept()
    targets = {line.split()[1].removeprefix("b/")
               for patch in (REPO / "patches").glob("*.patch")
               for line in patch.read_text(errors="replace").splitlines()
               if line.startswith("+++ ")}
    assert targets
    assert [t for t in targets if not is_kept(t, paths)] == []


def test_compiled_sources_and_their_headers_are_kept():
    """Every file the last local build compiled, and every header those include, is kept."""
    trees = sorted(REPO.glob("build/*/lammps-src"))
    ninjas = sorted(REPO.glob("build/*/lammps-build/build.ninja"))
    if not trees or not ninjas:
        pytest.skip("no local LAMMPS build tree (scripts/build_lammps.sh) to compare with")
    root = trees[0]
    sources = {Path(s) for s in re.findall(rf"{re.escape(str(root))}/(src/\S+?\.(?:cpp|c))\b",
                                           ninjas[0].read_text())}
    assert len(sources) > 300
    paths = kept()
    dirs = {root / s.parent for s in sources} | {root / "src"}
    missing, seen, todo = set(), set(), [root / s for s in sources]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        if not is_kept(str(f.relative_to(root)), paths):
            missing.add(str(f.relative_to(root)))
        for inc in re.findall(r'^\s*#\s*include\s+"([^"]+)"', f.read_text(errors="replace"), re.M):
            todo += [d / inc for d in dirs | {f.parent} if (d / inc).is_file()]
    assert sorted(missing) == []


def test_torch_and_what_it_requires_are_left_to_the_node():
    items = [{"metadata": {"name": n, "requires_dist": r}} for n, r in [
        ("torch", ["sympy>=1.13", "filelock", "nvidia-cublas; platform_system == 'Linux'"]),
        ("sympy", ["mpmath<1.4"]), ("mpmath", []), ("filelock", []),
        ("nvidia-cublas", []), ("orb-models", ["torch>=2.6", "cached_path", "ase"]),
        ("cached_path", ["filelock", "boto3"]), ("boto3", []), ("ase", ["numpy", "scipy"])]]
    # filelock: torch's, but cached_path needs it too (maybe another version): bundled
    assert torch_closure(items, ["orb-models"]) == {"torch", "sympy", "mpmath", "nvidia-cublas"}
    assert {"numpy", "scipy", "matplotlib"} <= OPTIONAL.keys()


def test_install_refuses_a_python_the_wheels_do_not_fit(tmp_path):
    """Wheels for another CPython would make pip fail later with a less clear message."""
    for part in ("wheels", "repo", "lammps"):
        (tmp_path / part).mkdir()
    (tmp_path / "MANIFEST.txt").write_text("python=2.7\n")
    shutil.copy(REPO / "scripts" / "install_bundle.sh", tmp_path / "install.sh")
    proc = subprocess.run(["bash", str(tmp_path / "install.sh"), "--python", sys.executable],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "the bundle's wheels are for 2.7: make the bundle with --python" in proc.stderr

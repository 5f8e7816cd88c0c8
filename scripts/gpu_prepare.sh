#!/usr/bin/env bash
# Prepare, on a machine with a network, everything a GPU node without one needs for
# scripts/gpu_acceptance.sh, in ONE folder that travels with the repository (<= 64 MiB in all):
#
#   scripts/gpu_prepare.sh [--out .gpu] [--python 3.12] [--max-mib 64] [--host-python PATH]
#
#   <out>/lammps-mliap-ase-bundle-*.tar.xz   the offline bundle (scripts/make_bundle.sh: LAMMPS
#                                            source, this repository at HEAD, ase, orb-models, ...)
#   <out>/site.tar.xz  the model packages, installed for the node's Python and packed with xz
#                      (unpacked, SevenNet and CHGNet with what they need would not fit);
#                      scripts/gpu_acceptance.sh --carry unpacks it:
#                      - SevenNet (sevenn 0.13.0, real SevenNet-0 weights) and what the node
#                        lacks of its needs (braceexpand, matscipy).  Only the SevenNet-0
#                        checkpoint is kept: the wheel's other three checkpoints and its
#                        LAMMPS/D3 plugin sources make it 43 MB
#                      - CHGNet (chgnet 0.4.2, real CHGNet 0.3.0 weights: the checkpoint that
#                        CHGNet.load() takes by default; 0.2.0 and r2scan are dropped) and what
#                        the node lacks of its needs: pymatgen (core, io.ase, io.vasp, symmetry,
#                        analysis.eos and the rest chgnet imports; other subpackages and data
#                        are dropped), monty, ruamel.yaml, spglib, orjson, lxml (etree only),
#                        tabulate, palettable, nvidia-ml-py3 (pure Python, from its sdist).
#                        Left out, with a message, when it would take the total over --max-mib
#   <out>/mof74_unit.cif   the Mg-MOF-74 unit cell (core-mof) for the GCMC stage
#
# The node is expected to have the rest (torch with CUDA, numpy, scipy, matplotlib, e3nn,
# torch-geometric, scikit-learn, pandas, networkx, sympy: the image of our GPU machines has
# them).  --host-python: the interpreter that resolves the wheels and reads core-mof (default:
# the repository's .venv; from a git worktree without one, name the main checkout's).  Prints
# the command to run there.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[gpu_prepare] $*" >&2; }
die() { echo "[gpu_prepare] error: $*" >&2; exit 1; }

out=$repo/.gpu ; python=3.12 ; max_mib=64 ; host_py=$repo/.venv/bin/python
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$(realpath -m "${2:?}"); shift ;;
        --python) python=${2:?}; shift ;;
        --max-mib) max_mib=${2:?}; shift ;;
        --host-python) host_py=${2:?}; shift ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[ -x "$host_py" ] || die "run scripts/setup.sh first (the MOF structure comes from its core-mof)"
# make_bundle.sh takes python3 on PATH where the repository has no .venv (a worktree)
PATH="$(dirname "$host_py"):$PATH"
export PATH
rm -rf "$out"; mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pip_node() {  # pip install, no dependencies, wheels for the node's CPython, into folder $1
    local target=$1; shift
    "$host_py" -m pip install -q --no-deps --no-compile --only-binary=:all: \
        --python-version "$python" --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --target "$target" "$@"
}
kib() { du -sk "$@" | awk '{s += $1} END {print s}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

log "offline bundle for CPython $python"
"$repo/scripts/make_bundle.sh" --python "$python" --out "$out" >/dev/null
bundle=$(ls "$out"/lammps-mliap-ase-bundle-*.tar.xz)

log "SevenNet for CPython $python"
sevenn=$stage/sevenn
pip_node "$sevenn" sevenn==0.13.0 braceexpand==0.1.7 matscipy==1.3.1
keep=SevenNet_0__11Jul2024  # what SevenNetCalculator("7net-0") loads
find "$sevenn/sevenn/pretrained_potentials" -mindepth 1 -maxdepth 1 -type d ! -name "$keep" \
    -exec rm -rf {} +
rm -rf "$sevenn/sevenn/pair_e3gnn" "$sevenn/sevenn"/pair_d3*.so "$sevenn/bin"

log "CHGNet for CPython $python"
chgnet=$stage/chgnet
pip_node "$chgnet" chgnet==0.4.2 pymatgen==2026.10.24 pymatgen-core==2026.10.16 \
    monty==2026.10.21 ruamel.yaml==0.19.1 spglib==2.8.0 orjson==3.13.0 lxml==6.1.3 \
    tabulate==0.10.0 palettable==3.3.3
# nvidia-ml-py3 (chgnet imports its nvidia_smi) has no wheel: its sdist, pure Python
"$host_py" -m pip install -q --no-deps --no-compile --target "$chgnet" nvidia-ml-py3==7.352.0
(
    cd "$chgnet"
    # palettable's wheel carries its build tree, scripts and docs; console scripts
    rm -rf build scripts docs test bin
    rm -rf chgnet/pretrained/0.2.0 chgnet/pretrained/r2scan \
        chgnet/graph/fast_converter_libraries chgnet/graph/*.pyx
    # lxml: etree (pymatgen.io.vasp.outputs imports it), not html, objectify or C headers
    rm -rf lxml/html lxml/isoschematron lxml/includes lxml/objectify*.so lxml/*.pyx \
        lxml/*.pxd lxml/*.pxi lxml/*.h
    # spglib: _spglib loads lib64/libsymspg.so.2; the wheel has two more copies under other
    # names, and CMake/pkg-config files
    rm -rf spglib/lib64/libsymspg.so spglib/lib64/libsymspg.so.2.*.* spglib/lib64/cmake \
        spglib/lib64/pkgconfig spglib/include
    # pymatgen: what chgnet's model, graph and calculator import (its energy-only path too;
    # measured with Python 3.11 and 3.12), not the other analysis, io and data
    cd pymatgen
    rm -rf alchemy apps cli command_line ext phonon transformations vis entries util/testing \
        symmetry/symm_data_magnetic.sqlite core/structure_prediction
    find analysis -mindepth 1 ! -name __init__.py ! -name eos.py -exec rm -rf {} +
    find io -mindepth 1 -maxdepth 1 ! -name __init__.py ! -name ase.py ! -name common.py \
        ! -name core.py ! -name registry.py ! -name vasp ! -name wannier90.py -exec rm -rf {} +
)
[ -f "$chgnet/chgnet/pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar" ] \
    || die "chgnet 0.4.2 without its CHGNet 0.3.0 checkpoint"
find "$stage" -name __pycache__ -type d -prune -exec rm -rf {} +

log "Mg-MOF-74 unit cell"
"$host_py" - "$repo/examples/mof74_co2" "$out/mof74_unit.cif" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import mof74
Path(sys.argv[2]).write_text(mof74.load_framework().info["cif"])
PY

tree=$(cd "$repo" && git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -n1 | cut -f1)
limit=$(( max_mib * 1024 ))
log "packing SevenNet ($(mib "$(kib "$sevenn")") MiB of files) and CHGNet ($(mib \
"$(kib "$chgnet")") MiB)"
tar -cJf "$out/site.tar.xz" -C "$sevenn" . -C "$chgnet" .
if [ $(( tree + $(kib "$out") )) -gt "$limit" ]; then
    log "CHGNET LEFT OUT: with it $(mib $(( tree + $(kib "$out") ))) MiB would travel," \
        "$(( tree + $(kib "$out") - limit )) KiB more than $max_mib MiB; the GPU run reports" \
        "its rows as skipped (chgnet is not installed)"
    tar -cJf "$out/site.tar.xz" -C "$sevenn" .
fi
carry=$(kib "$out")
log "$out: $(mib "$carry") MiB ($carry KiB: bundle $(kib "$bundle"), models $(kib \
"$out/site.tar.xz"), cell $(kib "$out/mof74_unit.cif")) + the repository's tracked files \
$(mib "$tree") MiB ($tree KiB) = $(mib $(( carry + tree ))) MiB of $max_mib"
[ $(( carry + tree )) -le "$limit" ] || die "more than $max_mib MiB would travel"
cat <<EOF
On the GPU node, from the repository root (with $(basename "$out")/ carried along):
  scripts/gpu_acceptance.sh --carry $(basename "$out") --out \$OUT --budget 540
EOF

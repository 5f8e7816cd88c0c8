#!/usr/bin/env bash
# Prepare, on a machine with a network, everything a GPU node without one needs for
# scripts/gpu_acceptance.sh, in ONE folder that travels with the repository (<= 64 MiB in all):
#
#   scripts/gpu_prepare.sh [--out .gpu] [--python 3.12] [--max-mib 64]
#
#   <out>/lammps-mliap-ase-bundle-*.tar.xz   the offline bundle (scripts/make_bundle.sh: LAMMPS
#                                            source, this repository at HEAD, ase, orb-models, ...)
#   <out>/site/        SevenNet (sevenn 0.13.0, real SevenNet-0 weights) and what the node lacks
#                      of its needs (braceexpand, matscipy), installed for the node's Python.  Only
#                      the SevenNet-0 checkpoint is kept: the wheel's other three checkpoints
#                      and its LAMMPS/D3 plugin sources make it 43 MB, too much to carry
#   <out>/mof74_unit.cif   the Mg-MOF-74 unit cell (core-mof) for the GCMC stage
#
# The node is expected to have the rest (torch with CUDA, numpy, scipy, matplotlib, e3nn,
# torch-geometric, scikit-learn, pandas: the image of our GPU machines has them).  Prints the
# command to run there.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[gpu_prepare] $*" >&2; }
die() { echo "[gpu_prepare] error: $*" >&2; exit 1; }

out=$repo/.gpu ; python=3.12 ; max_mib=64
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$(realpath -m "${2:?}"); shift ;;
        --python) python=${2:?}; shift ;;
        --max-mib) max_mib=${2:?}; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
host_py=$repo/.venv/bin/python
[ -x "$host_py" ] || die "run scripts/setup.sh first (the MOF structure comes from its core-mof)"
rm -rf "$out"; mkdir -p "$out/site"

log "offline bundle for CPython $python"
"$repo/scripts/make_bundle.sh" --python "$python" --out "$out" >/dev/null

log "SevenNet for CPython $python"
"$host_py" -m pip install -q --no-deps --only-binary=:all: --python-version "$python" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --target "$out/site" \
    sevenn==0.13.0 braceexpand==0.1.7 matscipy==1.3.1
keep=SevenNet_0__11Jul2024  # what SevenNetCalculator("7net-0") loads
find "$out/site/sevenn/pretrained_potentials" -mindepth 1 -maxdepth 1 -type d ! -name "$keep" \
    -exec rm -rf {} +
rm -rf "$out/site/sevenn/pair_e3gnn" "$out/site/sevenn"/pair_d3*.so "$out/site/bin"

log "Mg-MOF-74 unit cell"
"$host_py" - "$repo/examples/mof74_co2" "$out/mof74_unit.cif" <<'EOF'
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import mof74
Path(sys.argv[2]).write_text(mof74.load_framework().info["cif"])
EOF

tree_kib=$(cd "$repo" && git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -n1 | cut -f1)
carry_kib=$(du -sk "$out" | cut -f1)
total=$(( (tree_kib + carry_kib) / 1024 ))
log "$out: $(( carry_kib / 1024 )) MiB + the repository $(( tree_kib / 1024 )) MiB = $total MiB"
[ "$total" -le "$max_mib" ] || die "more than $max_mib MiB would travel"
cat <<EOF
On the GPU node, from the repository root (with $(basename "$out")/ carried along):
  scripts/gpu_acceptance.sh --carry $(basename "$out") --out \$OUT --budget 540
EOF

#!/usr/bin/env bash
# Acceptance run of an offline bundle on this machine with networking disabled: what an
# air-gapped node does, measured (docs/offline.md quotes its output).
#
#   scripts/offline_acceptance.sh BUNDLE.tar.xz --python PATH [install.sh options]
#
# PATH is the python of an environment prepared BEFORE (the "node's own": torch, and numpy,
# scipy, matplotlib when the bundle leaves them out).  Inside `unshare --net` (a network
# namespace with only a loopback device; needs root) the script
#   1. shows the network is gone: `pip download` from the default index must fail;
#   2. unpacks the bundle into a fresh directory and runs its install.sh (wall time);
#   3. runs the test suite from the unpacked repository: python -m pytest -ra.
# ccache statistics of this build alone are logged (CCACHE_STATSLOG) and summarised.
set -euo pipefail

log() { echo "[offline_acceptance] $*"; }
die() { echo "[offline_acceptance] error: $*" >&2; exit 1; }

bundle=$(realpath "${1:?usage: offline_acceptance.sh BUNDLE.tar.xz --python PATH [options]}")
shift
[ "${1:-}" = --python ] || die "give --python PATH after the bundle"
py=$(realpath -s "$(command -v "${2:?}")"); shift 2
if [ "${OFFLINE_ACCEPTANCE_INSIDE:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || die "unshare --net needs root"
    OFFLINE_ACCEPTANCE_INSIDE=1 exec unshare --net -- "$0" "$bundle" --python "$py" "$@"
fi

size=$(stat -c %s "$bundle")
log "bundle $(basename "$bundle"): $size bytes ($(awk "BEGIN {printf \"%.1f\", $size / 1048576}") MiB)"

# 1. no network
probe=$(mktemp -d)
if env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null "$py" -m pip download --no-deps --retries 0 \
        --timeout 5 -d "$probe" six >"$probe/log" 2>&1; then
    die "pip download succeeded: this is not an offline run"
fi
log "network check: pip download failed as it must: $(grep -m1 -iE 'error|fail' "$probe/log" | cut -c1-160)"
rm -rf "$probe"

# 2. unpack and install (the one documented command), timed
work=$(mktemp -d /tmp/offline-node.XXXX)
cd "$work"
export CCACHE_STATSLOG="$work/ccache-stats.log"
log "unpacking and installing in $work"
start=$(date +%s)
name=$(basename "$bundle" .tar.xz)
tar -xJf "$bundle" && "$name/install.sh" --python "$py" "$@"
log "install wall time (unpack + build + install): $(( $(date +%s) - start )) s"
if [ -f "$CCACHE_STATSLOG" ] && command -v ccache >/dev/null; then
    log "ccache for this build: $(ccache --show-log-stats 2>/dev/null \
        | grep -E '^ *(Hits|Misses)' | tr -s ' ' | paste -sd ';')"
else
    log "ccache: no statistics (ccache absent or nothing compiled through it)"
fi

# 3. tests from the unpacked repository
cd "$work/$name/repo"
log "tests: $py -m pytest -ra"
"$py" -m pytest -ra -p no:cacheprovider

#!/usr/bin/env bash
# Fetch the LAMMPS release this project patches and print the path of the verified tarball.
#
# Why two routes: users download GitHub's release tarball; machines that reach only the Debian
# archive get the *same* release from Debian's source package (`lammps_<ver>+dfsg.orig.tar.gz`).
# Either way the tarball is checked against a pinned sha256, cached under ~/.cache, and the path
# is printed as the last line of stdout so callers can capture it.
#
#   scripts/fetch_lammps_source.sh            # GitHub, else Debian (--auto)
#   scripts/fetch_lammps_source.sh --github   # GitHub release tarball only
#   scripts/fetch_lammps_source.sh --debian   # Debian source archive only (no GitHub needed)
set -euo pipefail

LAMMPS_TAG="patch_4Jul2026"
GITHUB_SHA256=""   # not pinned: upstream does not publish one; the build verifies patches apply
DEBIAN_VERSION="20260704+dfsg"
DEBIAN_REVISION="2"
DEBIAN_SHA256="cddbc45a047416bd48a4a0b87f24a5b61b3446982b74d18cafe619c22b17eb62"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/lammps-mliap-ase"

log() { echo "[fetch_lammps_source] $*" >&2; }
die() { echo "[fetch_lammps_source] error: $*" >&2; exit 1; }

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

fetch_github() {
    local out="$CACHE/lammps-${LAMMPS_TAG}.tar.gz"
    if [ -s "$out" ]; then log "cached: $out"; echo "$out"; return; fi
    command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
    mkdir -p "$CACHE"
    log "downloading LAMMPS $LAMMPS_TAG from GitHub"
    curl -fL --retry 3 -o "$out.part" \
        "https://github.com/lammps/lammps/archive/refs/tags/${LAMMPS_TAG}.tar.gz" \
        || { log "GitHub download failed (offline machines: --debian or --source-tarball)"; return 1; }
    if [ -n "$GITHUB_SHA256" ] && ! sha_ok "$out.part" "$GITHUB_SHA256"; then
        die "checksum mismatch for $out.part"
    fi
    mv "$out.part" "$out"; echo "$out"
}

# Print the first non-security Debian mirror URI configured on this machine (deb822 or one-line).
debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f" | grep -v security | grep -i debian | head -n1)
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' "$f" \
              | grep -v security | grep -i debian | head -n1)
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
}

fetch_debian() {
    local name="lammps_${DEBIAN_VERSION}.orig.tar.gz" out="$CACHE/lammps_${DEBIAN_VERSION}.orig.tar.gz"
    if sha_ok "$out" "$DEBIAN_SHA256"; then log "cached: $out"; echo "$out"; return; fi
    command -v apt-get >/dev/null || die "--debian needs apt-get (a Debian-based machine)"
    local mirror; mirror=$(debian_mirror)
    [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources*; cannot derive a deb-src entry"
    # A private apt state: the machine's own sources and lists stay untouched.
    local work; work=$(mktemp -d); trap 'rm -rf "$work"' RETURN
    mkdir -p "$work/lists/partial" "$work/archives/partial" "$CACHE"
    printf 'deb-src [trusted=yes] %s sid main\n' "$mirror" >"$work/sources.list"
    local opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
                -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
                -o "APT::Sandbox::User=root" -q)
    log "reading the sid source index (deb-src derived from $mirror)"
    apt-get "${opts[@]}" update >&2 || die "apt-get update of the deb-src index failed"
    log "downloading lammps=${DEBIAN_VERSION}-${DEBIAN_REVISION} source"
    # The .dsc of this revision is missing from the archive, so apt-get exits non-zero even when
    # the .orig tarball arrived: judge by the tarball's checksum, not by the exit code.
    (cd "$work" && apt-get "${opts[@]}" source --download-only \
        "lammps=${DEBIAN_VERSION}-${DEBIAN_REVISION}" >&2) || log "apt-get exited non-zero (expected: missing .dsc); checking the tarball"
    [ -f "$work/$name" ] || die "Debian did not deliver $name"
    sha_ok "$work/$name" "$DEBIAN_SHA256" || die "checksum mismatch for $name"
    mv "$work/$name" "$out"; echo "$out"
}

case "${1:---auto}" in
    --auto) (fetch_github) || { log "GitHub unreachable: trying Debian's source archive"; fetch_debian; } ;;
    --debian) fetch_debian ;;
    --github) fetch_github ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown option $1 (use --auto, --github or --debian)" ;;
esac

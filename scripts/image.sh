#!/usr/bin/env bash
# Builds referrify's container image (Containerfile: the static binary on an empty base) with
# Debian's buildah, and pushes it if a reference is given.
#
#   scripts/image.sh [REF]        e.g. scripts/image.sh 127.0.0.1:5000/tools/referrify:test
#
# Without REF the image stays in buildah's storage under target/image/ as localhost/referrify:VERSION
# (the only image there: each run empties that storage first).
# With REF it is pushed there (plain HTTP for a loopback registry, TLS elsewhere, credentials
# from buildah's usual auth files) and the pushed manifest's digest is printed on stdout.
# Runs as root without a container runtime or daemon: vfs storage, chroot isolation (the image
# needs no RUN step). tests/image.rs runs it against a test registry and checks the result.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REF=${1:-}
WORK=$ROOT/target/image
CA=${REFERRIFY_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v buildah >/dev/null || die "buildah is missing: run scripts/setup.sh (as root) to install Debian's buildah"
[ -s "$CA" ] || die "no CA bundle at $CA (Debian's ca-certificates package)"

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n1)
revision=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)

context=$WORK/context
rm -rf "$context"
mkdir -p "$context"
bash "$ROOT/scripts/static-build.sh" "$(rustc -vV | sed -n 's/^host: //p')" "$context/referrify"
cp "$CA" "$context/ca-certificates.crt"

# Storage of its own under target/: nothing is left in the machine's /var/lib/containers.
B=(buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)
name=localhost/referrify:$version
# The storage is this script's alone: keep only the image it builds now (vfs copies every layer).
"${B[@]}" rm --all >/dev/null
"${B[@]}" rmi --all --force >/dev/null 2>&1 || true
log "buildah bud -t $name"
"${B[@]}" bud --quiet --isolation chroot --format oci --layers=false \
  --label "org.opencontainers.image.title=referrify" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  -f "$ROOT/Containerfile" -t "$name" "$context" >/dev/null

if [ -n "$REF" ]; then
  host=${REF%%/*}
  tls=true
  case "$host" in 127.*|localhost|localhost:*|\[::1\]*) tls=false ;; esac
  digestfile=$WORK/pushed.digest
  log "buildah push $REF (tls-verify=$tls)"
  "${B[@]}" push --quiet --tls-verify="$tls" --digestfile "$digestfile" "$name" "docker://$REF" >/dev/null
  cat "$digestfile"
  echo
fi

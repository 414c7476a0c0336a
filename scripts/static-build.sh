#!/usr/bin/env bash
# Builds referrify as one static executable: glibc static-pie (`-C target-feature=+crt-static`),
# no shared library, no loader, so it runs on an empty base image (Containerfile) and on any
# Linux of its architecture. reqwest talks TLS through rustls (aws-lc-rs, compiled in), so
# nothing links OpenSSL; the CA certificates are read from the system's files at run time.
#
#   scripts/static-build.sh [TARGET [OUT]]
#
# TARGET defaults to the host's (x86_64-unknown-linux-gnu here), OUT to target/static/referrify-TARGET.
# Builds in target/static-build/ (its own directory: the flags differ from a normal build, and a
# test that calls this script must not wait for the lock of the directory cargo test runs from).
# REFERRIFY_STATIC_PROFILE=dev builds without optimisation (tests/image.rs: the same linking in
# less than half the CPU time: 1m55s against 5m03s measured); release by default.
# Fails unless `ldd` reports the result as static.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${1:-$(rustc -vV | sed -n 's/^host: //p')}
OUT=$(realpath -m "${2:-$ROOT/target/static/referrify-$TARGET}")
BUILD_DIR=${REFERRIFY_STATIC_TARGET_DIR:-$ROOT/target/static-build}
PROFILE=${REFERRIFY_STATIC_PROFILE:-release}
case "$PROFILE" in
  release) profile_dir=release ;;
  dev) profile_dir=debug; export CARGO_PROFILE_DEV_DEBUG=0 ;; # no debug info: 35 MB, not 87 MB
  *) printf 'static-build: REFERRIFY_STATIC_PROFILE must be release or dev, not %s\n' "$PROFILE" >&2; exit 2 ;;
esac

log() { printf 'static-build: %s\n' "$*" >&2; }

# With --target, RUSTFLAGS reach only the target's crates: build scripts and proc macros stay
# ordinary (dynamic) host programs, as they must.
log "cargo build --profile $PROFILE --target $TARGET (in $BUILD_DIR)"
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  CARGO_TARGET_DIR="$BUILD_DIR" \
  cargo build --profile "$PROFILE" --locked --quiet --target "$TARGET" --manifest-path "$ROOT/Cargo.toml"
bin=$BUILD_DIR/$TARGET/$profile_dir/referrify

# ldd says "statically linked" for a static-pie and "not a dynamic executable" for a static
# non-PIE executable; anything else lists the shared libraries it would load.
linkage=$(ldd "$bin" 2>&1 || true)
if ! grep -Eq 'statically linked|not a dynamic executable' <<<"$linkage"; then
  log "error: $bin is not static; ldd says:"
  printf '%s\n' "$linkage" >&2
  exit 1
fi
mkdir -p "$(dirname "$OUT")"
cp "$bin" "$OUT"
log "$OUT ($(wc -c <"$OUT") bytes; ldd: $(head -n1 <<<"$linkage" | sed 's/^[[:space:]]*//'))"

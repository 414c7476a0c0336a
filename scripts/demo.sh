#!/usr/bin/env bash
# referrify's main job on a bundled real BuildKit v0.32.2 image (testdata/buildkit-v0.32.2/legacy-multi:
# linux/amd64 + linux/arm64, SBOM + SLSA provenance as legacy in-index attestations):
#   1. an OCI layout copy:                         check (before) -> convert -> check (after) -> oras discover
#   2. a registry WITHOUT the Referrers API        (Debian docker-registry 2.8.2: referrers tag schema)
#   3. a registry WITH the Referrers API           (ferro-oci-server 1.0.0, examples/ferro_registry.rs)
# Both registries are started here on 127.0.0.1 and stopped on exit. Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for t in docker-registry skopeo oras; do
  command -v "$t" >/dev/null || { echo "demo: $t is missing: run scripts/setup.sh first" >&2; exit 1; }
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# check exits 3 while a platform has a gap; that is the point of the "before" step.
run_gap() {
  printf '$ %s\n' "$*"
  set +e; "$@"; local rc=$?; set -e
  if [ "$rc" -eq 3 ]; then
    echo "(exit code 3, as expected: this is the \"before\" state, platforms without a discoverable attestation)"
  else
    echo "(exit code $rc; 3 was expected here)" >&2
    exit 1
  fi
}

TARGET=${CARGO_TARGET_DIR:-$PWD/target}
say "building referrify and the demo registry (the first build takes a few minutes: about 2 on 2 idle cores)"
cargo build --bin referrify --example ferro_registry
BIN=$TARGET/debug/referrify
T=$(mktemp -d "${TMPDIR:-/tmp}/referrify-demo.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_up() { for _ in $(seq 1 100); do curl -sf -o /dev/null "http://$1/v2/" && return 0; sleep 0.1; done; echo "demo: registry $1 did not start" >&2; exit 1; }

FIXTURE=testdata/buildkit-v0.32.2/legacy-multi
AMD64=sha256:baf833cb2d6c6f763285cf755c1d68e3debbe6e0f520299c6d86cdcc8329a6da

say "1. OCI layout (a copy of $FIXTURE)"
cp -r "$FIXTURE" "$T/layout"
run_gap "$BIN" check "oci-layout://$T/layout:multi"
run "$BIN" convert "oci-layout://$T/layout:multi"
run "$BIN" check "oci-layout://$T/layout:multi"
run oras discover --oci-layout --platform linux/amd64 "$T/layout:multi"

DIST_PORT=$(free_port)
mkdir -p "$T/dist-data"
cat >"$T/dist.yml" <<EOC
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $T/dist-data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$DIST_PORT}
EOC
docker-registry serve "$T/dist.yml" >"$T/dist.log" 2>&1 &
pids+=($!)
FERRO_PORT=$(free_port)
RUST_LOG=error NO_COLOR=1 "$TARGET/debug/examples/ferro_registry" "127.0.0.1:$FERRO_PORT" >"$T/ferro.log" 2>&1 &
pids+=($!)
wait_up "127.0.0.1:$DIST_PORT"
wait_up "127.0.0.1:$FERRO_PORT"

for pair in "docker-registry 2.8.2 (no Referrers API):$DIST_PORT" "ferro-oci-server 1.0.0 (Referrers API):$FERRO_PORT"; do
  name=${pair%:*} port=${pair##*:}
  REF=127.0.0.1:$port/demo/app:multi
  say "registry: $name at 127.0.0.1:$port"
  run skopeo --insecure-policy copy -q --all --preserve-digests --dest-tls-verify=false "oci:$FIXTURE:multi" "docker://$REF"
  run_gap "$BIN" check "$REF"
  run "$BIN" convert --dry-run "$REF"
  run "$BIN" convert "$REF"
  run "$BIN" convert "$REF"
  run "$BIN" check "$REF"
  say "independent confirmation with oras"
  run oras discover --plain-http "127.0.0.1:$port/demo/app@$AMD64"
  run curl -s "http://127.0.0.1:$port/v2/demo/app/tags/list"
  echo
done
say "done: the image index and its tag were not changed (referrify convert --index keep is the default)"
cat <<EOF
The demo's referrify is a debug build: $BIN
To put referrify on your PATH (an optimised build into ~/.cargo/bin, which rustup put on PATH):
  cargo install --locked --path .
Then: referrify --help, and referrify COMMAND --help for examples and exit codes.
EOF

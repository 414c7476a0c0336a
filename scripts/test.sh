#!/usr/bin/env bash
# referrify's test command (what README and CI run):
#   1. check the external test tools, running scripts/setup.sh if one is missing
#   2. cargo fmt --check
#   3. cargo clippy --all-targets -- -D warnings
#   4. all tests: `cargo nextest run --all-targets` when cargo-nextest is installed, else
#      `cargo test --all-targets`
# Exits non-zero on the first failing stage. With CI set, cargo runs with --locked.
# The integration tests start their own registries on 127.0.0.1 (see tests/common/mod.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$SECONDS
stage() { printf '\n==> %s\n' "$*" >&2; }

# --- 1. tools (an explicit override such as REFERRIFY_ORAS=/path counts as present)
missing=()
for spec in docker-registry:REFERRIFY_DOCKER_REGISTRY skopeo:REFERRIFY_SKOPEO oras:REFERRIFY_ORAS htpasswd:REFERRIFY_HTPASSWD openssl:REFERRIFY_OPENSSL chromium:REFERRIFY_CHROMIUM chromedriver:REFERRIFY_CHROMEDRIVER script:REFERRIFY_SCRIPT; do
  tool=${spec%%:*} var=${spec#*:}
  if [ -n "${!var:-}" ]; then
    [ -x "${!var}" ] || { echo "test.sh: \$$var=${!var} is not executable" >&2; exit 1; }
  elif ! command -v "$tool" >/dev/null; then
    missing+=("$tool")
  fi
done
# go-containerregistry's registry (RegistryKind::Ggcr / GgcrNoApi), built by setup.sh into target/tools/
if [ -n "${REFERRIFY_GGCR_REGISTRY:-}" ]; then
  [ -x "$REFERRIFY_GGCR_REGISTRY" ] || { echo "test.sh: \$REFERRIFY_GGCR_REGISTRY=$REFERRIFY_GGCR_REGISTRY is not executable" >&2; exit 1; }
elif [ ! -x target/tools/ggcr-registry ]; then
  missing+=(ggcr-registry)
fi
# python3 with `cryptography` for tests/support/token-issuer.py (RegistryKind::DistributionToken);
# the harness takes $REFERRIFY_PYTHON3, else /usr/bin/python3, else python3 on PATH
python=${REFERRIFY_PYTHON3:-}
if [ -z "$python" ]; then
  if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; else python=$(command -v python3 || true); fi
fi
if [ -z "$python" ] || ! "$python" -c 'import cryptography' 2>/dev/null; then
  missing+=("python3-cryptography")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  stage "missing test tools (${missing[*]}): running scripts/setup.sh"
  bash scripts/setup.sh
fi

for sub in fmt clippy; do
  if ! cargo "$sub" --version >/dev/null 2>&1; then
    echo "test.sh: 'cargo $sub' is not available; install it (rustup component add ${sub/fmt/rustfmt})" >&2
    exit 1
  fi
done

locked=()
if [ -n "${CI:-}" ]; then locked=(--locked); fi

# --- 2. formatting
stage "cargo fmt --check"
cargo fmt --check

# --- 3. lints
stage "cargo clippy --all-targets -- -D warnings"
cargo clippy "${locked[@]}" --all-targets -- -D warnings

# --- 4. tests
if cargo nextest --version >/dev/null 2>&1; then
  stage "cargo nextest run --all-targets"
  cargo nextest run "${locked[@]}" --all-targets --no-fail-fast
else
  stage "cargo test --all-targets (cargo-nextest not installed)"
  cargo test "${locked[@]}" --all-targets --no-fail-fast
fi

printf '\ntest.sh: fmt, clippy and all tests passed in %ss\n' "$((SECONDS - start))"

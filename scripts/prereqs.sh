#!/usr/bin/env bash
# What scripts/setup.sh does not install and referrify needs: Rust at the version Cargo.toml names
# (rust-version; Debian 12's own rustc is 1.63, too old), a C compiler (the TLS crates aws-lc-sys
# and ring build C code) and python3. Checked first, so a fresh
# machine learns in one second what to do, not after the apt installs. Exit 0 when both are
# there; otherwise exit 1 with the commands to run. setup.sh runs it; it also runs on its own:
#   bash scripts/prereqs.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MSRV=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n1)
[ -n "$MSRV" ] || { echo "prereqs: error: no rust-version in $ROOT/Cargo.toml" >&2; exit 1; }

# Where rustup puts rustc for the user who runs this, or for the user behind `sudo` (whose PATH
# sudo does not keep).
find_rustc() {
  local home
  if command -v rustc >/dev/null; then command -v rustc; return; fi
  for home in "${CARGO_HOME:-}" "${HOME:-}/.cargo" \
    "$( [ -n "${SUDO_USER:-}" ] && getent passwd "$SUDO_USER" | cut -d: -f6)/.cargo"; do
    if [ -n "$home" ] && [ -x "$home/bin/rustc" ]; then echo "$home/bin/rustc"; return; fi
  done
}

# Whether version $1 >= $2 (dotted numbers).
at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

RUSTUP="curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal"
apt=()     # Debian packages to install first (as root)
why=()     # what each is for
rust=""    # what to do about Rust, if anything
rustc=$(find_rustc || true)
have=""
if [ -n "$rustc" ]; then
  # rustup's rustc found in another user's ~/.cargo (sudo) needs that user's ~/.rustup
  home=$(dirname "$(dirname "$(dirname "$rustc")")")
  if [ -z "${RUSTUP_HOME:-}" ] && [ -d "$home/.rustup" ]; then export RUSTUP_HOME=$home/.rustup; fi
  have=$({ "$rustc" --version 2>/dev/null || true; } | awk '{ print $2 }')
  have=${have%%-*}
fi
if [ -z "$rustc" ]; then
  rust="Rust >= $MSRV is missing (no rustc on PATH or in ~/.cargo/bin; Debian 12's own rustc is 1.63,
too old). Install it with rustup, as the user who builds (no root needed), then load its environment:
  $RUSTUP
  . \"\$HOME/.cargo/env\""
elif [ -z "$have" ] || ! at_least "$have" "$MSRV"; then
  if [ -x "$(dirname "$rustc")/rustup" ]; then
    rust="Rust >= $MSRV is needed; $rustc is ${have:-of an unknown version}. Update it:
  $(dirname "$rustc")/rustup update stable"
  else
    rust="Rust >= $MSRV is needed; $rustc is ${have:-of an unknown version}. Install rustup's, as the user
who builds, then load its environment (it comes first on PATH; or apt-get remove rustc cargo):
  $RUSTUP
  . \"\$HOME/.cargo/env\""
  fi
fi
if [ -n "$rust" ] && [[ "$rust" == *sh.rustup.rs* ]] && ! command -v curl >/dev/null; then
  apt+=(curl ca-certificates); why+=("curl for rustup's installer")
fi
if ! command -v cc >/dev/null; then
  apt+=(gcc libc6-dev); why+=("a C compiler: the TLS crates (aws-lc-sys, ring) build C code")
fi
if ! command -v python3 >/dev/null; then
  apt+=(python3); why+=("python3: the demo and the tests use it")
fi

if [ "${#apt[@]}" -gt 0 ]; then
  {
    echo "prereqs: missing: $(IFS=';'; echo "${why[*]}" | sed 's/;/; /g'). Install (as root):"
    echo "  apt-get install -y ${apt[*]}"
  } >&2
fi
if [ -n "$rust" ]; then
  printf 'prereqs: %s\n' "$rust" >&2
fi
if [ -n "$rustc" ] && ! command -v rustc >/dev/null; then
  echo "prereqs: note: $rustc is not on PATH here; before building, run: . \"\$HOME/.cargo/env\"" >&2
fi
if [ "${#apt[@]}" -gt 0 ] || [ -n "$rust" ]; then
  echo "prereqs: then run this again: bash scripts/setup.sh" >&2
  exit 1
fi
echo "prereqs: rustc $have ($rustc, >= $MSRV), $(cc --version 2>&1 | head -n1), $(python3 --version 2>&1)"

#!/usr/bin/env bash
# What scripts/setup.sh does not install and referrify needs: Rust at the version Cargo.toml names
# (rust-version; Debian 12's own rustc is 1.63, too old) and python3. Checked first, so a fresh
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
problems=0
rustc=$(find_rustc || true)
if [ -z "$rustc" ]; then
  cat >&2 <<EOF
prereqs: Rust >= $MSRV is missing (no rustc on PATH or in ~/.cargo/bin). Install it with rustup,
as the user who builds (no root needed), then open a new shell or load its environment:
  $RUSTUP
  . "\$HOME/.cargo/env"
(Debian 12's own rustc package is 1.63: too old for referrify.)
EOF
  problems=1
else
  # rustup's rustc found in another user's ~/.cargo (sudo) needs that user's ~/.rustup
  home=$(dirname "$(dirname "$(dirname "$rustc")")")
  if [ -z "${RUSTUP_HOME:-}" ] && [ -d "$home/.rustup" ]; then export RUSTUP_HOME=$home/.rustup; fi
  have=$({ "$rustc" --version 2>/dev/null || true; } | awk '{ print $2 }')
  have=${have%%-*}
  if [ -z "$have" ] || ! at_least "$have" "$MSRV"; then
    if [ -x "$(dirname "$rustc")/rustup" ]; then
      fix="  $(dirname "$rustc")/rustup update stable"
    else
      fix="  $RUSTUP
  . \"\$HOME/.cargo/env\"
(rustup's rustc comes first on PATH; remove Debian's with apt-get remove rustc cargo if it does not)"
    fi
    cat >&2 <<EOF
prereqs: Rust >= $MSRV is needed; $rustc is ${have:-of an unknown version}. Update it:
$fix
EOF
    problems=1
  fi
fi

if ! command -v python3 >/dev/null; then
  cat >&2 <<EOF
prereqs: python3 is missing (the demo and the tests use it). Install it (as root):
  apt-get install -y python3
EOF
  problems=1
fi

if [ -n "$rustc" ] && ! command -v rustc >/dev/null; then
  echo "prereqs: note: $rustc is not on PATH here; before building, run: . \"\$HOME/.cargo/env\"" >&2
fi

if [ "$problems" -ne 0 ]; then
  echo "prereqs: then run this again: bash scripts/setup.sh" >&2
  exit 1
fi
echo "prereqs: rustc $have ($rustc, >= $MSRV), $(python3 --version 2>&1)"

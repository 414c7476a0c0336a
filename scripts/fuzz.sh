#!/usr/bin/env bash
# Fuzzes every parser of registry or file content, and the Go-style JSON writer, with cargo-fuzz
# (libFuzzer), each target for a fixed time. Seeds come from testdata/ (real BuildKit and Docker
# Hub documents, the golden vectors). Exits non-zero on the first crash; a crash input is left in
# fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]    default 60; CI runs it with 10
#
# cargo-fuzz needs nightly compiler flags; the machine's one stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1. cargo-fuzz itself is installed from crates.io when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECS=${1:-60}
TARGETS=(document tag_index statement metadata layout_index gojson jsonspan)
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz --version 0.13.2
fi

# Seed corpora: every JSON document in testdata (manifests, indexes, statements, index.json).
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  find testdata -type f -size -64k | while read -r f; do
    if head -c1 "$f" | grep -q '[{[]'; then cp "$f" "fuzz/corpus/$t/seed-$(sha256sum "$f" | cut -c1-16)"; fi
  done
done

(cd fuzz && cargo fuzz build -O >&2)
printf '| target | seconds | runs | corpus | crashes |\n|---|---:|---:|---:|---:|\n'
status=0
for t in "${TARGETS[@]}"; do
  log=$(mktemp)
  set +e
  (cd fuzz && cargo fuzz run -O "$t" -- -max_total_time="$SECS" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  corpus=$(ls "fuzz/corpus/$t" | wc -l)
  crashes=$(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l)
  printf '| %s | %s | %s | %s | %s |\n' "$t" "$SECS" "${runs:-?}" "$corpus" "$crashes"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $t failed (exit $rc):" >&2
    tail -40 "$log" >&2
    status=1
  fi
  rm -f "$log"
done
exit $status

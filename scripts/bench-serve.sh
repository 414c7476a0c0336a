#!/usr/bin/env bash
# Benchmark of `referrify serve` (docs/serve.md), release build, everything on 127.0.0.1:
#   1. push→discoverable latency p50/p99 (serve's histogram, from receiving an event to the
#      image's attestations being discoverable) while 200 legacy-multi images are pushed to
#      distribution 2.8.2 with notifications to serve;
#   2. throughput: the same 200 images posted as generic events at once, against one
#      `referrify migrate` run on an identically seeded registry (targets: p50 < 1 s, p99 < 5 s,
#      serve within 1.2x of migrate);
#   3. RSS of serve every 1,000 of 10,000 generic events naming images it already converted.
# Prints one JSON object (also written to target/bench/serve.json). Not part of CI's quick run
# (it takes minutes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p target/bench
cargo test --release --test serve_bench -- --ignored --nocapture --test-threads 1 2>/dev/null \
  | grep -o '{"burst".*' | tee target/bench/serve.json

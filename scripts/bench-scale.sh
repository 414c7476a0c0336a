#!/usr/bin/env bash
# Benchmark at registry sizes: flat memory inside a repository, the registry-wide report at
# scale, the floor client side by side, and where the time goes at 30 ms latency.
#
#   scripts/bench-scale.sh [--small-tags 300] [--tags 20000] [--repos 2000] [--quick]
#                          [--sections size,html,statements,floor,latency]
#
# Release builds, 127.0.0.1, Debian's docker-registry 2.8.2 (no Referrers API; ferro-oci-server
# too in the latency section), each run on a fresh registry behind examples/latency_proxy (request
# counts come from the proxy), seeded straight into the registry by examples/seed_registry.
#   size:    one repository, 1 platform per image, SMALL and LARGE tags: referrify migrate -j 16
#            and check REGISTRY --format json -j 16: wall, time per image, peak RSS (GNU time %M).
#            Targets: RSS(large) <= 1.3 x RSS(small), time per image(large) <= 1.3 x (small).
#   html:    REPOS repositories x 2 tags x 4 platforms: check REGISTRY --format json and --html:
#            wall, RSS, the page's size and its first contentful paint / load in headless Chromium
#            (scripts/page-paint.py, median of 3). Targets: page < 5 MiB, first paint < 2 s.
#   statements: check of 8 images in an OCI layout (scripts/statement-layout.py), each with one
#            in-toto statement that must be read: 1 KiB, then 80 MiB each. Peak RSS; target:
#            RSS(80 MiB) <= 1.3 x RSS(1 KiB) (statements are parsed as they stream).
#   floor:   50 x 2 x 2, 8 connections: referrify migrate / check against
#            ../shared/testkit/floor-client.py convert / coverage (a keep-alive client sending
#            only the floor requests, no verification), each on its own fresh registry with the same
#            data. Target: referrify wall <= 1.2 x floor wall (migrate also shown with --no-verify).
#   latency: 50 x 2 x 2 at 30 ms added latency, -j 16, distribution and ferro: wall of migrate,
#            migrate --no-verify (the difference is the read-back wait + verification), check; the
#            request-bound limit requests x 30 ms / 16. Target: wall <= 1.2 x limit.
# --quick: 1x30 / 1x600 tags, 50 repositories, every section (a smoke run, minutes).
# Output: Markdown on stdout and in target/bench/scale.md; every run in target/bench/scale.jsonl.
# Exit code: 1 when a run failed (the report is still written), 0 otherwise (targets are reported,
# PASS/FAIL, not enforced).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

die() { printf 'bench-scale: error: %s\n' "$*" >&2; exit 2; }
log() { printf 'bench-scale: %s\n' "$*" >&2; }

SMALL=300 LARGE=20000 REPOS=2000 SECTIONS=size,html,statements,floor,latency
while [ $# -gt 0 ]; do
  case $1 in
    --small-tags) SMALL=$2; shift 2 ;;
    --tags) LARGE=$2; shift 2 ;;
    --repos) REPOS=$2; shift 2 ;;
    --sections) SECTIONS=$2; shift 2 ;;
    --quick) SMALL=30 LARGE=600 REPOS=50; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for v in "$SMALL" "$LARGE" "$REPOS"; do [[ $v =~ ^[1-9][0-9]*$ ]] || die "bad number '$v'"; done
for t in docker-registry jq curl python3 cargo; do
  command -v "$t" >/dev/null || die "$t is missing (scripts/setup.sh installs the tools)"
done
# The floor client comes with the project's shared testkit (not part of this repository).
FLOOR=${REFERRIFY_FLOOR_CLIENT:-$ROOT/../shared/testkit/floor-client.py}

PREFIX=bench
OUT=$ROOT/target/bench
mkdir -p "$OUT"
RAW=$OUT/scale.jsonl
: >"$RAW"
log "building (release): referrify and the examples"
cargo build --release --quiet --bin referrify --examples
REFERRIFY=$ROOT/target/release/referrify
SEED=$ROOT/target/release/examples/seed_registry
PROXY_BIN=$ROOT/target/release/examples/latency_proxy
FERRO=$ROOT/target/release/examples/ferro_registry

# T (scratch, on tmpfs when there is one), PIDS, cleanup, measure and the servers: shared with
# scripts/bench.sh
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

FAILED=0
# run NAME CMD...: measure through the proxy with fresh counters, record one line
run() {
  local name=$1; shift
  reset_stats
  measure "$RUN_DIR/$name" "$@"
  local st
  st=$(stats)
  if [ "$RC" -ne 0 ] && [ "$RC" -ne 3 ]; then
    FAILED=$((FAILED + 1)); log "FAILED: $name exited $RC"; tail -n 5 "$RUN_DIR/$name.err" >&2 || true
  fi
  REQ=$(jq .total <<<"$st")
  jq -nc --arg name "$name" --arg shape "$SHAPE" --arg registry "$KIND" --argjson delay "$DELAY" \
    --argjson wall "$WALL" --argjson rss_kb "$RSS_KB" --argjson rc "$RC" --argjson requests "$REQ" \
    '$ARGS.named' >>"$RAW"
  log "  $name: ${WALL} s, $((RSS_KB / 1024)) MiB, $REQ requests, exit $RC"
}
fresh() { # KIND DELAY N M P
  KIND=$1 DELAY=$2 SHAPE=$3x$4x$5
  start_registry "$1"; start_proxy "$2"; seed "$3" "$4" "$5"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "-" && r <= t) ? "PASS" : "FAIL" }'; }
REPORT=$T/report.md
: >"$REPORT"
say() { printf '%s\n' "$*" >>"$REPORT"; }
has() { [[ ",$SECTIONS," == *",$1,"* ]]; }
say "# referrify at registry sizes ($(date -u +%Y-%m-%d), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
say ""

# --- size: one repository, small and large -------------------------------------------------------
if has size; then
  say "## One repository, 1 platform per image (distribution, -j 16, no added latency)"
  say ""
  say "| op | tags | wall s | ms per image | peak RSS MiB | requests |"
  say "|---|---:|---:|---:|---:|---:|"
  declare -A W R
  for n in "$SMALL" "$LARGE"; do
    log "size: 1x${n}x1"
    fresh distribution 0 1 "$n" 1
    run "migrate-$n" "$REFERRIFY" migrate "$PROXY_ADDR" --repo "$PREFIX/" -j 16 --format json -q
    W[migrate-$n]=$WALL R[migrate-$n]=$RSS_KB
    say "| migrate | $n | $WALL | $(awk -v w="$WALL" -v n="$n" 'BEGIN { printf "%.3f", w * 1000 / n }') | $((RSS_KB / 1024)) | $REQ |"
    run "check-$n" "$REFERRIFY" check "$PROXY_ADDR" --repo "$PREFIX/" -j 16 --format json -q
    W[check-$n]=$WALL R[check-$n]=$RSS_KB
    say "| check REGISTRY --format json | $n | $WALL | $(awk -v w="$WALL" -v n="$n" 'BEGIN { printf "%.3f", w * 1000 / n }') | $((RSS_KB / 1024)) | $REQ |"
    stop_servers
  done
  say ""
  say "| op | RSS large/small | target | time per image large/small | target |"
  say "|---|---:|---|---:|---|"
  for op in migrate check; do
    rr=$(ratio "${R[$op-$LARGE]}" "${R[$op-$SMALL]}")
    tr=$(ratio "$(awk -v w="${W[$op-$LARGE]}" -v n="$LARGE" 'BEGIN { print w / n }')" \
      "$(awk -v w="${W[$op-$SMALL]}" -v n="$SMALL" 'BEGIN { print w / n }')")
    say "| $op | $rr | ≤ 1.3 $(verdict "$rr" 1.3) | $tr | ≤ 1.3 $(verdict "$tr" 1.3) |"
  done
  say ""
fi

# --- html: many repositories, the page ------------------------------------------------------------
if has html; then
  log "html: ${REPOS}x2x4"
  fresh distribution 0 "$REPOS" 2 4
  run check-json "$REFERRIFY" check "$PROXY_ADDR" --repo "$PREFIX/" -j 16 --format json -q
  jw=$WALL jr=$RSS_KB
  run check-html "$REFERRIFY" check "$PROXY_ADDR" --repo "$PREFIX/" -j 16 -q --html "$T/page.html"
  stop_servers
  paint=$(python3 "$ROOT/scripts/page-paint.py" "$T/page.html" --runs 3 || echo '{}')
  cp "$T/page.html" "$OUT/scale-page.html" 2>/dev/null || true
  bytes=$(jq '.bytes // 0' <<<"$paint") fcp=$(jq '.first_contentful_paint_ms // null' <<<"$paint")
  load=$(jq '.load_event_end_ms // null' <<<"$paint")
  say "## check REGISTRY at ${REPOS} repositories x 2 tags x 4 platforms ($((REPOS * 8)) platform manifests; distribution, -j 16)"
  say ""
  say "| output | wall s | peak RSS MiB |"
  say "|---|---:|---:|"
  say "| --format json (JSON lines) | $jw | $((jr / 1024)) |"
  say "| --html FILE (text on stdout) | $WALL | $((RSS_KB / 1024)) |"
  say ""
  say "| page | value | target |"
  say "|---|---:|---|"
  say "| size | $(awk -v b="$bytes" 'BEGIN { printf "%.2f MiB", b / 1048576 }') | < 5 MiB $(verdict "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')" 4.999) |"
  say "| first contentful paint (headless Chromium, median of 3) | ${fcp} ms | < 2000 ms $(verdict "${fcp:-99999}" 1999) |"
  say "| load event end | ${load} ms | |"
  say "| table rows | $(jq '.rows // 0' <<<"$paint") | |"
  say ""
fi

# --- statements: memory does not follow a statement's size ----------------------------------------
if has statements; then
  say "## Statements: check of 8 images whose statements must be read (OCI layout)"
  say ""
  say "| statement size | wall s | peak RSS MiB |"
  say "|---|---:|---:|"
  KIND=layout DELAY=0
  declare -A SR
  for mib in 0.001 80; do
    SHAPE="8 x ${mib} MiB" RUN_DIR=$T/statements-$mib
    mkdir -p "$RUN_DIR"
    python3 "$ROOT/scripts/statement-layout.py" "$RUN_DIR/layout" "$mib" --images 8
    refs=()
    for i in 1 2 3 4 5 6 7 8; do refs+=("oci-layout://$RUN_DIR/layout:i$i"); done
    measure "$RUN_DIR/check" "$REFERRIFY" check --format json -q "${refs[@]}"
    [ "$RC" -eq 3 ] || { FAILED=$((FAILED + 1)); log "FAILED: statements check exited $RC"; tail -n 5 "$RUN_DIR/check.err" >&2 || true; }
    SR[$mib]=$RSS_KB
    say "| $mib MiB | $WALL | $((RSS_KB / 1024)) |"
    rm -rf "$RUN_DIR/layout"
  done
  r=$(ratio "${SR[80]}" "${SR[0.001]}")
  say ""
  say "RSS(80 MiB) / RSS(1 KiB): $r (≤ 1.3 $(verdict "$r" 1.3))"
  say ""
fi

# --- floor: the minimal client side by side -------------------------------------------------------
if has floor && [ ! -f "$FLOOR" ]; then
  log "floor section skipped: $FLOOR not found (set REFERRIFY_FLOOR_CLIENT)"
  say "## Against the floor client: skipped ($FLOOR not found; set REFERRIFY_FLOOR_CLIENT)"
  say ""
elif has floor; then
  say "## Against the floor client (distribution, 50 x 2 x 2, 8 connections, no added latency)"
  say ""
  say "| op | referrify s | requests | floor-client s | requests | wall ratio | target |"
  say "|---|---:|---:|---:|---:|---:|---|"
  for op in migrate migrate-no-verify check; do
    log "floor: $op"
    fresh distribution 0 50 2 2
    case $op in
      migrate) run "r-$op" "$REFERRIFY" migrate "$PROXY_ADDR" --repo "$PREFIX/" -j 8 --format json -q ;;
      migrate-no-verify) run "r-$op" "$REFERRIFY" migrate "$PROXY_ADDR" --repo "$PREFIX/" -j 8 --format json -q --no-verify ;;
      check) run "r-$op" "$REFERRIFY" check "$PROXY_ADDR" --repo "$PREFIX/" -j 8 --format json -q ;;
    esac
    rw=$WALL rq=$REQ
    stop_servers
    fresh distribution 0 50 2 2
    mode=convert; [ "$op" = check ] && mode=coverage
    run "f-$op" python3 "$FLOOR" "$mode" "$PROXY_ADDR" "$PREFIX" --jobs 8
    r=$(ratio "$rw" "$WALL")
    say "| $op | $rw | $rq | $WALL | $REQ | $r | ≤ 1.2 $(verdict "$r" 1.2) |"
    stop_servers
  done
  say ""
fi

# --- latency: where the time goes at 30 ms ----------------------------------------------------------
if has latency; then
  say "## At 30 ms added latency (50 x 2 x 2, -j 16): where the time goes"
  say ""
  say "| registry | op | wall s | requests | limit = requests x 30 ms / 16 | wall / limit | target |"
  say "|---|---|---:|---:|---:|---:|---|"
  for kind in distribution ferro; do
    for op in migrate migrate-no-verify check; do
      log "latency: $kind $op"
      fresh "$kind" 30 50 2 2
      case $op in
        migrate) run "l-$kind-$op" "$REFERRIFY" migrate "$PROXY_ADDR" --repo "$PREFIX/" -j 16 --format json -q ;;
        migrate-no-verify) run "l-$kind-$op" "$REFERRIFY" migrate "$PROXY_ADDR" --repo "$PREFIX/" -j 16 --format json -q --no-verify ;;
        check) run "l-$kind-$op" "$REFERRIFY" check "$PROXY_ADDR" --repo "$PREFIX/" -j 16 --format json -q ;;
      esac
      limit=$(awk -v r="$REQ" 'BEGIN { printf "%.2f", r * 0.030 / 16 }')
      r=$(ratio "$WALL" "$limit")
      say "| $kind | $op | $WALL | $REQ | $limit | $r | ≤ 1.2 $(verdict "$r" 1.2) |"
      stop_servers
    done
  done
  say ""
  say "migrate minus migrate --no-verify is the verification: the read-back wait (twice the longest"
  say "read-again-and-write of a referrers tag, plus 50 ms) and one listing per subject."
  say ""
fi

cp "$REPORT" "$OUT/scale.md"
cat "$REPORT"
[ "$FAILED" -eq 0 ] || exit 1

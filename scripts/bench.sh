#!/usr/bin/env bash
# Benchmark: referrify vs. the oras CLI workflow a user scripts today, same run, same data.
#
#   scripts/bench.sh [--shape NxMxP]... [--delays 0,5,30] [--quick]
#                    [--rss-shape NxMxP]... [--no-rss] [--registries distribution,ferro] [--strict]
#
# Everything runs on 127.0.0.1 with release builds. For each registry kind (distribution 2.8.2:
# no Referrers API; ferro-oci-server: Referrers API), each delay and each shape, and for each
# contender (referrify, scripts/bench-oras-migrate.sh + scripts/bench-oras-check.sh):
#   fresh registry (new data dir / new process) -> latency proxy in front (examples/latency_proxy.rs;
#   delay 0 still goes through it, so request counts always come from the proxy) -> seed it directly
#   (examples/seed_registry.rs: N repos x M tags x P platforms, BuildKit v0.32 legacy shape, the same
#   bytes for every registry) -> reset the counters -> migrate through the proxy -> read /__stats ->
#   `oras discover` on a sample of platform manifests, straight at the registry: each must have
#   exactly one attestation referrer (fails loudly otherwise) -> reset -> check through the proxy ->
#   read /__stats.
#   referrify: `referrify migrate PROXY --repo PREFIX/ -j 16 --format json -q --state FILE`, then
#              `referrify check PROXY --repo PREFIX/ -j 16 --format json`.
# RSS section (no oras): referrify migrate on 200x2x2 and 2000x2x2, both registries, delay 0.
#
# Measured: wall time, peak RSS (GNU /usr/bin/time %M, else a python3 getrusage(RUSAGE_CHILDREN)
# wrapper; both give the largest single process, so for the oras scripts it is the largest of the
# many oras/jq/bash processes, not their sum), items per second, HTTP requests per attestation
# (migrate) and per platform (check) from the proxy, ratios referrify/oras, and the targets.
#
# Targets (PASS/FAIL column): requests per converted attestation <= 7.75 without the Referrers API
# (distribution) and <= 5.0 with it (ferro) (the README's floors 6.25 / 4.0, which list every
# subject before writing and read each tag again right before writing it, + 1 per subject for the
# verification referrify does by default); requests per checked platform <= 3.5 / 3.25; referrify's time per
# attestation <= 1/10 of oras's; at 30 ms delay, wall <= 1.2 x requests x 30 ms / 16;
# RSS(largest RSS shape) within 10% of RSS(smallest).
# --quick: 5x2x2, delay 0, no RSS section (a smoke run for CI).
# Environment: BENCH_TMPDIR (registry data and scratch files; default /dev/shm when writable, else
# $TMPDIR or /tmp), BENCH_SEED_JOBS (seed_registry -j, default 16).
# Output: a Markdown report on stdout and in target/bench/results.md; target/bench/results.json
# holds every run with the proxy's full counts (runs.jsonl: the same, one line per run).
# Exit code: 1 if a contender failed or a verification failed (the report is still written);
# with --strict also when a target is missed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }
log() { printf 'bench: %s\n' "$*" >&2; }

SHAPES=() RSS_SHAPES=() DELAYS="" QUICK=false NO_RSS=false STRICT=false REGISTRIES=distribution,ferro
while [ $# -gt 0 ]; do
  case $1 in
    --shape) [ $# -ge 2 ] || die "--shape needs NxMxP"; SHAPES+=("$2"); shift 2 ;;
    --shape=*) SHAPES+=("${1#*=}"); shift ;;
    --rss-shape) [ $# -ge 2 ] || die "--rss-shape needs NxMxP"; RSS_SHAPES+=("$2"); shift 2 ;;
    --rss-shape=*) RSS_SHAPES+=("${1#*=}"); shift ;;
    --delays) [ $# -ge 2 ] || die "--delays needs a list"; DELAYS=$2; shift 2 ;;
    --delays=*) DELAYS=${1#*=}; shift ;;
    --registries) [ $# -ge 2 ] || die "--registries needs a list"; REGISTRIES=$2; shift 2 ;;
    --registries=*) REGISTRIES=${1#*=}; shift ;;
    --quick) QUICK=true; shift ;;
    --no-rss) NO_RSS=true; shift ;;
    --strict) STRICT=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
if $QUICK; then
  [ ${#SHAPES[@]} -gt 0 ] || SHAPES=(5x2x2)
  [ -n "$DELAYS" ] || DELAYS=0
  NO_RSS=true
fi
[ ${#SHAPES[@]} -gt 0 ] || SHAPES=(50x2x2)
[ ${#RSS_SHAPES[@]} -gt 0 ] || RSS_SHAPES=(200x2x2 2000x2x2)
[ -n "$DELAYS" ] || DELAYS=0,5,30
$NO_RSS && RSS_SHAPES=()
for s in "${SHAPES[@]}" "${RSS_SHAPES[@]}"; do
  [[ $s =~ ^[1-9][0-9]*x[1-9][0-9]*x([1-9]|10)$ ]] || die "bad shape '$s' (want NxMxP, P <= 10)"
done
IFS=, read -r -a DELAY_LIST <<<"$DELAYS"
for d in "${DELAY_LIST[@]}"; do [[ $d =~ ^[0-9]+$ ]] || die "bad delay '$d'"; done
IFS=, read -r -a REG_LIST <<<"$REGISTRIES"
for k in "${REG_LIST[@]}"; do [[ $k == distribution || $k == ferro ]] || die "bad registry kind '$k'"; done

for t in docker-registry oras jq curl python3 cargo; do
  command -v "$t" >/dev/null || die "$t is missing (scripts/setup.sh installs the tools)"
done

PREFIX=bench
JOBS=16
ART_TYPE=application/vnd.docker.attestation.manifest.v1+json
OUT=$ROOT/target/bench
mkdir -p "$OUT"
RAW=$OUT/runs.jsonl
: >"$RAW"

log "building (release): referrify and the examples"
cargo build --release --quiet --bin referrify --examples
REFERRIFY=$ROOT/target/release/referrify
SEED=$ROOT/target/release/examples/seed_registry
PROXY_BIN=$ROOT/target/release/examples/latency_proxy
FERRO=$ROOT/target/release/examples/ferro_registry
HAVE_REFERRIFY=true
if ! "$REFERRIFY" migrate --help >/dev/null 2>&1 || ! "$REFERRIFY" check --help 2>/dev/null | grep -q -- '--repo'; then
  HAVE_REFERRIFY=false
  log "referrify migrate / check --repo are not available in this build: the referrify rows are marked 'not available'"
fi

# T (scratch, on tmpfs when there is one), PIDS, cleanup; measure, start_registry, start_proxy,
# stop_servers, stats, reset_stats, seed: shared with scripts/bench-scale.sh
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

# verify_sample N M P: oras discover, straight at the registry, on the platform manifests of a few
# repositories and tags; each must list exactly one attestation referrer. Sets VERIFY_OK/VERIFY_BAD.
FAILURES=0
verify_sample() {
  local n=$1 m=$2 ri ti repo idx d cnt
  VERIFY_OK=0 VERIFY_BAD=0
  for ri in $(printf '%s\n' 1 $(((n + 1) / 2)) "$n" | sort -un); do
    for ti in $(printf '%s\n' 1 "$m" | sort -un); do
      repo=$(printf '%s/r%05d' "$PREFIX" "$ri")
      if ! idx=$(oras manifest fetch --plain-http "$REG_ADDR/$repo:t$ti"); then
        log "VERIFY FAILED: cannot fetch $repo:t$ti"; VERIFY_BAD=$((VERIFY_BAD + 1)); continue
      fi
      for d in $(jq -r '.manifests[] | select((.annotations["vnd.docker.reference.type"] // "") == "") | .digest' <<<"$idx"); do
        cnt=$(oras discover --plain-http --format json --artifact-type "$ART_TYPE" "$REG_ADDR/$repo@$d" |
          jq '[.manifests[]?] | length' || echo error)
        if [ "$cnt" = 1 ]; then
          VERIFY_OK=$((VERIFY_OK + 1))
        else
          log "VERIFY FAILED: $repo:t$ti $d has $cnt attestation referrers (want exactly 1)"
          VERIFY_BAD=$((VERIFY_BAD + 1))
        fi
      done
    done
  done
}

# referrify's summary, for the report only (the request counts come from the proxy): the last
# {"type":"summary"} line of JSON lines output, or .summary of a single JSON document.
json_summary() {
  jq -cs 'map(if type == "object" and .type == "summary" then . elif type == "object" and has("summary") then .summary else empty end) | last' \
    "$1" 2>/dev/null || echo null
}

# record FIELDS-AS-jq-ARGS...: append one run to runs.jsonl (every field a --arg string; stats,
# seed and summary hold JSON text or "")
record() {
  jq -nc "$@" '$ARGS.named
    | .delay_ms |= tonumber | .repos |= tonumber | .tags |= tonumber | .platforms |= tonumber
    | .items |= tonumber | .rc |= (if . == "" then null else tonumber end)
    | .wall_s |= (if . == "" then null else tonumber end) | .rss_kb |= (if . == "" then null else tonumber end)
    | .stats |= (if . == "" then null else fromjson end) | .seed |= (if . == "" then null else fromjson end)
    | .summary |= (if . == "" then null else fromjson end)
    | .requests = (.stats.total // null)' >>"$RAW"
}

# one contender on one fresh registry: seed, migrate, verify, check
run_contender() { # SECTION KIND DELAY SHAPE CONTENDER
  local section=$1 kind=$2 delay=$3 shape=$4 who=$5 n m p items
  IFS=x read -r n m p <<<"$shape"
  items=$((n * m * p))
  local common=(--arg section "$section" --arg registry "$kind" --arg delay_ms "$delay" --arg shape "$shape"
    --arg repos "$n" --arg tags "$m" --arg platforms "$p" --arg items "$items" --arg contender "$who")
  if [ "$who" = referrify ] && ! $HAVE_REFERRIFY; then
    local op
    for op in migrate check; do
      [ "$section" = rss ] && [ "$op" = check ] && continue
      record "${common[@]}" --arg op "$op" --arg status "not available" --arg rc "" --arg wall_s "" \
        --arg rss_kb "" --arg stats "" --arg seed "" --arg summary "" --arg verify_ok 0 --arg verify_bad 0
    done
    if [ "$section" = rss ]; then # still time the seeding of the large shapes
      start_registry "$kind"; start_proxy "$delay"; seed "$n" "$m" "$p"; stop_servers
      record "${common[@]}" --arg op seed --arg status ok --arg rc "" --arg wall_s "" --arg rss_kb "" \
        --arg stats "" --arg seed "$SEED_JSON" --arg summary "" --arg verify_ok 0 --arg verify_bad 0
    fi
    return
  fi
  log "$section: $kind, delay $delay ms, $shape, $who"
  start_registry "$kind"
  start_proxy "$delay"
  seed "$n" "$m" "$p"
  local seed_json=$SEED_JSON pfx status summary st

  # migrate
  reset_stats
  pfx=$RUN_DIR/$who-migrate
  if [ "$who" = referrify ]; then
    measure "$pfx" "$REFERRIFY" migrate "$PROXY_ADDR" --repo "$PREFIX/" -j "$JOBS" --format json -q --state "$RUN_DIR/state.json"
    summary=$(json_summary "$pfx.out")
  else
    measure "$pfx" "$ROOT/scripts/bench-oras-migrate.sh" "$PROXY_ADDR" "$PREFIX"
    summary=$(tail -n1 "$pfx.out" | jq -Rc . 2>/dev/null || true)
  fi
  st=$(stats)
  jq -e . >/dev/null 2>&1 <<<"$summary" || summary=null
  status=ok
  if [ "$RC" -ne 0 ]; then
    status=failed; FAILURES=$((FAILURES + 1))
    log "FAILED: $who migrate exited $RC; stderr:"; tail -n 20 "$pfx.err" >&2 || true
  fi
  verify_sample "$n" "$m"
  if [ "$VERIFY_BAD" -gt 0 ] || [ "$VERIFY_OK" -eq 0 ]; then
    [ "$status" = ok ] && status="verify failed"
    FAILURES=$((FAILURES + 1))
    log "VERIFY FAILED after $who migrate on $kind: $VERIFY_BAD of $((VERIFY_OK + VERIFY_BAD)) sampled platform manifests"
  fi
  record "${common[@]}" --arg op migrate --arg status "$status" --arg rc "$RC" --arg wall_s "$WALL" \
    --arg rss_kb "$RSS_KB" --arg stats "$st" --arg seed "$seed_json" --arg summary "$summary" \
    --arg verify_ok "$VERIFY_OK" --arg verify_bad "$VERIFY_BAD"
  log "  migrate: $WALL s, $(jq .total <<<"$st") requests, exit $RC, verified $VERIFY_OK/$((VERIFY_OK + VERIFY_BAD))"

  # check (not in the RSS section)
  if [ "$section" = compare ]; then
    reset_stats
    pfx=$RUN_DIR/$who-check
    if [ "$who" = referrify ]; then
      measure "$pfx" "$REFERRIFY" check "$PROXY_ADDR" --repo "$PREFIX/" -j "$JOBS" --format json
      summary=$(json_summary "$pfx.out")
    else
      measure "$pfx" "$ROOT/scripts/bench-oras-check.sh" "$PROXY_ADDR" "$PREFIX"
      summary=$(tail -n1 "$pfx.out" | jq -Rc . 2>/dev/null || true)
    fi
    st=$(stats)
    jq -e . >/dev/null 2>&1 <<<"$summary" || summary=null
    status=ok
    if [ "$RC" -ne 0 ]; then
      status=failed; FAILURES=$((FAILURES + 1))
      log "FAILED: $who check exited $RC (0 = every platform covered); stderr:"; tail -n 20 "$pfx.err" >&2 || true
    fi
    record "${common[@]}" --arg op check --arg status "$status" --arg rc "$RC" --arg wall_s "$WALL" \
      --arg rss_kb "$RSS_KB" --arg stats "$st" --arg seed "" --arg summary "$summary" \
      --arg verify_ok 0 --arg verify_bad 0
    log "  check: $WALL s, $(jq .total <<<"$st") requests, exit $RC"
  fi
  stop_servers
}

BENCH_START=$(date +%s)
for kind in "${REG_LIST[@]}"; do
  for delay in "${DELAY_LIST[@]}"; do
    for shape in "${SHAPES[@]}"; do
      for who in referrify oras; do
        run_contender compare "$kind" "$delay" "$shape" "$who"
      done
    done
  done
done
for kind in "${REG_LIST[@]}"; do
  for shape in "${RSS_SHAPES[@]}"; do
    run_contender rss "$kind" 0 "$shape" referrify
  done
done

# --- report ---------------------------------------------------------------------------------------
META=$(jq -nc --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg cores "$(nproc)" \
  --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --arg dirty "$(git status --porcelain 2>/dev/null | grep -q . && echo yes || echo no)" \
  --arg oras "$(oras version 2>/dev/null | awk '/^Version/ { print $2 }')" \
  --arg dist "$(docker-registry --version 2>/dev/null | awk '{ print $NF }')" \
  --arg rss_tool "$RSS_TOOL" --arg referrify "$($HAVE_REFERRIFY && echo available || echo "not available")" \
  --arg jobs "$JOBS" --arg data_dir "$BENCH_TMPDIR" --arg seconds "$(($(date +%s) - BENCH_START))" --arg quick "$QUICK" \
  '$ARGS.named')
python3 - "$RAW" "$META" "$OUT/results.md" "$OUT/results.json" <<'PY'
import json, re, sys

raw, meta, md_path, json_path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = [json.loads(l) for l in open(raw) if l.strip()]

LIMIT_MIGRATE = {"distribution": 7.75, "ferro": 5.0}   # 6.25 / 4.0 (README floors: every subject listed, tags read again before writing) + 1 per subject (verification)
# 3.5 / 3.25 (README floors): per repository the tags list, one read per index, one listing per
# index and per platform manifest (supply chain: docs/supply-chain.md), one read per distinct
# attestation manifest (its predicate types), and without the API the probe
LIMIT_CHECK = {"distribution": 3.5, "ferro": 3.25}
REG_NAME = {"distribution": "distribution 2.8.2 (no Referrers API)", "ferro": "ferro-oci-server (Referrers API)"}
JOBS = int(meta["jobs"])

def ok(r):
    return r["status"] in ("ok", "verify failed") and r.get("wall_s") is not None

def f(x, nd=2):
    return "–" if x is None else f"{x:,.{nd}f}"

def per_item_req(r):
    return r["requests"] / r["items"] if ok(r) and r.get("requests") is not None else None

def ms_per_item(r):
    return 1000.0 * r["wall_s"] / r["items"] if ok(r) else None

def rate(r):
    return r["items"] / r["wall_s"] if ok(r) and r["wall_s"] > 0 else None

def mib(r):
    return r["rss_kb"] / 1024.0 if ok(r) and r.get("rss_kb") else None

def outcome(r):
    """What the contender itself reported (informational; not used for any number)."""
    s = r.get("summary")
    if isinstance(s, dict):
        if r["op"] == "migrate":
            return f"converted {s.get('converted', '?')}, already {s.get('alreadyDone', '?')}, failed {s.get('failed', '?')}"
        return f"covered {s.get('covered', '?')}/{s.get('platforms', '?')}"
    if isinstance(s, str):
        m = re.search(r"(\d+) attestations converted, (\d+) failed", s)
        if m:
            return f"converted {m[1]}, failed {m[2]}"
        m = re.search(r"(\d+) platforms: (\d+) covered", s)
        if m:
            return f"covered {m[2]}/{m[1]}"
    return "–"

def find(section, reg, delay, shape, who, op):
    for r in runs:
        if (r["section"], r["registry"], r["delay_ms"], r["shape"], r["contender"], r["op"]) == (section, reg, delay, shape, who, op):
            return r
    return None

out = []
w = out.append
w("# referrify benchmark")
w("")
w(f"{meta['date']}, commit {meta['commit']}{' (dirty tree)' if meta['dirty'] == 'yes' else ''}, {meta['cores']} cores, "
  f"oras {meta['oras']}, docker-registry {meta['dist']}, ferro-oci-server 1.0.0 (in memory), referrify {meta['referrify']}; "
  f"registry data under {meta['data_dir']}; total {meta['seconds']} s{' (--quick)' if meta['quick'] == 'true' else ''}.")
w("")
w("Every registry is fresh per contender, seeded with the same bytes, and sits behind `latency_proxy` "
  "(request counts are the proxy's; the delay is added to every request). referrify runs with "
  f"`-j {JOBS}`; the oras scripts are sequential, one `oras` process per step. "
  f"Peak RSS: {meta['rss_tool']}, the largest single process (for the oras scripts: the largest of the "
  "many `oras`/`jq`/`bash` processes, not their sum).")

cmp_runs = [r for r in runs if r["section"] == "compare"]
if cmp_runs:
    w("")
    w("## referrify vs. oras CLI script")
    w("")
    w("| registry | delay | shape | op | contender | status | outcome | wall s | ms/item | items/s | requests | req/item | peak RSS MiB |")
    w("|---|---:|---|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in cmp_runs:
        unit = "att" if r["op"] == "migrate" else "platform"
        w(f"| {r['registry']} | {r['delay_ms']} ms | {r['shape']} | {r['op']} ({r['items']} {unit}s) | {r['contender']} | {r['status']} | {outcome(r)} "
          f"| {f(r['wall_s'] if ok(r) else None)} | {f(ms_per_item(r))} | {f(rate(r), 1)} | {r['requests'] if ok(r) and r.get('requests') is not None else '–'} "
          f"| {f(per_item_req(r), 3)} | {f(mib(r), 1)} |")
    w("")
    w("Ratios referrify / oras (lower is better for referrify):")
    w("")
    w("| registry | delay | shape | op | time | requests | peak RSS |")
    w("|---|---:|---|---|---:|---:|---:|")
    seen = []
    for r in cmp_runs:
        k = (r["registry"], r["delay_ms"], r["shape"], r["op"])
        if k in seen:
            continue
        seen.append(k)
        a, b = find("compare", *k[:3], "referrify", k[3]), find("compare", *k[:3], "oras", k[3])
        def ratio(fn):
            x, y = (fn(a) if a else None), (fn(b) if b else None)
            return f"{x / y:.3f}" if x is not None and y else "not available"
        w(f"| {k[0]} | {k[1]} ms | {k[2]} | {k[3]} | {ratio(ms_per_item)} | {ratio(per_item_req)} | {ratio(mib)} |")

    w("")
    w("Requests by kind, as the proxy counted them (the first delay of each registry; the counts do not depend on the delay):")
    w("")
    w("| registry | op | contender | requests |")
    w("|---|---|---|---|")
    for reg in dict.fromkeys(r["registry"] for r in cmp_runs):
        first = min(r["delay_ms"] for r in cmp_runs if r["registry"] == reg)
        for r in cmp_runs:
            if r["registry"] == reg and r["delay_ms"] == first and r.get("stats"):
                d = r["stats"].get("detail", {})
                w(f"| {reg} | {r['op']} {r['shape']} | {r['contender']} | "
                  + ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])) + " |")

rss_runs = [r for r in runs if r["section"] == "rss"]
targets = []

def target(name, reg, where, measured, limit, shown_measured, shown_limit):
    if measured is None or limit is None:
        res = "n/a"
    else:
        res = "PASS" if measured <= limit + 1e-9 else "FAIL"
    targets.append({"target": name, "registry": reg, "where": where, "measured": shown_measured,
                    "limit": shown_limit, "result": res})

for r in runs:
    if r["contender"] != "referrify" or r["op"] not in ("migrate", "check"):
        continue
    where = f"{r['section']} {r['shape']}, {r['delay_ms']} ms"
    q = per_item_req(r)
    # Limits are per-repository floors (tags, indexes, listings, probe); the run-wide catalog
    # read (one request per 1,000 repositories) comes on top and is shown, for both operations.
    cat = ((r.get("stats") or {}).get("by_kind") or {}).get("catalog", 0)
    if r["op"] == "migrate":
        lim = LIMIT_MIGRATE[r["registry"]]
        eff = lim + cat / r["items"] if r.get("items") else lim
        target("requests per converted attestation (verification on)", r["registry"], where, q, eff, f(q, 3),
               f"≤ {lim} + {cat} catalog / {r['items']}")
    else:
        lim = LIMIT_CHECK[r["registry"]]
        eff = lim + cat / r["items"] if r.get("items") else lim
        target("requests per checked platform", r["registry"], where, q, eff, f(q, 3),
               f"≤ {lim} + {cat} catalog / {r['items']}")
    if r["delay_ms"] == 30:
        bound = 1.2 * (r["requests"] * 0.030 / JOBS) if ok(r) and r.get("requests") is not None else None
        target(f"wall ≤ 1.2 × requests × 30 ms / {JOBS} ({r['op']})", r["registry"], where,
               r["wall_s"] if ok(r) else None, bound, f(r["wall_s"] if ok(r) else None, 3) + " s",
               ("≤ " + f(bound, 3) + " s") if bound is not None else "–")
for r in cmp_runs:
    if r["contender"] != "oras" or r["op"] != "migrate":
        continue
    a = find("compare", r["registry"], r["delay_ms"], r["shape"], "referrify", "migrate")
    x, y = (ms_per_item(a) if a else None), ms_per_item(r)
    target("time per attestation ≤ 1/10 of oras's", r["registry"], f"compare {r['shape']}, {r['delay_ms']} ms",
           x, (y / 10) if y else None, (f(x) + " ms") if x is not None else "not available",
           ("≤ " + f(y / 10 if y else None) + " ms"))
for reg in dict.fromkeys(r["registry"] for r in rss_runs if r["op"] == "migrate"):
    rr = sorted((r for r in rss_runs if r["registry"] == reg and r["op"] == "migrate"), key=lambda r: r["items"])
    if len(rr) >= 2:
        small, big = rr[0], rr[-1]
        s, b = mib(small), mib(big)
        target(f"RSS({big['shape']}) within 10% of RSS({small['shape']})", reg, "rss, 0 ms",
               b, s * 1.10 if s else None, (f(b, 1) + " MiB") if b else "not available",
               ("≤ " + f(s * 1.10, 1) + " MiB") if s else "–")

if rss_runs:
    w("")
    w("## Peak RSS of referrify migrate (delay 0)")
    w("")
    w("| registry | shape | status | wall s | att/s | requests | req/att | peak RSS MiB | RSS / smallest shape |")
    w("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for reg in dict.fromkeys(r["registry"] for r in rss_runs):
        rr = sorted((r for r in rss_runs if r["registry"] == reg and r["op"] == "migrate"), key=lambda r: r["items"])
        base = mib(rr[0]) if rr else None
        for r in rr:
            m = mib(r)
            w(f"| {reg} | {r['shape']} | {r['status']} | {f(r['wall_s'] if ok(r) else None)} | {f(rate(r), 1)} "
              f"| {r['requests'] if ok(r) else '–'} | {f(per_item_req(r), 3)} | {f(m, 1)} | {f(m / base, 3) if m and base else '–'} |")

if targets:
    w("")
    w("## Targets")
    w("")
    w("| target | registry | run | measured | limit | result |")
    w("|---|---|---|---:|---:|---|")
    for t in targets:
        w(f"| {t['target']} | {t['registry']} | {t['where']} | {t['measured']} | {t['limit']} | {t['result']} |")

seeds = [r for r in runs if r.get("seed")]
if seeds:
    w("")
    w("## Seeding (straight into the registry, not through the proxy)")
    w("")
    w("| registry | shape | for | images | attestations | requests | seconds | req/s |")
    w("|---|---|---|---:|---:|---:|---:|---:|")
    done = set()
    for r in seeds:
        s = r["seed"]
        k = (r["registry"], r["shape"], r["section"], r["delay_ms"], r["contender"])
        if k in done:
            continue
        done.add(k)
        who = f"{r['contender']}, {r['section']}" + (f", {r['delay_ms']} ms" if r["section"] == "compare" else "")
        w(f"| {r['registry']} | {r['shape']} | {who} | {s['images']} | {s['attestations']} | {s['requests']} | {s['seconds']:.2f} "
          f"| {s['requests'] / max(s['seconds'], 1e-9):,.0f} |")

failures = [r for r in runs if r["status"] in ("failed", "verify failed")]
w("")
if failures:
    w("**Failures:** " + "; ".join(f"{r['contender']} {r['op']} on {r['registry']} {r['shape']} {r['delay_ms']} ms: {r['status']} (exit {r['rc']})" for r in failures))
else:
    w("No contender failed; every sampled platform manifest had exactly one attestation referrer after each migrate.")
text = "\n".join(out) + "\n"
open(md_path, "w").write(text)
json.dump({"meta": meta, "runs": runs, "targets": targets}, open(json_path, "w"), indent=2)
sys.stdout.write(text)
missed = sum(1 for t in targets if t["result"] == "FAIL")
open(md_path + ".missed", "w").write(str(missed))
PY
MISSED=$(cat "$OUT/results.md.missed"); rm -f "$OUT/results.md.missed"
log "report: $OUT/results.md, raw: $OUT/results.json ($OUT/runs.jsonl)"
if [ "$FAILURES" -gt 0 ]; then
  log "$FAILURES failure(s): see the report"; exit 1
fi
if $STRICT && [ "$MISSED" -gt 0 ]; then
  log "$MISSED target(s) missed (--strict)"; exit 1
fi

# shellcheck shell=bash disable=SC2034
# What scripts/bench.sh and scripts/bench-scale.sh share (sourced, not run): the scratch dir T,
# the servers' PIDS and their cleanup, measure, the registries, the proxy and seeding. Expects
# PREFIX, FERRO, PROXY_BIN, SEED and log() from the caller.

# Registry data (distribution's filesystem storage) goes to tmpfs when there is one: distribution
# 2.8.2 is about twice as fast there, which keeps seeding 2,000 repositories to a few minutes.
if [ -z "${BENCH_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then BENCH_TMPDIR=/dev/shm; fi
BENCH_TMPDIR=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
T=$(mktemp -d "$BENCH_TMPDIR/referrify-bench.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- measuring -----------------------------------------------------------------------------------
if [ -x /usr/bin/time ] && /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then
  RSS_TOOL="GNU time %M"
else
  RSS_TOOL="python3 getrusage(RUSAGE_CHILDREN)"
  cat >"$T/measure.py" <<'EOF'
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc if rc >= 0 else 128 - rc)
EOF
fi

# measure PREFIX CMD...: stdout/stderr to PREFIX.out/.err; sets WALL (s), RSS_KB, RC
measure() {
  local pfx=$1; shift
  local start end
  start=$(date +%s%N)
  set +e
  if [ "$RSS_TOOL" = "GNU time %M" ]; then
    /usr/bin/time -f %M -o "$pfx.rss" "$@" >"$pfx.out" 2>"$pfx.err"
  else
    python3 "$T/measure.py" "$pfx.rss" "$@" >"$pfx.out" 2>"$pfx.err"
  fi
  RC=$?
  set -e
  end=$(date +%s%N)
  WALL=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  RSS_KB=$(grep -E '^[0-9]+$' "$pfx.rss" 2>/dev/null | tail -n1 || true)
  RSS_KB=${RSS_KB:-0}
}

# --- servers --------------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_up() { # ADDR PID
  local i
  for i in $(seq 1 200); do
    curl -sf -o /dev/null "http://$1/v2/" && return 0
    kill -0 "$2" 2>/dev/null || { log "server for $1 exited"; return 1; }
    sleep 0.05
  done
  log "$1 did not come up"; return 1
}
stop_pid() { # kill one server this script started, and forget its PID (so cleanup never hits a reused one)
  local p keep=()
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

RUN_NO=0
start_registry() { # KIND -> REG_ADDR REG_PID
  local kind=$1 port dir
  RUN_NO=$((RUN_NO + 1))
  dir=$T/run$RUN_NO
  mkdir -p "$dir/data"
  port=$(free_port)
  REG_ADDR=127.0.0.1:$port
  if [ "$kind" = distribution ]; then
    cat >"$dir/dist.yml" <<EOC
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $dir/data}
  cache: {blobdescriptor: inmemory}
  delete: {enabled: true}
http: {addr: $REG_ADDR}
EOC
    docker-registry serve "$dir/dist.yml" >"$dir/registry.log" 2>&1 &
  else
    RUST_LOG=error NO_COLOR=1 "$FERRO" "$REG_ADDR" >"$dir/registry.log" 2>&1 &
  fi
  REG_PID=$!
  PIDS+=("$REG_PID")
  RUN_DIR=$dir
  wait_up "$REG_ADDR" "$REG_PID" || { cat "$dir/registry.log" >&2; exit 1; }
}
start_proxy() { # DELAY -> PROXY_ADDR PROXY_PID
  local port
  port=$(free_port)
  PROXY_ADDR=127.0.0.1:$port
  "$PROXY_BIN" --listen "$PROXY_ADDR" --backend "$REG_ADDR" --delay-ms "$1" >"$RUN_DIR/proxy.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  wait_up "$PROXY_ADDR" "$PROXY_PID" || { cat "$RUN_DIR/proxy.log" >&2; exit 1; }
}
stop_servers() { stop_pid "$PROXY_PID"; stop_pid "$REG_PID"; }
stats() { curl -sf "http://$PROXY_ADDR/__stats"; }
reset_stats() { curl -sf -X POST -o /dev/null "http://$PROXY_ADDR/__reset"; }

SEED_JSON='{}'
seed() { # N M P: straight into the registry (not through the proxy)
  log "  seeding $1x$2x$3 into $REG_ADDR"
  if ! SEED_JSON=$("$SEED" --registry "$REG_ADDR" --repos "$1" --tags "$2" --platforms "$3" --prefix "$PREFIX" -j "${BENCH_SEED_JOBS:-16}" --json); then
    log "seeding failed"; cat "$RUN_DIR/registry.log" >&2; exit 1
  fi
  log "  seeded: $(jq -r '"\(.images) images, \(.requests) requests in \(.seconds) s"' <<<"$SEED_JSON")"
}


#!/usr/bin/env bash
# The benchmark against a bare baseline (docs/performance.md, "Against the bare baseline"):
# one command, `bench/perf.sh`. Builds the release binaries; installs its tools (taskset, wrk,
# Prism from bench/prism's lockfile, matplotlib in a venv from bench/requirements.txt);
# generates the stores; pins every server to one core and the load generator to the other;
# measures install, upgrade, get, list (20, $expand) and the token endpoint against the bare
# axum baseline (crates/baseline), teamsapps and, for upgrade and get, Prism; then p99 at half
# of teamsapps' maximum rate, --durability full, and the 10-million-installation store
# (throughput against 10 thousand, bytes per installation, start-up, resident memory).
# Writes the table and docs/performance.png. Not a test.
#
# Knobs (environment): BENCH_SECONDS (per run, 5), BENCH_CONNECTIONS (32), BENCH_USERS (users
# with 20 installations each in the main store, 10000), BENCH_INSTALL_USERS (users without any,
# one per install request, 400000), BENCH_SCALE=0 skips the 10-million part, BENCH_SCALE_USERS
# (500000: x20 installations), BENCH_SERVER_CPU / BENCH_LOAD_CPU (0 / 1), BENCH_OPENAPI (the
# description Prism mocks, bench/prism/openapi-teams-apps-v1.0.yaml), BENCH_PROFILE=1
# records the server with `perf` during each maximum-rate run (target/bench-profile-OP.txt;
# the figures of such a run are lower), BENCH_NO_DOC=1 leaves docs/ alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/target-dir.sh
target=$(target_dir) # CARGO_TARGET_DIR or cargo metadata, never a fixed ./target

SECS=${BENCH_SECONDS:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
USERS=${BENCH_USERS:-10000}
INSTALL_USERS=${BENCH_INSTALL_USERS:-400000}
SCALE=${BENCH_SCALE:-1}
SCALE_USERS=${BENCH_SCALE_USERS:-500000}
SMALL_USERS=500 # x20 = the 10 thousand installations the 10-million figures compare with
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
OPENAPI=${BENCH_OPENAPI:-bench/prism/openapi-teams-apps-v1.0.yaml}
PROFILE=${BENCH_PROFILE:-0}

say() { echo "== $*" >&2; }
need_apt_pkg() { # need_apt_pkg PACKAGE
  say "installing $1 (apt)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq "$1" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$1" >/dev/null; }
}
need_apt() { # need_apt COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || need_apt_pkg "$2"
}

# --- tools -------------------------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || { echo "cargo is needed: https://rustup.rs" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "python3 is needed" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "npm (Node 18+) is needed for Prism" >&2; exit 1; }
need_apt taskset util-linux
need_apt wrk wrk
if [ "$PROFILE" = 1 ]; then need_apt perf linux-perf; fi
if [ "$(nproc)" -lt 2 ]; then
  echo "the benchmark pins the server and the load generator to different cores: it needs 2" >&2
  exit 1
fi
VENV=$target/bench-venv
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_apt_pkg python3-venv
if ! "$VENV/bin/python" -c 'import matplotlib' >/dev/null 2>&1 \
  || ! cmp -s bench/requirements.txt "$VENV/requirements.txt"; then
  say "installing matplotlib into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/requirements.txt
  cp bench/requirements.txt "$VENV/requirements.txt"
fi
if [ ! -x bench/prism/node_modules/.bin/prism ]; then
  say "installing Prism (npm ci in bench/prism)"
  (cd bench/prism && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

say "building release binaries"
cargo build --release --locked -p teamsapps -p teamsapps-bench -p teamsapps-baseline
BIN=$target/release/teamsapps
BENCH=$target/release/teamsapps-bench
BASE=$target/release/teamsapps-baseline
SERVE_HELP=$("$BIN" serve --help)
DURABILITY_FULL=0
if grep -q -- '--durability' <<<"$SERVE_HELP"; then DURABILITY_FULL=1; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/teamsapps-perf.XXXXXX")
RESULTS=$work/results.jsonl
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
record() { echo "$1" >>"$RESULTS"; }

# start NAME PATTERN COMMAND...: starts a server pinned to the server core; sets PID, URL, MS.
start() {
  local name=$1 pattern=$2; shift 2
  local out
  out=$("$BENCH" start "$work/$name.log" "$pattern" -- taskset -c "$SERVER_CPU" "$@")
  PID=$(json pid <<<"$out"); URL=$(json url <<<"$out"); MS=$(json ms <<<"$out")
  pids+=("$PID")
}
stop() {
  kill "$PID" 2>/dev/null || true
  # Until it is gone (or a zombie nobody reaps: its store is closed by then), at most 20 s.
  for _ in $(seq 1 400); do
    kill -0 "$PID" 2>/dev/null || return 0
    grep -q '^State:.*Z' "/proc/$PID/status" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "process $PID did not stop" >&2
  exit 1
}

# load LABEL OP ARGS...: one load-generator run pinned to the load core; appends its result.
load() {
  local label=$1 op=$2; shift 2
  local r
  r=$(taskset -c "$LOAD_CPU" "$BENCH" load --label "$label" --op "$op" --url "$URL" --pid "$PID" \
    --connections "$CONNECTIONS" --seconds "$SECS" "$@")
  record "$r"
  LAST_RPS=$(json rps <<<"$r")
  python3 - "$r" <<'PY' >&2
import json, sys
r = json.loads(sys.argv[1])
cpu = f"{r['server_cpu']:.0%}" if r["server_cpu"] is not None else "?"
if (r.get("other_cpu") or 0) >= 0.1:
    cpu += f", other work {r['other_cpu']:.1f} cores"
err = f", {r['errors']} unexpected answers (e.g. {r['first_error']})" if r["errors"] else ""
print(f"   {r['label']:<22} {r['op']:<8} {r['mode']:<4} {r['rps']:>9.0f} req/s  "
      f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  server CPU {cpu}{err}")
PY
}

# fresh NAME: a pristine copy of store NAME (every write run starts from the same data).
fresh() { rm -rf "$work/run"; cp -r "$work/$1" "$work/run"; }
serve() { # serve LABEL STORE-DIR [ARGS...]
  local label=$1 dir=$2; shift 2
  # bad-request: an upgrade that changed nothing would answer 400 and count as an error, so a
  # clean run proves that every upgrade moved an installation (as a repeated install is 409).
  start "$label" 'listening on' env TEAMSAPPS_LOG=warn "$BIN" serve --listen 127.0.0.1:0 \
    --data "$dir" --admin-key bench --upgrade-when-current bad-request "$@"
}

# --- data --------------------------------------------------------------------------------
# Other work on the machine takes cores from the pinned processes: say so, loudly and in the
# doc. Measured as the machine's busy share over 2 s before the runs (nothing of ours runs).
BUSY=$(python3 - <<'PY'
import time
def sample():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f), f[3] + f[4]  # total, idle + iowait
t0, i0 = sample(); time.sleep(2); t1, i1 = sample()
print(f"{1 - (i1 - i0) / max(t1 - t0, 1):.0%}")
PY
)
if [ "${BUSY%\%}" -lt 5 ]; then
  QUIET="machine ${BUSY} busy before the runs"
else
  QUIET="machine ${BUSY} busy before the runs: OTHER WORK WAS RUNNING, the figures are noisy"
  say "WARNING: $QUIET"
fi
say "generating the stores"
m=$("$BENCH" populate "$work/main" "$USERS" "$INSTALL_USERS")
record "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["kind"]="store"; d["store"]="main"; print(json.dumps(d))' "$m")"
s=$("$BENCH" populate "$work/small" "$SMALL_USERS" 0)
record "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["kind"]="store"; d["store"]="small"; print(json.dumps(d))' "$s")"
# A first start creates the token signing key, so that every copy starts with one.
for st in main small; do serve "first-$st" "$work/$st"; stop; done
COMMON=(--users "$USERS" --install-users "$INSTALL_USERS")

# --- the bare baseline -------------------------------------------------------------------
say "baseline (bare axum, $CONNECTIONS connections, ${SECS}s per operation)"
start baseline 'listening on' "$BASE"
for op in install upgrade get list token; do
  load baseline "$op" "${COMMON[@]}" --cycle --token bench
done
# A second generator on the same baseline: if wrk gets much more out of it than the
# load generator does, the generator is the limit (recorded, shown in the notes).
wrk_out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${SECS}s" -H 'Authorization: Bearer bench' \
  "$URL/v1.0/users/u/teamwork/installedApps/i" | sed -n 's/^Requests\/sec: *//p')
record "{\"kind\": \"wrk-baseline\", \"rps\": $wrk_out}"
say "   wrk on the baseline (get path): $wrk_out req/s"
stop

# --- teamsapps ---------------------------------------------------------------------------
say "teamsapps (embedded store: $USERS users x 20 installations, $INSTALL_USERS more users)"
for op in install upgrade get list token; do
  fresh main
  serve teamsapps "$work/run"
  if [ "$PROFILE" = 1 ]; then
    perf record -q -F 999 -g -p "$PID" -o "$work/perf-$op.data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  load teamsapps "$op" "${COMMON[@]}"
  max=$LAST_RPS
  if [ "$PROFILE" = 1 ]; then
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    perf report -i "$work/perf-$op.data" --no-children --sort symbol --stdio \
      >"$work/perf-$op.txt" 2>/dev/null || true
    grep -v '^$' "$work/perf-$op.txt" | head -400 >"$target/bench-profile-$op.txt" || true
    say "   profile of the server: $target/bench-profile-$op.txt"
  fi
  if [ "$op" = install ] || [ "$op" = upgrade ]; then
    # Writes start again from pristine data: every request still a real change.
    stop; fresh main; serve teamsapps "$work/run"
  fi
  load teamsapps "$op" "${COMMON[@]}" --rate "$(python3 -c "print(round($max / 2))")"
  record "{\"kind\": \"memory\", \"store\": \"main\", \"op\": \"$op\", \"hwm_mib\": $("$BENCH" memory "$PID" | json hwm_mib)}"
  stop
done
if [ "$DURABILITY_FULL" = 1 ]; then
  say "teamsapps --durability full"
  for op in install upgrade; do
    fresh main
    serve teamsapps-full "$work/run" --durability full
    load "teamsapps-full" "$op" "${COMMON[@]}"
    stop
  done
else
  say "this build has no --durability flag: no fsync-per-group figures"
  record '{"kind": "no-durability-flag"}'
fi

# --- Prism -------------------------------------------------------------------------------
if [ -f "$OPENAPI" ]; then
  say "Prism 5.14.2 mocking the same paths from $OPENAPI"
  PRISM_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # -v warn: Prism logs every request at the default level; the peer gets its quiet mode.
  start prism "tcp:127.0.0.1:$PRISM_PORT" bench/prism/node_modules/.bin/prism mock -v warn \
    -h 127.0.0.1 -p "$PRISM_PORT" "$OPENAPI"
  for op in upgrade get; do
    # Prism serves the description's paths without the /v1.0 of its server URL.
    load prism "$op" "${COMMON[@]}" --cycle --token bench --prefix '' --any-2xx
  done
  stop
else
  say "NO PRISM: the OpenAPI description $OPENAPI is missing (set BENCH_OPENAPI)"
  record '{"kind": "no-prism"}'
fi

# --- 10 million installations ------------------------------------------------------------
if [ "$SCALE" = 1 ]; then
  say "teamsapps at 10 thousand installations"
  fresh small
  serve teamsapps-10k "$work/run"
  load teamsapps-10k upgrade --users "$SMALL_USERS" --limit 10000
  load teamsapps-10k get --users "$SMALL_USERS"
  stop
  say "generating $((SCALE_USERS * 20)) installations"
  b=$("$BENCH" populate "$work/big" "$SCALE_USERS" 0)
  record "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["kind"]="store"; d["store"]="big"; print(json.dumps(d))' "$b")"
  say "   $b"
  serve first-big "$work/big"; stop
  serve teamsapps-10m "$work/big"
  record "{\"kind\": \"startup\", \"store\": \"big\", \"ms\": $MS}"
  say "   start-up to the listening line: $MS ms"
  load teamsapps-10m upgrade --users "$SCALE_USERS" --limit 10000
  load teamsapps-10m get --users "$SCALE_USERS"
  record "{\"kind\": \"memory\", \"store\": \"big\", \"hwm_mib\": $("$BENCH" memory "$PID" | json hwm_mib)}"
  stop
fi

machine="$(nproc) cores of $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), \
$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(date -u +%Y-%m-%d), $QUIET"
cp "$RESULTS" "$target/bench-perf-results.jsonl"
if [ "${BENCH_NO_DOC:-0}" = 1 ]; then
  say "results in $target/bench-perf-results.jsonl (BENCH_NO_DOC=1: docs/ untouched)"
  exit 0
fi
"$VENV/bin/python" bench/report.py "$RESULTS" docs/performance.md docs/performance.png "$machine" \
  "BENCH_SECONDS=$SECS, BENCH_CONNECTIONS=$CONNECTIONS, BENCH_USERS=$USERS, BENCH_INSTALL_USERS=$INSTALL_USERS, BENCH_SCALE=$SCALE"
say "docs/performance.md and docs/performance.png written (raw results: $target/bench-perf-results.jsonl)"

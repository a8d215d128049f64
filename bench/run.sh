#!/usr/bin/env bash
# Upgrade throughput on SQLite, on PostgreSQL with one node and with two nodes (load split
# across both), measured in one run; writes the table into docs/performance.md
# ("PostgreSQL vs SQLite"). Not a test. Needs PostgreSQL at 127.0.0.1:5432 (user postgres,
# trust auth) or TEAMSAPPS_BENCH_PG=postgres://USER@HOST:PORT (a server where it may create and
# drop databases). Installs the PostgreSQL client if it is missing (apt), builds release.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/target-dir.sh
target=$(target_dir) # CARGO_TARGET_DIR or cargo metadata, never a fixed ./target

CONNECTIONS=${BENCH_CONNECTIONS:-32}
SECONDS_MAX=${BENCH_SECONDS:-20}
USERS=${BENCH_USERS:-2500}
APPS=${BENCH_APPS:-8}
PG=${TEAMSAPPS_BENCH_PG:-postgres://postgres@127.0.0.1:5432}

if ! command -v psql >/dev/null 2>&1; then
  echo "installing the PostgreSQL client (psql)"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq postgresql-client >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo is needed: https://rustup.rs" >&2; exit 1; }

echo "== building release binaries"
cargo build --release --locked -p teamsapps -p teamsapps-bench
BIN=$target/release/teamsapps
BENCH=$target/release/teamsapps-bench

work=$(mktemp -d)
pids=()
dbs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for d in "${dbs[@]}"; do psql "$PG/postgres" -qX -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$BENCH" fixture "$USERS" >"$work/fixture.yaml"

# start_node LOG ARGS...: starts `teamsapps serve`; sets NODE_URL to its base URL.
start_node() {
  local log=$1; shift
  local out="$log.out"
  TEAMSAPPS_LOG=warn "$BIN" serve --listen 127.0.0.1:0 --seed "${SEED_FILE:-$work/fixture.yaml}" "$@" >"$out" 2>"$log" &
  pids+=($!)
  for _ in $(seq 1 300); do
    if grep -q '^listening on ' "$out" 2>/dev/null; then
      NODE_URL=$(sed -n 's/^listening on //p' "$out" | head -1)
      return
    fi
    sleep 0.1
  done
  echo "the node did not start: $(cat "$log")" >&2
  exit 1
}

stop_nodes() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

new_db() {
  local name="teamsapps_bench_$(date +%s)_$RANDOM"
  psql "$PG/postgres" -qX -c "CREATE DATABASE $name" >/dev/null
  dbs+=("$name")
  TEAMSAPPS_LOG=warn "$BIN" migrate --database-url "$PG/$name" >/dev/null
  DB_URL="$PG/$name"
}

results=()
measure() {
  local label=$1 nodes=$2
  echo "== $label: $CONNECTIONS connections, $((USERS * APPS)) installations, at most ${SECONDS_MAX}s" >&2
  local r
  r=$("$BENCH" run "$label" "$nodes" "$CONNECTIONS" "$SECONDS_MAX" "$APPS" "$USERS")
  echo "$r" >&2
  results+=("$r")
}

start_node "$work/sqlite.log" --data "$work/sqlite"
measure "SQLite" "$NODE_URL"
stop_nodes

new_db
start_node "$work/pg1.log" --database-url "$DB_URL"
measure "PostgreSQL, 1 node" "$NODE_URL"
stop_nodes

new_db
start_node "$work/pg2a.log" --database-url "$DB_URL"
a=$NODE_URL
start_node "$work/pg2b.log" --database-url "$DB_URL"
measure "PostgreSQL, 2 nodes" "$a,$NODE_URL"
stop_nodes

# Reset and restore of the test controls (docs/testing.md) on a tenant with 10,000
# installations: the median of 3 rounds of snapshot, reset and restore, as timed by the server.
"$BENCH" fixture-installed 10000 >"$work/fixture10k.yaml"
controls=()
time_controls() {
  local label=$1 url=$2 key=benchkey
  local out
  out=$(python3 - "$url" "$key" <<'PY'
import json, statistics, sys, urllib.request
url, key = sys.argv[1], sys.argv[2]
def post(path):
    req = urllib.request.Request(url + path, method="POST", headers={"Authorization": "Bearer " + key})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["elapsedMs"]
post("/_teamsapps/reset")  # the first reset builds the seed snapshot; not counted
rounds = {"snapshot": [], "reset": [], "restore": []}
for _ in range(3):
    rounds["snapshot"].append(post("/_teamsapps/snapshots/bench"))
    rounds["reset"].append(post("/_teamsapps/reset"))
    rounds["restore"].append(post("/_teamsapps/snapshots/bench/restore"))
print(" | ".join(f"{statistics.median(v):.1f}" for v in rounds.values()))
PY
)
  echo "== $label: snapshot | reset | restore (ms, median of 3): $out" >&2
  controls+=("| $label | $out |")
}
SEED_FILE="$work/fixture10k.yaml" start_node "$work/ctl-sqlite.log" --data "$work/ctl-sqlite" --admin-key benchkey
time_controls "SQLite" "$NODE_URL"
stop_nodes
new_db
SEED_FILE="$work/fixture10k.yaml" start_node "$work/ctl-pg.log" --database-url "$DB_URL" --admin-key benchkey
time_controls "PostgreSQL" "$NODE_URL"
stop_nodes

machine="$(nproc) CPU cores ($(uname -m)), PostgreSQL $(psql "$PG/postgres" -AtX -c 'SHOW server_version' | cut -d' ' -f1), $(date -u +%Y-%m-%d)"
echo "== docs/performance.md"
"$BENCH" report docs/performance.md "$machine" "${results[@]}"

# The controls table goes in its own section, replaced on every run.
python3 - docs/performance.md "$machine" "${controls[@]}" <<'PY'
import re, sys
path, machine, rows = sys.argv[1], sys.argv[2], sys.argv[3:]
section = (
    "## Reset and restore (test controls)\n\n"
    "A tenant with 10,000 installations; time measured inside the server (`elapsedMs` of the "
    "`/_teamsapps` answers), median of 3 rounds after a first reset that builds the seed snapshot. "
    "Target: under 50 ms. Machine: " + machine + ". Reproduce: `bench/run.sh`.\n\n"
    "| store | snapshot ms | reset ms | restore ms |\n|---|---:|---:|---:|\n" + "\n".join(rows) + "\n"
)
text = open(path).read()
pattern = re.compile(r"## Reset and restore \(test controls\)\n.*?(?=\n## |\Z)", re.S)
text = pattern.sub(section.rstrip("\n"), text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
PY
echo "== docs/performance.md: reset and restore section"

#!/usr/bin/env bash
# The rollout benchmark (docs/performance.md, "Rollout against the ideal"): one command,
# `bench/rollout.sh`. Builds the release binary; for each size generates a tenant with
# `teamsapps fixture generate` (2 x SIZE users, so that app 0, installed for about half the
# users, has about SIZE user installations; BENCH_TEAMS teams, each with app 0 since the
# catalog has that one app; no chats unless BENCH_CHATS), serves it with `--throttle graph
# --config` at Graph's limits times the size's scale, publishes version 1.1.0 of app 0 as the
# tenant's admin (every installation behind), snapshots that, and times `teamsapps rollout run
# --scope user,team` (a fresh journal each time) plain, with --batch and with faults at
# BENCH_FAULT_RATE (the settings of `--fault-rate`, set through PUT /_teamsapps/settings),
# restoring the snapshot and refilling the buckets before each run. Every run is compared with
# the ideal time the limits allow for the requests it has to make (bench/rollout.py says how
# it is counted). Records the machine's load before and after each run, the server's and the
# client's CPU. Writes its table into docs/performance.md. Not a test.
#
# Knobs (environment): BENCH_SIZES (user installations of the app per tenant, "10000 100000"),
# BENCH_SCALES (Graph's limits times this, one per size, "10 40": the larger tenant at a larger
# scale so that it runs in minutes), BENCH_TEAMS (500), BENCH_CHATS (0), BENCH_RUNS ("plain
# batch faults"), BENCH_FAULT_RATE (0.05), BENCH_REPEAT (runs of each configuration, 1),
# BENCH_NO_DOC=1 leaves docs/ alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/target-dir.sh
target=$(target_dir) # CARGO_TARGET_DIR or cargo metadata, never a fixed ./target

SIZES=${BENCH_SIZES:-10000 100000}
SCALES=${BENCH_SCALES:-10 40}
TEAMS=${BENCH_TEAMS:-500}
CHATS=${BENCH_CHATS:-0}
RUNS=${BENCH_RUNS:-plain batch faults}
FAULT_RATE=${BENCH_FAULT_RATE:-0.05}
REPEAT=${BENCH_REPEAT:-1}

say() { echo "== $*" >&2; }
command -v cargo >/dev/null 2>&1 || { echo "cargo is needed: https://rustup.rs" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "python3 is needed" >&2; exit 1; }
read -r -a sizes <<<"$SIZES"
read -r -a scales <<<"$SCALES"
if [ "${#sizes[@]}" -ne "${#scales[@]}" ]; then
  echo "BENCH_SIZES and BENCH_SCALES need one scale per size" >&2
  exit 1
fi

say "building the release binary"
cargo build --release --locked -p teamsapps
# A copy: other builds in the same target directory must not swap it under a run.
work=$(mktemp -d "${TMPDIR:-/tmp}/teamsapps-rollout-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$target/release/teamsapps" "$work/teamsapps"
RESULTS=$work/results.jsonl
: >"$RESULTS"
started=$(date +%s)
for i in "${!sizes[@]}"; do
  ROLLOUT_BIN=$work/teamsapps ROLLOUT_WORK=$work ROLLOUT_RESULTS=$RESULTS \
    ROLLOUT_SIZE=${sizes[$i]} ROLLOUT_SCALE=${scales[$i]} ROLLOUT_TEAMS=$TEAMS \
    ROLLOUT_CHATS=$CHATS ROLLOUT_RUNS=${RUNS// /,} ROLLOUT_FAULT_RATE=$FAULT_RATE \
    ROLLOUT_REPEAT=$REPEAT python3 bench/rollout.py run
done
cp "$RESULTS" "$target/bench-rollout-results.jsonl"
say "all runs in $(($(date +%s) - started)) s (raw results: $target/bench-rollout-results.jsonl)"
machine="$(nproc) cores of $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), \
$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(date -u +%Y-%m-%d), \
commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' + uncommitted changes')"
settings="BENCH_SIZES=\"$SIZES\", BENCH_SCALES=\"$SCALES\", BENCH_TEAMS=$TEAMS, BENCH_CHATS=$CHATS, \
BENCH_RUNS=\"$RUNS\", BENCH_FAULT_RATE=$FAULT_RATE, BENCH_REPEAT=$REPEAT"
python3 bench/rollout.py table "$RESULTS" "$machine" "$settings" >"$work/table.md"
cat "$work/table.md"
if [ "${BENCH_NO_DOC:-0}" = 1 ]; then
  say "BENCH_NO_DOC=1: docs/ untouched"
  exit 0
fi
python3 bench/rollout.py doc docs/performance.md "$work/table.md"
say "docs/performance.md written"

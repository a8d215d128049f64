#!/usr/bin/env bash
# Runs docs/rollout.md's walk-through, as written, against fresh servers on free ports: each
# shell block marked `<!-- rollout-example NAME -->` there, in a temporary directory, with the
# debug binary first on PATH as `teamsapps`. Twice:
#   1. straight through: `run` exits 0, and `resume` of the finished journal exits 0 too;
#   2. with the `run` block interrupted by SIGINT (Ctrl-C) once upgrades have started: it
#      exits 130, and the `resume` block finishes the rollout (exit 0).
# Each time it checks the end state: `teamsapps rollout status --json` shows nothing pending,
# in flight or failed, every installation the plan found upgraded, and report.html exists and
# holds the same summary. The first time, the HTML reports of both journals are also opened in
# headless Chromium and checked against their JSON reports (scripts/rollout-report.sh).
# The only substitutions: `--listen 127.0.0.1:0` is added to the `serve` block and the port in
# BASE is the one the server took; the tenant's size is the USERS the doc reads from the
# environment, here ROLLOUT_EXAMPLE_USERS or 200 (the doc's 3000 would take minutes: a plan
# makes about two Graph requests per user at Graph's 60 GETs per second).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/listening.sh
cargo build -q --bin teamsapps
. scripts/lib/target-dir.sh
bin_dir="$(target_dir)/debug"
export PATH="$bin_dir:$PATH"
[ "$(command -v teamsapps)" = "$bin_dir/teamsapps" ] || { echo "teamsapps is not $bin_dir/teamsapps"; exit 1; }
export USERS=${ROLLOUT_EXAMPLE_USERS:-200}
# The default log level, whatever the caller set: the interrupted pass waits for a `wave starts` line.
export TEAMSAPPS_LOG=info
doc=docs/rollout.md
top=$(mktemp -d)
server=
# ROLLOUT_EXAMPLE_KEEP=1 keeps the directory (every block's output) and prints where it is.
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; if [ -n "${ROLLOUT_EXAMPLE_KEEP:-}" ]; then echo "kept $top"; else rm -rf "$top"; fi' EXIT

# The body of the ```sh block after the `<!-- rollout-example NAME -->` line, which must exist once.
block() {
  local found
  found=$(grep -c "^<!-- rollout-example $1 -->\$" "$doc" || true)
  [ "$found" = 1 ] || { echo "$doc has $found blocks named '$1', not one" >&2; exit 1; }
  awk -v marker="<!-- rollout-example $1 -->" '
    $0 == marker { armed = 1; next }
    armed == 1 && /^```sh$/ { armed = 2; next }
    armed == 2 && /^```$/ { exit }
    armed == 2 { print }
  ' "$doc"
}
# One assignment a line: `set -e` sees only the last command substitution of a line.
generate=$(block generate)
serve=$(block serve)
env=$(block env)
publish=$(block publish)
plan=$(block plan)
personal=$(block personal)
run_block=$(block run)
status=$(block status)
report=$(block report)
resume=$(block resume)

fail() { echo "rollout example ($pass): $*"; exit 1; }

# step NAME BLOCK: runs the block in bash -euo pipefail after the env block, in the pass's
# directory, keeping its output in NAME.out; prints its exit status.
step() {
  local rc=0
  (cd "$work" && bash -euo pipefail -c "${env//http:\/\/127.0.0.1:8080/$base}"$'\n'"$2") \
    >"$work/$1.out" 2>&1 || rc=$?
  echo "$rc"
}

# expect NAME BLOCK: the block must exit 0.
expect() {
  local rc
  rc=$(step "$1" "$2")
  [ "$rc" = 0 ] || { cat "$work/$1.out"; fail "the $1 block exited $rc"; }
}

start_server() {
  # exec: $server is the server itself, which SIGTERM stops cleanly.
  (cd "$work" && exec bash -euo pipefail -c "exec $serve --listen 127.0.0.1:0") >"$work/server.url" 2>"$work/server.log" &
  server=$!
  base=$(wait_listening "$work/server.url")
  [ -n "$base" ] || { cat "$work/server.log"; fail "the server did not start"; }
}

stop_server() {
  kill -TERM "$server"
  wait "$server" || { cat "$work/server.log"; fail "the server did not stop cleanly"; }
  server=
}

# The status and the report agree, nothing is left or failed, everything planned is upgraded.
check_end() {
  local status
  status=$(cd "$work" && teamsapps rollout status --journal rollout.db --json)
  [ -s "$work/report.html" ] || fail "report.html is missing or empty"
  python3 - "$status" "$work/report.html" "$work/plan.out" <<'EOF' || fail "the end state is not as documented"
import json, re, sys
status, html, plan = json.loads(sys.argv[1]), open(sys.argv[2]).read(), open(sys.argv[3]).read()
ok = True
def bad(why):
    global ok
    ok = False
    print(why)
for scope, states in status.items():
    for state in ("pending", "in_flight", "failed"):
        if states.get(state):
            bad(f"{scope}: {states[state]} {state}")
    row = re.search(rf"<tr><td>{scope}</td><td>([^<]*)</td></tr>", html)
    cells = row.group(1) if row else ""
    if f"upgraded: {states.get('upgraded', 0)}" not in cells:
        bad(f"the report's summary for {scope} is '{cells}', the status says {states}")
planned = sum(int(n) for n in re.findall(r"^\w+ +\S+ +\d+ +(\d+) ", plan, re.M))
upgraded = sum(s.get("upgraded", 0) for s in status.values())
if "<h2>Summary</h2>" not in html:
    bad("report.html has no summary")
if planned == 0 or upgraded != planned:
    bad(f"the plan had {planned} to upgrade, the status says {upgraded} upgraded")
sys.exit(0 if ok else 1)
EOF
  echo "rollout example ($pass): $status"
}

# Up to the run: a tenant, its server, the new version published, the plan.
prepare() {
  work="$top/$1"
  mkdir -p "$work"
  (cd "$work" && bash -euo pipefail -c "$generate") >"$work/generate.out" 2>&1 ||
    { cat "$work/generate.out"; fail "the generate block failed"; }
  start_server
  expect publish "$publish"
  grep -q '^publish: 204$' "$work/publish.out" || { cat "$work/publish.out"; fail "publish did not print 'publish: 204'"; }
  expect plan "$plan"
  grep -q 'installation(s) found$' "$work/plan.out" || { cat "$work/plan.out"; fail "the plan printed no table"; }
}

pass="straight through"
prepare straight
expect personal "$personal"
# The Personal-scope registration may not upgrade chats and teams: the plan says so.
grep -q '^blocked: [0-9]* target(s) needs TeamsAppInstallation.ReadWriteForChat.All$' "$work/personal.out" &&
  grep -q '^blocked: [0-9]* target(s) needs TeamsAppInstallation.ReadWriteForTeam.All$' "$work/personal.out" ||
  { cat "$work/personal.out"; fail "the Personal-scope plan does not show chats and teams blocked"; }
expect run "$run_block"
expect status "$status"
expect report "$report"
expect resume "$resume"
check_end
# The reports as a user opens them: in a browser, showing what the journals say (the run's,
# everything upgraded; the Personal-scope plan's, its chats and teams blocked).
for journal in rollout personal; do
  (cd "$work" && teamsapps rollout report --journal "$journal.db" --format html --out "$journal-report.html" &&
    teamsapps rollout report --journal "$journal.db" --format json --out "$journal-report.json")
  scripts/rollout-report.sh "$work/$journal-report.html" "$work/$journal-report.json" "$work/$journal-report.png" ||
    fail "the $journal.db report does not show in Chromium what its journal says"
done
stop_server

pass="interrupted"
prepare interrupted
# The run in its own process group (as a terminal's Ctrl-C reaches it), stopped as its second
# wave starts: the first wave's upgrades are answered, most of the rest are not.
set -m
(cd "$work" && exec bash -euo pipefail -c "${env//http:\/\/127.0.0.1:8080/$base}"$'\n'"$run_block") >"$work/run.out" 2>&1 &
runner=$!
set +m
for _ in $(seq 600); do
  grep -q 'wave starts wave=2' "$work/run.out" 2>/dev/null && break
  sleep 0.05
done
kill -INT -- "-$runner"
rc=0
wait "$runner" || rc=$?
[ "$rc" = 130 ] || { cat "$work/run.out"; fail "the interrupted run exited $rc, not 130 (finished before the SIGINT?)"; }
grep -q '^stopped; nothing is lost: continue with `teamsapps rollout resume --journal rollout.db`$' "$work/run.out" ||
  { cat "$work/run.out"; fail "the interrupted run did not say how to continue"; }
read -r done left < <(cd "$work" && teamsapps rollout status --journal rollout.db --json | python3 -c '
import json, sys
states = json.load(sys.stdin).values()
print(sum(s.get("upgraded", 0) for s in states), sum(s.get("pending", 0) + s.get("in_flight", 0) for s in states))')
[ "$done" -gt 0 ] && [ "$left" -gt 0 ] || fail "the interrupted run left $done upgraded and $left to do: not a run stopped midway"
echo "rollout example ($pass): stopped with $done upgraded and $left left"
expect resume "$resume"
expect status "$status"
expect report "$report"
check_end
stop_server

echo "rollout example: docs/rollout.md as written, straight through and interrupted then resumed ($USERS users)"

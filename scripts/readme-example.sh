#!/usr/bin/env bash
# Runs the README's worked example, as written, against a fresh server on a free port: twice
# against that server, then once more after restarting it on the same data directory, each run
# printing the same four lines. It runs in the repository root, as the README says, and checks
# that it leaves no file there.
# The only substitutions: the port in BASE, and `cargo run --release -q --` becomes the
# already built debug binary (CI need not build a release for this).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/listening.sh
cargo build -q --bin teamsapps
. scripts/lib/target-dir.sh
bin="$(target_dir)/debug/teamsapps"
work=$(mktemp -d)
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

start() {
  : >"$work/out"
  "$bin" serve --listen 127.0.0.1:0 --data "$work/data" --seed fixtures/demo.yaml >"$work/out" 2>>"$work/log" &
  server=$!
  base=$(wait_listening "$work/out")
  [ -n "$base" ] || { cat "$work/log"; echo "server did not start"; exit 1; }
}

stop() {
  kill -TERM "$server"
  wait "$server" || { cat "$work/log"; echo "server did not stop cleanly"; exit 1; }
  server=
}

block=$(sed -n '/<!-- example:start -->/,/<!-- example:end -->/p' README.md | sed '1,2d;$d' | sed '$d')
block=${block//cargo run --release -q --/$bin}
expected=$'install: 201\nupdate: 204\nupgrade: 204\n1.1.0'
before=$(git status --porcelain --untracked-files=all)

run() {
  local out
  out=$(bash -euo pipefail -c "${block//http:\/\/127.0.0.1:8080/$base}")
  echo "$out"
  if [ "$out" != "$expected" ]; then
    echo "README example ($1) printed something else; expected:"; echo "$expected"; exit 1
  fi
}

start
run "first run"
run "second run, same server"
stop
start
run "third run, restarted on the same data directory"
stop

after=$(git status --porcelain --untracked-files=all)
if [ "$before" != "$after" ]; then
  echo "README example left files in the repository:"; diff <(echo "$before") <(echo "$after") || true
  exit 1
fi
echo "README example: as documented, three times on one data directory, no files left"

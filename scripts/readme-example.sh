#!/usr/bin/env bash
# Runs the README's worked example, as written, against a fresh server on a free port.
# The only substitutions: the port in BASE, and `cargo run --release -q --` becomes the
# already built debug binary (CI need not build a release for this).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bin teamsapps
. scripts/lib/target-dir.sh
bin="$(target_dir)/debug/teamsapps"
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" serve --listen 127.0.0.1:0 --data "$work/data" --seed fixtures/demo.yaml >"$work/out" 2>"$work/log" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$work/out")
[ -n "$base" ] || { cat "$work/log"; echo "server did not start"; exit 1; }
block=$(sed -n '/<!-- example:start -->/,/<!-- example:end -->/p' README.md | sed '1,2d;$d' | sed '$d')
block=${block//http:\/\/127.0.0.1:8080/$base}
block=${block//cargo run --release -q --/$bin}
out=$(cd "$work" && ln -s "$OLDPWD/fixtures" fixtures && bash -euo pipefail -c "$block")
echo "$out"
expected=$'install: 201\nupdate: 204\nupgrade: 204\n1.1.0'
if [ "$out" != "$expected" ]; then
  echo "README example printed something else; expected:"; echo "$expected"; exit 1
fi
echo "README example: as documented"

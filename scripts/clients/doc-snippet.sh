#!/usr/bin/env bash
# Runs one snippet of docs/clients.md the way a new user would, so the doc cannot rot:
#   - takes the fenced block right after `<!-- run: LANG -->`, unchanged but for the port, and
#     saves it as FILE (app.py, app.js) in a fresh directory;
#   - there, as the doc's first block says: `teamsapps cert --out certs`, then `teamsapps serve
#     --tls-cert certs/cert.pem --tls-key certs/key.pem --in-memory --seed fixtures/demo.yaml`
#     (nothing kept). The doc listens on 127.0.0.1:8443; here the server takes a free port
#     (8443 may be busy, suites run in parallel) and ONLY that port is replaced in the snippet;
#   - runs the snippet's first line (its run command, e.g. `NODE_EXTRA_CA_CERTS=certs/cert.pem
#     node app.js`) twice, a first run and a re-run, each of which must succeed and print every
#     --expect line (an extended regex matching a whole line);
#   - checks that the `name==version` / `name@version` pins of the block after
#     `<!-- install: LANG -->` are the versions the suite installs (--pins: name==version lines).
# The interpreter comes from --path (prepended to PATH) and packages from --node-modules
# (linked into the directory, as `npm install` there would leave them).
# Usage: doc-snippet.sh --lang L --file F --pins P [--path D] [--node-modules D] --expect RE...
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/scripts/lib/target-dir.sh"
target=$(cd "$repo" && target_dir)
. "$repo/scripts/lib/listening.sh"
doc=$repo/docs/clients.md
bin=$target/debug/teamsapps

lang= file= pins= path_dir= node_modules= expects=()
while [ $# -gt 0 ]; do
  case $1 in
    --lang) lang=$2 ;;
    --file) file=$2 ;;
    --pins) pins=$2 ;;
    --path) path_dir=$(cd "$2" && pwd) ;;
    --node-modules) node_modules=$(cd "$2" && pwd) ;;
    --expect) expects+=("$2") ;;
    *) echo "doc-snippet.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ -n "$lang" ] && [ -n "$file" ] && [ -n "$pins" ] && [ ${#expects[@]} -gt 0 ] ||
  { echo "usage: doc-snippet.sh --lang L --file F --pins P [--path D] [--node-modules D] --expect RE..." >&2; exit 2; }
fail() { echo "FAIL docs/clients.md $lang snippet: $*" >&2; exit 1; }

# The body of the first fenced block after the marker line `<!-- MARK: LANG -->`.
block() {
  awk -v marker="<!-- $1: $lang -->" '
    $0 == marker { armed = 1; next }
    armed && !inside && /^```/ { inside = 1; next }
    inside && /^```/ { exit }
    inside { print }
  ' "$doc"
}

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

snippet=$(block run)
[ -n "$snippet" ] || fail "no fenced block after <!-- run: $lang --> in $doc"
[ "$(grep -o 8443 <<<"$snippet" | wc -l)" -eq 1 ] ||
  fail "expected the port 8443 exactly once (in 127.0.0.1:8443), the one thing replaced here"
grep -q '127\.0\.0\.1:8443' <<<"$snippet" || fail "no 127.0.0.1:8443 base URL"
run=$(head -n1 <<<"$snippet" | sed -E 's@^(#|//) *@@')
case $run in *" $file") ;; *) fail "its first line should be the command running $file, got: $run" ;; esac

# The install line's pins must be the versions this suite really runs.
install=$(block install)
[ -n "$install" ] || fail "no fenced block after <!-- install: $lang -->"
pinned=$(grep -oE '(@?[A-Za-z0-9._/-]+)(==|@)[0-9][A-Za-z0-9.+-]*' <<<"$install" || true)
[ -n "$pinned" ] || fail "its install block pins no version: $install"
for pin in $pinned; do
  name=${pin%%==*} version=${pin#*==}
  [ "$name" != "$pin" ] || { name=${pin%@*} version=${pin##*@}; }
  grep -qixF "$name==$version" "$pins" ||
    fail "the doc says $name $version, the suite installs $(grep -i "^$name==" "$pins" || echo nothing)"
done

cd "$work"
printf '%s\n' "$snippet" >"$file.doc"
"$bin" cert --out certs >/dev/null
"$bin" serve --tls-cert certs/cert.pem --tls-key certs/key.pem --in-memory --seed "$repo/fixtures/demo.yaml" \
  --listen 127.0.0.1:0 >serve.stdout 2>serve.stderr &
pid=$!
base=$(wait_listening serve.stdout)
port=$(sed -n 's@^https://127\.0\.0\.1:\([0-9]*\)$@\1@p' <<<"$base")
[ -n "$port" ] || { cat serve.stdout serve.stderr >&2; fail "teamsapps did not start on https"; }
sed "s/127\.0\.0\.1:8443/127.0.0.1:$port/" "$file.doc" >"$file"

[ -z "$node_modules" ] || ln -s "$node_modules" node_modules
[ -z "$path_dir" ] || PATH=$path_dir:$PATH
for attempt in "first run" "re-run"; do
  echo "docs/clients.md $lang snippet ($attempt): $run"
  status=0
  timeout 120 bash -c "$run" >out 2>err || status=$?
  sed 's/^/  | /' out
  if [ "$status" -ne 0 ]; then
    sed 's/^/  ! /' err >&2
    fail "$attempt exited with $status"
  fi
  for re in "${expects[@]}"; do
    grep -qxE "$re" out || fail "$attempt printed no line matching: $re"
  done
done
echo "ok   docs/clients.md $lang snippet runs as written (first run and re-run)"

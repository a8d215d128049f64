#!/usr/bin/env bash
# The JavaScript Graph client suite: the JavaScript snippet of docs/clients.md run as written
# (scripts/clients/doc-snippet.sh), then the stock @microsoft/microsoft-graph-client with
# @azure/identity (versions pinned in scripts/clients/js/package-lock.json) against teamsapps
# over HTTPS, run with Node's built-in test runner. HTTPS because that client sends the token
# only to https:// hosts. Installs its packages with `npm ci` into scripts/clients/js/node_modules
# (git-ignored) when the lockfile changed. Without node/npm or the registry it says so loudly and
# skips, unless CI=true or TEAMSAPPS_REQUIRE_SDK=1. Expects target/debug/teamsapps (else builds it).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/target-dir.sh
. scripts/lib/skip.sh
target=$(target_dir) # CARGO_TARGET_DIR or cargo metadata, never a fixed ./target
. scripts/lib/listening.sh

dir=scripts/clients/js
skip() { skip_stage "the JavaScript Graph client suite ($dir)" TEAMSAPPS_REQUIRE_SDK "$*"; }

command -v node >/dev/null 2>&1 || skip "node is not installed (Node.js 20 or later is needed)"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || skip "node $(node --version) is too old (20 or later is needed)"

# npm ci wipes and reinstalls; do it only when the lockfile differs from the installed one.
stamp=$dir/node_modules/.teamsapps-lock
if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
  log=$(mktemp)
  if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    skip "npm ci could not install $dir/package-lock.json (is the npm registry reachable?)"
  fi
  rm -f "$log"
  cp "$dir/package-lock.json" "$stamp"
fi

bin=$target/debug/teamsapps
[ -x "$bin" ] || cargo build -q -p teamsapps --locked
out=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$out"' EXIT

# First the snippet of docs/clients.md, exactly as a new user runs it (its own server on
# fixtures/demo.yaml, these node_modules); its npm line must name package.json's versions.
node -e 'for (const [n, v] of Object.entries(require(process.argv[1]).dependencies)) console.log(`${n}==${v}`)' \
  "$PWD/$dir/package.json" >"$out/pins"
scripts/clients/doc-snippet.sh --lang js --file app.js --pins "$out/pins" \
  --node-modules "$dir/node_modules" \
  --expect 'catalog: OneNote 1\.0\.0 \(0d820ecd-def2-4297-adad-78056cde7c78\)' \
  --expect 'installed for Adele: OneNote'

"$bin" cert --out "$out" >/dev/null
key=js-client-suite
"$bin" serve --in-memory --listen 127.0.0.1:0 --seed "$dir/fixture.yaml" --admin-key "$key" \
  --tls-cert "$out/cert.pem" --tls-key "$out/key.pem" >"$out/stdout" 2>"$out/stderr" &
pid=$!
base=$(wait_listening "$out/stdout")
[[ $base == https://* ]] || { cat "$out/stdout" "$out/stderr" >&2; echo "teamsapps did not start on https" >&2; exit 1; }

cd "$dir"
TEAMSAPPS_BASE=$base TEAMSAPPS_ADMIN_KEY=$key NODE_EXTRA_CA_CERTS=$out/cert.pem \
  node --test --test-concurrency=1 --test-reporter=spec suite/*.test.js

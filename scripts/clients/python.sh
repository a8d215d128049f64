#!/usr/bin/env bash
# The Python Graph client suite: the Python snippet of docs/clients.md run as written
# (scripts/clients/doc-snippet.sh), then the stock msgraph-sdk signed in with azure-identity's
# ClientSecretCredential and MSAL (versions pinned in scripts/clients/python/requirements.txt)
# against teamsapps over HTTPS with a certificate from `teamsapps cert`
# (scripts/clients/python/suite.py), then the SDK's retry handler through --fault-rate 0.3
# (scripts/clients/python/retry/). Builds the venv target/sdk-venv when the requirements changed.
# Without python3, venv or the package index it says so loudly and skips, unless CI=true or
# TEAMSAPPS_REQUIRE_SDK=1. Expects target/debug/teamsapps (else builds it).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/target-dir.sh
. scripts/lib/skip.sh
target=$(target_dir) # CARGO_TARGET_DIR or cargo metadata, never a fixed ./target
. scripts/lib/listening.sh

dir=scripts/clients/python
skip() { skip_stage "the Python Graph client suite ($dir)" TEAMSAPPS_REQUIRE_SDK "$*"; }

command -v python3 >/dev/null 2>&1 || skip "python3 is not installed (3.9 or later is needed)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
  skip "$(python3 --version 2>&1) is too old (3.9 or later is needed)"

venv=$target/sdk-venv
req=$dir/requirements.txt
if ! cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >/dev/null 2>&1 ||
    skip "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >"$venv/pip.log" 2>&1 || {
    tail -n 5 "$venv/pip.log" >&2
    rm -rf "$venv"
    skip "pip could not install $req (is the package index reachable?)"
  }
  cp "$req" "$venv/requirements.txt"
fi
py=$venv/bin/python

bin=$target/debug/teamsapps
[ -x "$bin" ] || cargo build -q -p teamsapps --locked

# First the snippet of docs/clients.md, exactly as a new user runs it (its own server on
# fixtures/demo.yaml); its pip line must name the versions of $req.
scripts/clients/doc-snippet.sh --lang python --file app.py --pins "$req" --path "$venv/bin" \
  --expect 'catalog: OneNote 1\.0\.0 \(0d820ecd-def2-4297-adad-78056cde7c78\)' \
  --expect 'installed for Adele: OneNote'

out=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"' EXIT

# Starts teamsapps with the given flags; sets $base to what its `listening on` line says.
start() {
  local name=$1
  shift
  "$bin" serve --in-memory --listen 127.0.0.1:0 "$@" >"$out/$name.stdout" 2>"$out/$name.stderr" &
  pids+=($!)
  base=$(wait_listening "$out/$name.stdout")
  [ -n "$base" ] || { cat "$out/$name.stderr" >&2; echo "teamsapps ($name) did not start" >&2; exit 1; }
}

"$bin" cert --out "$out/tls" >/dev/null
start suite --seed "$dir/fixture.yaml" --admin-key python-client-suite \
  --tls-cert "$out/tls/cert.pem" --tls-key "$out/tls/key.pem"
case $base in https://*) ;; *) echo "expected an https listener, got $base" >&2; exit 1 ;; esac
# requests (MSAL, azure-identity) reads REQUESTS_CA_BUNDLE; httpx (the SDK) and aiohttp read
# SSL_CERT_FILE. Both replace the default roots, which is fine for a local server.
TEAMSAPPS_BASE=$base REQUESTS_CA_BUNDLE=$out/tls/cert.pem SSL_CERT_FILE=$out/tls/cert.pem \
  "$py" "$dir/suite.py"

key=sdk-retry-check
start retry --seed "$dir/retry/fixture.yaml" --config "$dir/retry/faults.yaml" \
  --fault-rate 0.3 --admin-key "$key"
"$py" "$dir/retry/flow.py" "$base" "$key"

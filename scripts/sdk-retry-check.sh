#!/usr/bin/env bash
# The Python Graph SDK (msgraph-sdk, pinned in scripts/sdk-retry/requirements.txt) gets a rollout
# flow through teamsapps started with --fault-rate 0.3, thanks to its retry handler.
# Needs python3 with venv and the package index (or a pip cache); without them it says so and
# skips, unless TEAMSAPPS_REQUIRE_SDK=1. Expects target/debug/teamsapps (cargo build).
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
  echo "!!! SKIPPED: the Python Graph SDK retry check: $*" >&2
  if [ "${TEAMSAPPS_REQUIRE_SDK:-}" = 1 ]; then exit 1; fi
  exit 0
}

venv=target/sdk-venv
req=scripts/sdk-retry/requirements.txt
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
if ! cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >/dev/null 2>&1 || skip "python3 -m venv failed"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >/dev/null 2>&1 ||
    { rm -rf "$venv"; skip "pip could not install $req"; }
  cp "$req" "$venv/requirements.txt"
fi

bin=target/debug/teamsapps
[ -x "$bin" ] || cargo build -q -p teamsapps --locked
out=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
key=sdk-retry-check
"$bin" serve --in-memory --listen 127.0.0.1:0 --seed scripts/sdk-retry/fixture.yaml \
  --config scripts/sdk-retry/faults.yaml --fault-rate 0.3 --admin-key "$key" \
  >"$out/stdout" 2>"$out/stderr" &
pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$out/stdout" 2>/dev/null && break
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$out/stdout")
[ -n "$base" ] || { cat "$out/stderr" >&2; echo "teamsapps did not start" >&2; exit 1; }
"$venv/bin/python" scripts/sdk-retry/flow.py "$base" "$key"

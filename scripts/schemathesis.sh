#!/usr/bin/env bash
# schemathesis (pinned in scripts/schemathesis/requirements.txt) against a running teamsapps:
# every operation of /openapi.json is fuzzed with a real token, and no answer may be a 5xx or
# differ from the document (status, content type, body schema, headers). Bounded in time. One
# worker: hypothesis's lambda-description cache is not thread-safe (an internal error, not ours).
# Needs python3 with venv and the package index (or a pip cache); without them it says so and
# skips, unless CI=true or TEAMSAPPS_REQUIRE_SCHEMATHESIS=1. Expects target/debug/teamsapps.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "!!! SKIPPED: the schemathesis run against /openapi.json: $*" >&2
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  if [ "${CI:-}" = true ] || [ "${TEAMSAPPS_REQUIRE_SCHEMATHESIS:-}" = 1 ]; then exit 1; fi
  exit 0
}

venv=target/schemathesis-venv
req=scripts/schemathesis/requirements.txt
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
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$out"' EXIT

# A fresh server per version: one run's deletions must not starve the next of data.
fuzz() {
  local version=$1
  "$bin" serve --in-memory --listen 127.0.0.1:0 --seed scripts/schemathesis/fixture.yaml \
    >"$out/stdout" 2>"$out/stderr" &
  pid=$!
  for _ in $(seq 100); do
    grep -q '^listening on ' "$out/stdout" 2>/dev/null && break
    sleep 0.1
  done
  local base
  base=$(sed -n 's/^listening on //p' "$out/stdout")
  [ -n "$base" ] || { cat "$out/stderr" >&2; echo "teamsapps did not start" >&2; return 1; }

  # An app-only token from the token endpoint (client credentials; the fixture's app holds
  # admin-consented application permissions).
  local token
  token=$("$venv/bin/python" - "$base" <<'PY'
import sys, requests
r = requests.post(
    f"{sys.argv[1]}/2f1a6c2e-0000-4000-8000-000000000001/oauth2/v2.0/token",
    data={"grant_type": "client_credentials", "client_id": "11111111-1111-4111-8111-111111111111",
          "client_secret": "fuzz-secret", "scope": "https://graph.microsoft.com/.default"},
    timeout=10)
r.raise_for_status()
print(r.json()["access_token"])
PY
  )

  echo "== schemathesis against $base/$version"
  # --max-time bounds the fuzzing; the outer timeout catches a hung run.
  local status=0
  SCHEMATHESIS_HOOKS=hooks PYTHONPATH=scripts/schemathesis PYTHONDONTWRITEBYTECODE=1 timeout 120 \
    "$venv/bin/schemathesis" --config-file scripts/schemathesis/schemathesis.toml run \
    "$base/openapi.json" --url "$base/$version" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" --max-time "${SCHEMATHESIS_MAX_TIME:-40}" \
    --seed "${SCHEMATHESIS_SEED:-20261125}" --workers 1 --request-timeout 10 \
    --generation-database none --no-color || status=1
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
  return "$status"
}

status=0
fuzz v1.0 || status=1
fuzz beta || status=1
exit "$status"

#!/usr/bin/env bash
# schemathesis (pinned in scripts/schemathesis/requirements.txt) against a running teamsapps:
# every operation of /openapi.json is fuzzed with a real app-only token, then the catalog writes
# with an admin's delegated token, and no answer may be a 5xx or differ from the document
# (status, content type, body schema, headers). Bounded in time (~2.5 min in all). One
# worker: hypothesis's lambda-description cache is not thread-safe (an internal error, not ours).
# Needs python3 with venv and the package index (or a pip cache); without them it says so and
# skips, unless CI=true or TEAMSAPPS_REQUIRE_SCHEMATHESIS=1. Expects target/debug/teamsapps.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/target-dir.sh
. scripts/lib/skip.sh
target=$(target_dir) # CARGO_TARGET_DIR or cargo metadata, never a fixed ./target
. scripts/lib/listening.sh

skip() { skip_stage "the schemathesis run against /openapi.json" TEAMSAPPS_REQUIRE_SCHEMATHESIS "$*"; }

venv=$target/schemathesis-venv
req=scripts/schemathesis/requirements.txt
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
if ! cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >/dev/null 2>&1 || skip "python3 -m venv failed"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >/dev/null 2>&1 ||
    { rm -rf "$venv"; skip "pip could not install $req"; }
  cp "$req" "$venv/requirements.txt"
fi

bin=$target/debug/teamsapps
[ -x "$bin" ] || cargo build -q -p teamsapps --locked
out=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$out"' EXIT

# The catalog writes (publish, update, delete, review, cancel) take a delegated token: with the
# app-only token they only ever get 403. A second, shorter pass per version fuzzes just those
# with Megan's (a Teams service admin, password grant); its hooks send real packages half of
# the time and reset the server after each successful write (scripts/schemathesis/hooks.py).
CATALOG_WRITES=(publish_teams_app update_teams_app delete_teams_app review_app_definition
  delete_app_definition)

# A fresh server per pass: one run's deletions must not starve the next of data.
fuzz() {
  local version=$1 pass=$2
  local key=schemathesis-$RANDOM$RANDOM
  "$bin" serve --in-memory --listen 127.0.0.1:0 --seed scripts/schemathesis/fixture.yaml \
    --admin-key "$key" >"$out/stdout" 2>"$out/stderr" &
  pid=$!
  local base
  base=$(wait_listening "$out/stdout")
  [ -n "$base" ] || { cat "$out/stderr" >&2; echo "teamsapps did not start" >&2; return 1; }

  # A token from the token endpoint: app-only (client credentials; the fixture's app holds
  # admin-consented application permissions) or Megan's signed in to that app (password).
  local token
  token=$("$venv/bin/python" - "$base" "$pass" <<'PY'
import sys, requests
form = {"client_id": "11111111-1111-4111-8111-111111111111", "client_secret": "fuzz-secret",
        "scope": "https://graph.microsoft.com/.default"}
if sys.argv[2] == "delegated":
    form.update(grant_type="password", username="megan@contoso.example", password="megan-password")
else:
    form.update(grant_type="client_credentials")
r = requests.post(f"{sys.argv[1]}/2f1a6c2e-0000-4000-8000-000000000001/oauth2/v2.0/token",
                  data=form, timeout=10)
r.raise_for_status()
print(r.json()["access_token"])
PY
  )

  local only=() env=() max_time=${SCHEMATHESIS_MAX_TIME:-40}
  if [ "$pass" = delegated ]; then
    for op in "${CATALOG_WRITES[@]}"; do only+=(--include-operation-id "$op"); done
    env=(TEAMSAPPS_FUZZ_BASE="$base" TEAMSAPPS_FUZZ_ADMIN_KEY="$key" TEAMSAPPS_FUZZ_TALLY="$out/tally.json")
    rm -f "$out/tally.json"
    max_time=${SCHEMATHESIS_DELEGATED_MAX_TIME:-20}
  fi
  echo "== schemathesis against $base/$version ($pass token${only:+, catalog writes only})"
  # --max-time bounds the fuzzing; the outer timeout catches a hung run.
  local status=0
  env "${env[@]}" SCHEMATHESIS_HOOKS=hooks PYTHONPATH=scripts/schemathesis \
    PYTHONDONTWRITEBYTECODE=1 SCHEMATHESIS_SEED="${SCHEMATHESIS_SEED:-20261125}" \
    timeout $((max_time + 80)) \
    "$venv/bin/schemathesis" --config-file scripts/schemathesis/schemathesis.toml run \
    "$base/openapi.json" --url "$base/$version" "${only[@]}" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" --max-time "$max_time" \
    --seed "${SCHEMATHESIS_SEED:-20261125}" --workers 1 --request-timeout 10 \
    --generation-database none --no-color || status=1
  if [ "$pass" = delegated ]; then
    # Each catalog write must have succeeded at least once, or only its refusals were checked.
    "$venv/bin/python" - "$out/tally.json" "${CATALOG_WRITES[@]}" <<'PY' || status=1
import json, sys
tally = json.load(open(sys.argv[1]))
for op in sys.argv[2:]:
    statuses = tally.get(op, {})
    print(f"   {op}: " + ", ".join(f"{n}x {s}" for s, n in sorted(statuses.items())))
missing = [op for op in sys.argv[2:] if not any(s.startswith("2") for s in tally.get(op, {}))]
if missing:
    sys.exit(f"FAIL: never answered 2xx with the delegated token: {', '.join(missing)}")
PY
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
  return "$status"
}

status=0
for version in v1.0 beta; do
  fuzz "$version" app || status=1
  fuzz "$version" delegated || status=1
done
exit "$status"

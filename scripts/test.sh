#!/usr/bin/env bash
# Runs every check and test of the project. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# Every stage runs even when an earlier one failed, so one run shows every failure; the summary
# table at the end lists each stage's result and time, and the exit status is 1 when any failed.
names=() results=() times=()
step() { printf '\n== %s\n' "$*"; }
# stage NAME CMD...: runs CMD (a command or script, never a shell function: `set -e` does not
# apply inside an `if` condition) and records its result and seconds.
stage() {
  local name=$1 start=$SECONDS
  shift
  if ( "$@" ); then results+=(PASS); else results+=(FAIL); fi
  names+=("$name") times+=($((SECONDS - start)))
}
skip() { names+=("$1") results+=(SKIP) times+=(0); }
summary() {
  local i failed=0
  printf '\n== summary\n%-28s %-6s %s\n' stage result seconds
  for i in "${!names[@]}"; do
    printf '%-28s %-6s %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
    [ "${results[$i]}" = FAIL ] && failed=1
  done
  return "$failed"
}

step "formatting (cargo fmt --check)"
stage fmt cargo fmt --all -- --check

step "lints (cargo clippy -D warnings)"
stage clippy cargo clippy --workspace --all-targets --locked -- -D warnings

step "PostgreSQL"
# The PostgreSQL tests use the server at 127.0.0.1:5432 (user postgres, trust auth), creating a
# database with a unique name per test and dropping it afterwards. CI must have it: set
# TEAMSAPPS_REQUIRE_POSTGRES=1 there and an unreachable server fails the run.
pg_banner() {
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!!! PostgreSQL is NOT reachable at 127.0.0.1:5432: every PostgreSQL test is SKIPPED."
  echo "!!! The storage conformance suite ran on SQLite only (its PostgreSQL half printed"
  echo "!!! 'SKIPPED:' lines) and the HTTP integration suites did not run on PostgreSQL."
  echo "!!! Start it:  pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
}
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
  postgres=1
  # From here on a PostgreSQL test that cannot reach the server fails instead of skipping.
  export TEAMSAPPS_REQUIRE_POSTGRES=1
  echo "PostgreSQL is reachable at 127.0.0.1:5432: the storage conformance suite runs on it"
  echo "(and on SQLite), then the HTTP integration suites run a second time on it."
elif [ "${TEAMSAPPS_REQUIRE_POSTGRES:-}" = 1 ]; then
  echo "PostgreSQL is NOT reachable at 127.0.0.1:5432 and TEAMSAPPS_REQUIRE_POSTGRES=1." >&2
  exit 1
else
  postgres=0
  pg_banner
fi

step "unit and integration tests (real binary, real HTTP, real SQLite files; storage conformance on SQLite and PostgreSQL)"
# --no-fail-fast: one failing test binary does not hide the results of the others.
stage "cargo test" cargo test --workspace --locked --no-fail-fast

if [ "$postgres" = 1 ]; then
  step "HTTP integration suites again, every server on a fresh PostgreSQL database"
  stage "cargo test (PostgreSQL)" env TEAMSAPPS_TEST_BACKEND=postgres cargo test -p teamsapps --locked --no-fail-fast
  # Databases of tests that made their own data directory are dropped once it is gone; drop
  # what this run left (a directory that still exists belongs to a run still going).
  if command -v psql >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -d postgres -AtX -c \
      "SELECT datname || '|' || coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database
       WHERE datname LIKE 'teamsapps\_it\_%'" 2>/dev/null |
      while IFS='|' read -r db dir; do
        if [ -n "$dir" ] && [ ! -e "$dir" ]; then
          psql -h 127.0.0.1 -U postgres -d postgres -qX -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" </dev/null || true
        fi
      done || true
  fi
fi

step "the repository alone: a quick subset from a copy in a fresh directory with no siblings"
# Conformance (the Graph examples), snapshots, smoke, first runs, /openapi.json and the README
# example, from a copy of the files git knows; nothing may read outside the repository.
stage "fresh copy" scripts/fresh-copy.sh

step "README worked example, run as written"
stage "README example" scripts/readme-example.sh

step "docs/rollout.md walk-through, run as written (generated tenant, Graph throttling): straight through, then interrupted and resumed"
stage "rollout example" scripts/rollout-example.sh

step "docs/coverage.md Clients column against the client suites and /openapi.json's operations"
command -v python3 >/dev/null 2>&1 || echo "python3 is needed (scripts/clients/coverage-column.py)" >&2
stage "coverage column" python3 scripts/clients/coverage-column.py

step "Python Graph client suite (msgraph-sdk + azure-identity + MSAL, pinned) over HTTPS, and its retries through --fault-rate 0.3"
# Builds a venv in target/sdk-venv from scripts/clients/python/requirements.txt when it changed;
# skips loudly when python3 or the package index is missing (CI=true or TEAMSAPPS_REQUIRE_SDK=1
# make that a failure).
stage "Python client suite" scripts/clients/python.sh

step "Python package: the teamsapps wheel (maturin, bin bindings) in a fresh venv, its pytest fixture driving msgraph-sdk"
stage "Python package" scripts/packages/python.sh

step "JavaScript Graph client (@microsoft/microsoft-graph-client + @azure/identity, pinned) over HTTPS"
# npm ci from scripts/clients/js/package-lock.json once, then node --test; skips loudly without
# node/npm or the registry (a failure under CI=true or TEAMSAPPS_REQUIRE_SDK=1).
stage "JavaScript client" scripts/clients/js.sh

step "npm package: packages/npm packed, installed into a fresh project, node --test driving @microsoft/microsoft-graph-client (pinned)"
# npm pack, npm install of the tarball and
# @microsoft/microsoft-graph-client 3.0.7 into a temp project, then node --test; skips loudly without
# node/npm or the registry (a failure under CI=true or TEAMSAPPS_REQUIRE_SDK=1).
# The debug binary the earlier stages built: a release build here would be a cold one in CI.
stage "npm package" env TEAMSAPPS_NPM_PROFILE=debug scripts/packages/npm.sh

step "schemathesis (pinned) against /openapi.json: no 5xx, every answer as documented"
# Builds target/schemathesis-venv from scripts/schemathesis/requirements.txt when it changed;
# fuzzes /v1.0 and /beta for about 40 s each (app token), then the catalog writes for 20 s each
# (an admin's delegated token); skips loudly without python3 or the package
# index (a failure under CI=true or TEAMSAPPS_REQUIRE_SCHEMATHESIS=1).
stage schemathesis scripts/schemathesis.sh

step "container image: ./Dockerfile built with podman on a debootstrapped bookworm base, run and checked from the host (TEAMSAPPS_TEST_CONTAINER=1; minutes the first time)"
if [ "${TEAMSAPPS_TEST_CONTAINER:-}" = 1 ]; then
  stage container scripts/container-test.sh
else
  echo "skipped: set TEAMSAPPS_TEST_CONTAINER=1 to build and check the container image"
  skip container
fi

if [ "$postgres" = 0 ]; then
  skip "cargo test (PostgreSQL)"
  printf '\n'
  pg_banner
fi

summary

#!/usr/bin/env bash
# The Python package (packages/python): builds the `teamsapps` wheel with maturin (bin bindings:
# the binary as a wheel script, plus the Python package with its pytest plugin), installs it
# into a fresh virtualenv with pytest and the Graph SDK (pinned: packages/python/tests/
# requirements.txt and scripts/clients/python/requirements.txt), then, from a fresh temporary
# directory as a user's project would, runs a one-test smoke project and the suite in
# packages/python/tests (install and upgrade an app with msgraph-sdk through the `teamsapps`
# fixture, teamsapps_reset, fixture choice, `python -m teamsapps`). Prints how long each step
# took.
#
# The wheel is built in the `dev` profile by default: it reuses the debug artifacts the test
# command has already built, so only the binary is linked again (stripped, ~33 MB instead of
# ~210 MB). TEAMSAPPS_WHEEL_PROFILE=release builds a release wheel (what a published one is)
# into target/release. maturin (pinned: packages/python/build-requirements.txt) lives in its own
# venv, rebuilt when the pin changes. Everything goes under the cargo target directory
# (CARGO_TARGET_DIR or cargo metadata), in python-package/.
#
# Without python3, venv or the package index it says so loudly and skips, unless CI=true or
# TEAMSAPPS_REQUIRE_SDK=1 (then that is a failure).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/target-dir.sh
. scripts/lib/skip.sh

started=$SECONDS
pkg=packages/python
skip() { skip_stage "the Python package ($pkg)" TEAMSAPPS_REQUIRE_SDK "$*"; }
# Seconds since $1 (a `now` value), with one decimal.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

command -v python3 >/dev/null 2>&1 || skip "python3 is not installed (3.9 or later is needed)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
  skip "$(python3 --version 2>&1) is too old (3.9 or later is needed)"

target=$(target_dir)
work=$target/python-package
mkdir -p "$work"

# pip's failures: a package index that cannot be reached (or lacks a pin) skips; anything else
# (a wheel that does not install) fails.
pip_failed() {
  local log=$1 what=$2
  tail -n 8 "$log" >&2
  if grep -qiE 'Could not find a version|No matching distribution|Failed to establish|Connection(Error| refused| reset)|Name or service not known|Temporary failure in name resolution|timed out|ProxyError|SSLError' "$log"; then
    skip "pip could not install $what (is the package index reachable?)"
  fi
  echo "pip could not install $what (log: $log)" >&2
  exit 1
}

# maturin, in a venv of its own kept while its pin is unchanged.
build_venv=$work/build-venv
build_req=$pkg/build-requirements.txt
if ! cmp -s "$build_req" "$build_venv/requirements.txt" 2>/dev/null; then
  rm -rf "$build_venv"
  python3 -m venv "$build_venv" >/dev/null 2>&1 ||
    skip "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"
  "$build_venv/bin/pip" install -q --disable-pip-version-check -r "$build_req" >"$work/build-pip.log" 2>&1 || {
    rm -rf "$build_venv"
    pip_failed "$work/build-pip.log" "$build_req"
  }
  cp "$build_req" "$build_venv/requirements.txt"
fi

# 1. The wheel.
profile=${TEAMSAPPS_WHEEL_PROFILE:-dev}
wheels=$work/wheels
rm -rf "$wheels"
t=$(now)
(cd "$pkg" && "$build_venv/bin/maturin" build --locked --strip --profile "$profile" --out "$wheels") \
  >"$work/maturin.log" 2>&1 || {
  tail -n 40 "$work/maturin.log" >&2
  echo "maturin could not build the wheel (log: $work/maturin.log)" >&2
  exit 1
}
wheel_build=$(since "$t")
wheel=$(ls "$wheels"/teamsapps-*.whl)
# maturin's `cargo rustc ... -C strip=symbols` put its stripped binary at target/<profile>/teamsapps
# too; give the other stages back cargo's own (a hard link when nothing changed).
case $profile in
  dev) cargo build -q -p teamsapps --locked ;;
  release) cargo build -q --release -p teamsapps --locked ;;
esac
echo "wheel ($profile profile): $(basename "$wheel"), $(du -h "$wheel" | cut -f1), built in ${wheel_build} s"

# 2. A fresh virtualenv, as a new user's: the wheel and pytest, then the Graph SDK.
venv=$work/venv
rm -rf "$venv"
python3 -m venv "$venv" >/dev/null 2>&1 || skip "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"
pip=("$venv/bin/pip" install -q --disable-pip-version-check)
t=$(now)
"${pip[@]}" "$wheel" -r "$pkg/tests/requirements.txt" >"$work/pip.log" 2>&1 ||
  pip_failed "$work/pip.log" "the wheel and $pkg/tests/requirements.txt"
pip_install=$(since "$t")
t=$(now)
# --no-compile: msgraph-sdk is thousands of modules; byte-compiling them all at install takes
# longer (about 30 s against 14 s here) than the tests take to import the few they use.
"${pip[@]}" --no-compile -r scripts/clients/python/requirements.txt >"$work/pip-sdk.log" 2>&1 ||
  pip_failed "$work/pip-sdk.log" scripts/clients/python/requirements.txt
pip_sdk=$(since "$t")
[ -x "$venv/bin/teamsapps" ] || { echo "the wheel did not install $venv/bin/teamsapps" >&2; exit 1; }
echo "pip install: the wheel + pytest ${pip_install} s, the Graph SDK ${pip_sdk} s"

# 3. Projects outside the repository: a fresh temporary directory each, the venv activated, no
#    TEAMSAPPS_* from the caller's environment.
project=$(mktemp -d)
trap 'rm -rf "$project"' EXIT
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(TEAMSAPPS_[A-Z_]*\)=.*/\1/p')
export VIRTUAL_ENV=$venv PATH=$venv/bin:$PATH
unset PYTHONPATH PYTHONHOME
[ "$(command -v teamsapps)" = "$venv/bin/teamsapps" ] || {
  echo "teamsapps on PATH is $(command -v teamsapps), not the venv's" >&2
  exit 1
}

# A one-test project: what `pip install teamsapps pytest` and a test file give a new user.
mkdir "$project/smoke"
cat >"$project/smoke/test_smoke.py" <<'EOF'
def test_smoke(teamsapps):
    apps = teamsapps.request("GET", "/v1.0/appCatalogs/teamsApps").raise_for_status().json()
    assert [a["displayName"] for a in apps["value"]] == ["OneNote"]
EOF
t=$(now)
(cd "$project/smoke" && python -m pytest -q -p no:cacheprovider) >"$work/smoke.log" 2>&1 || {
  cat "$work/smoke.log" >&2
  echo "the one-test project failed" >&2
  exit 1
}
smoke=$(since "$t")
first_start=$(sed -n 's/^teamsapps: .* started in \([0-9.]*\) s.*/\1/p' "$work/smoke.log" | head -n1)

# The suite, copied out of the repository, with the test of packages/python/README.md as written.
cp -R "$pkg/tests" "$project/suite"
python3 - "$pkg/README.md" "$project/suite/test_readme_example.py" <<'PY'
import re, sys
section = open(sys.argv[1], encoding="utf-8").read().split("\n## A test\n", 1)[1]
open(sys.argv[2], "w", encoding="utf-8").write(re.search(r"```python\n(.*?)```", section, re.S).group(1))
PY
t=$(now)
if ! (cd "$project/suite" && python -m pytest -q -p no:cacheprovider -rs) 2>&1 | tee "$work/suite.log"; then
  echo "the package suite failed (log: $work/suite.log)" >&2
  exit 1
fi
if grep -qE '[0-9]+ skipped' "$work/suite.log"; then
  echo "the package suite skipped tests (the Graph SDK is installed: nothing may skip)" >&2
  exit 1
fi
suite=$(since "$t")

echo
echo "timings: wheel build ${wheel_build} s ($profile); pip install wheel+pytest ${pip_install} s;" \
  "Graph SDK ${pip_sdk} s; first fixture start ${first_start:-?} s (one-test project ${smoke} s" \
  "wall, pytest included); suite ${suite} s; whole script $((SECONDS - started)) s"
echo "pip install + the first test with the fixture in a fresh project:" \
  "$(awk -v a="$pip_install" -v b="$smoke" 'BEGIN { printf "%.1f", a + b }') s"

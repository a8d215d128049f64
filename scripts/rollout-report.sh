#!/usr/bin/env bash
# Opens a `teamsapps rollout report --format html` page in Debian's headless Chromium and checks
# that it shows what the same journal's JSON report says (scripts/rollout-report/check.mjs:
# summary per scope, a visible bar per scope, state and version, one row per failed or blocked
# target, nothing loaded from elsewhere), and writes a screenshot.
#   scripts/rollout-report.sh REPORT.html REPORT.json SCREENSHOT.png
# Installs what it needs: Debian's chromium package (apt-get, as root) when /usr/bin/chromium is
# missing, and playwright-core from scripts/rollout-report/package-lock.json with `npm ci`. When
# it cannot, it says so loudly and skips, unless CI=true or TEAMSAPPS_REQUIRE_BROWSER=1.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 REPORT.html REPORT.json SCREENSHOT.png" >&2; exit 2; }
html=$(realpath "$1") json=$(realpath "$2") shot=$(realpath -m "$3")
cd "$(dirname "$0")/.."
. scripts/lib/skip.sh
dir=scripts/rollout-report
skip() { skip_stage "the rollout report in Chromium ($dir)" TEAMSAPPS_REQUIRE_BROWSER "$*"; }

command -v node >/dev/null 2>&1 || skip "node is not installed (Node.js 20 or later is needed)"
if [ ! -x /usr/bin/chromium ]; then
  [ "$(id -u)" = 0 ] || skip "/usr/bin/chromium is missing and installing it needs root (apt-get install chromium)"
  log=$(mktemp)
  echo "installing Debian's chromium (apt-get install chromium) for the report check" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    skip "apt-get could not install chromium (are Debian's package mirrors reachable?)"
  fi
  rm -f "$log"
fi
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
node "$dir/check.mjs" "$html" "$json" "$shot"
# The check must be able to fail: against a JSON report with one count changed, it does.
wrong=$(mktemp --suffix=.json)
trap 'rm -f "$wrong"' EXIT
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const scope = Object.keys(r.summary)[0], result = Object.keys(r.summary[scope])[0];
  r.summary[scope][result] += 1;
  require("fs").writeFileSync(process.argv[2], JSON.stringify(r));' "$json" "$wrong"
if node "$dir/check.mjs" "$html" "$wrong" "${shot%.png}-wrong.png" 2>/dev/null; then
  echo "the report check passed a JSON report that disagrees with the page" >&2
  exit 1
fi
echo "report check: a disagreeing JSON report is caught"

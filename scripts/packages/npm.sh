#!/usr/bin/env bash
# The `teamsapps` npm package (packages/npm) as a user gets it: builds the binary, stages it into
# packages/npm/native/<platform>-<arch>/ (git-ignored), packs the package with `npm pack`,
# installs the tarball and the pinned @microsoft/microsoft-graph-client (the version of
# scripts/clients/js/package.json) into a fresh project in a temporary directory, and runs
# packages/npm/test/upgrade.test.js there with `node --test`: the helper starts teamsapps, the
# Graph client publishes, installs and upgrades an app, and reset() brings the seed state back.
# Prints how long each step took. Without node/npm or the registry it says so loudly and skips,
# unless CI=true or TEAMSAPPS_REQUIRE_SDK=1. Leaves nothing in the repository but the staged
# binary.
#
# The binary is the release profile: the package is what users install and run in their test
# suites (the debug binary is 12 times bigger and slower), and scripts/test.sh has already built
# release for the README example, so this build is normally a no-op. TEAMSAPPS_NPM_PROFILE=debug
# packs the debug binary instead (quick while working on the package itself).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/target-dir.sh
. scripts/lib/skip.sh

pkg=packages/npm
skip() { skip_stage "the npm package test ($pkg)" TEAMSAPPS_REQUIRE_SDK "$*"; }

command -v node >/dev/null 2>&1 || skip "node is not installed (Node.js 20 or later is needed)"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || skip "node $(node --version) is too old (20 or later is needed)"

now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
script_start=$(now)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$PWD/$pkg/fixtures"' EXIT

# 1. The binary.
profile=${TEAMSAPPS_NPM_PROFILE:-release}
case $profile in
  release) flags=(--release) ;;
  debug) flags=() ;;
  *) echo "TEAMSAPPS_NPM_PROFILE must be release or debug, not $profile" >&2; exit 1 ;;
esac
t=$(now)
cargo build -q "${flags[@]}" -p teamsapps --locked
build_s=$(secs "$t" "$(now)")
bin=$(target_dir)/$profile/teamsapps

# 2. Staged where lib/binary.js looks: native/<platform>-<arch>/, without its symbols (the
#    release binary has line tables for backtraces: 100 MB with them, 18 MB without).
platform=$(node -p 'process.platform + "-" + process.arch')
native=$pkg/native/$platform
mkdir -p "$native"
if command -v strip >/dev/null 2>&1; then
  strip -o "$native/teamsapps.tmp" "$bin"
else
  cp "$bin" "$native/teamsapps.tmp"
fi
chmod 755 "$native/teamsapps.tmp"
mv -f "$native/teamsapps.tmp" "$native/teamsapps"
# The fixtures the package ships (demo is the default tenant), for the pack only.
mkdir -p "$pkg/fixtures"
cp fixtures/demo.yaml fixtures/rsc.yaml fixtures/isolation.yaml "$pkg/fixtures/"

# 3. npm pack.
t=$(now)
(cd "$pkg" && npm pack --silent --pack-destination "$tmp") >"$tmp/pack.out"
pack_s=$(secs "$t" "$(now)")
tarball=$tmp/$(tail -n 1 "$tmp/pack.out")
[ -f "$tarball" ] || { cat "$tmp/pack.out" >&2; echo "npm pack made no tarball" >&2; exit 1; }
rm -rf "$pkg/fixtures"
listing=$(tar tzvf "$tarball")
for f in package/bin/teamsapps.js package/index.js package/index.mjs package/index.d.ts \
  package/fixtures/demo.yaml "package/native/$platform/teamsapps"; do
  grep -q " $f\$" <<<"$listing" || { echo "$f is not in $(basename "$tarball"):" >&2; echo "$listing" >&2; exit 1; }
done
grep " package/native/$platform/teamsapps\$" <<<"$listing" | grep -q '^-rwx' ||
  { echo "the packed binary is not executable" >&2; exit 1; }
size_mb=$(du -m "$tarball" | cut -f1)

# 4. A fresh project: the tarball and the Graph client version the JS client suite pins.
graph_version=$(node -p 'require("./scripts/clients/js/package.json").dependencies["@microsoft/microsoft-graph-client"]')
project=$tmp/project
mkdir "$project"
printf '{ "name": "teamsapps-npm-check", "private": true }\n' >"$project/package.json"
t=$(now)
if ! (cd "$project" && npm install --no-audit --no-fund --loglevel=error \
  "$tarball" "@microsoft/microsoft-graph-client@$graph_version") >"$tmp/install.log" 2>&1; then
  tail -n 20 "$tmp/install.log" >&2
  npm ping >/dev/null 2>&1 || skip "npm install could not reach the npm registry"
  echo "npm install of $(basename "$tarball") failed" >&2
  exit 1
fi
install_s=$(secs "$t" "$(now)")
# The first start: node, the helper and a seeded server until GET /_teamsapps/ready answers.
t2=$(now)
(cd "$project" && env -u TEAMSAPPS_BINARY node -e '
  require("teamsapps").startTeamsapps().then(async (ta) => { console.log(ta.tenantId); await ta.stop(); })
  .catch((e) => { console.error(e.message); process.exit(1); });') >/dev/null
end=$(now)
start_s=$(secs "$t2" "$end")
ready_s=$(secs "$t" "$end")

# 5. The test, as a user of the package runs it.
cp "$pkg/test/upgrade.test.js" "$project/"
t=$(now)
(cd "$project" && env -u TEAMSAPPS_BINARY -u NODE_EXTRA_CA_CERTS node --test --test-reporter=spec upgrade.test.js)
test_s=$(secs "$t" "$(now)")

cat <<EOF

npm package: $(basename "$tarball") (${size_mb} MB, $platform, $profile binary), Graph client $graph_version
  cargo build ($profile)          ${build_s} s
  npm pack                       ${pack_s} s
  npm install (fresh project)    ${install_s} s
  first start (node + server)    ${start_s} s
  install + first start          ${ready_s} s
  node --test upgrade.test.js    ${test_s} s
  whole script                   $(secs "$script_start" "$(now)") s
EOF

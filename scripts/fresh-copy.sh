#!/usr/bin/env bash
# Proves the repository stands alone: copies the files git knows (tracked, and new ones not
# ignored) into a fresh temporary directory that has no sibling folders, then runs a quick
# subset of the test command there: the Graph-example conformance suite, the whole-body
# snapshots, the smoke and first-run suites and /openapi.json, and the README's worked example.
# A test, script or build step that reads anything outside the repository (a sibling folder, a
# file of the original checkout) fails here. The copy builds into its own target directory,
# `fresh-copy` inside the caller's (CARGO_TARGET_DIR or cargo metadata), kept between runs:
# sharing the caller's would mix artifacts, since cargo hashes workspace crates by their
# path relative to the workspace, and binaries carry their CARGO_MANIFEST_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/target-dir.sh
target=$(target_dir)

parent=$(mktemp -d)
trap 'rm -rf "$parent"' EXIT
copy=$parent/teamsapps
mkdir "$copy"
# -z: file names with spaces survive; deleted-but-tracked files are skipped.
git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] || continue
  mkdir -p "$copy/$(dirname "$f")"
  cp -p "$f" "$copy/$f"
done
echo "copied $(find "$copy" -type f | wc -l) files into $copy (its parent holds nothing else: $(ls -A "$parent" | tr '\n' ' '))"

cd "$copy"
# A clone is a git repository (the README example checks it leaves no files behind).
git init -q && git add -A && git -c user.name=fresh-copy -c user.email=fresh-copy@localhost commit -qm copy
export CARGO_TARGET_DIR=$target/fresh-copy
cargo test -p teamsapps --locked --test integration -- \
  conformance:: snapshots:: smoke:: first_runs:: openapi::
scripts/readme-example.sh
echo "the copy in a directory without siblings passed: nothing outside the repository is read"

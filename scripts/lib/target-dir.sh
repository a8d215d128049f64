# Sourced by the test and bench scripts. `target_dir` prints cargo's target directory: the
# CARGO_TARGET_DIR a caller set, else what `cargo metadata` says (a build.target-dir in a cargo
# config moves it too), so no script assumes `./target`.
target_dir() {
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    printf '%s\n' "$CARGO_TARGET_DIR"
    return
  fi
  cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

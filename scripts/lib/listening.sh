# Sourced by the test scripts. `wait_listening FILE` waits up to 10 s for teamsapps' stdout
# (FILE) to carry its `listening on URL` line and prints URL (nothing if it never came).
wait_listening() {
  local file=$1
  for _ in $(seq 100); do
    grep -q '^listening on ' "$file" 2>/dev/null && break
    sleep 0.1
  done
  sed -n 's/^listening on \([^ ]*\).*/\1/p' "$file" 2>/dev/null | head -n1
}

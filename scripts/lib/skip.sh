# Sourced by the stages that need tools or package registries this machine may lack.
# skip_stage WHAT REQUIRE_VAR REASON: says loudly that WHAT did not run and why, then exits 0;
# under CI=true, or with REQUIRE_VAR=1 (e.g. TEAMSAPPS_REQUIRE_SDK), a skip is a failure (exit 1).
skip_stage() {
  local what=$1 require=$2 reason=$3 verdict=SKIPPED code=0
  if [ "${CI:-}" = true ] || [ "${!require:-}" = 1 ]; then
    verdict="FAILED (required under CI=true or $require=1)" code=1
  fi
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "!!! $verdict: $what: $reason" >&2
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  exit "$code"
}

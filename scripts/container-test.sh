#!/usr/bin/env bash
# The container image of ./Dockerfile, built and run with podman (Debian's package), checked
# from the host: GET /_teamsapps/health and /_teamsapps/ready answer 200, a token from the
# container's token endpoint (client credentials of the demo.yaml app "Rollout bot") lists the
# catalog (GET /v1.0/appCatalogs/teamsApps?$top=1 answers 200), `podman healthcheck run` (the
# image's HEALTHCHECK) makes the container `healthy`, SIGTERM stops it with status 0, and a
# second, read-only container on the same volume accepts the first one's token (the signing
# key and the database live in the /data volume). Prints `PASS: ...` at the end.
#
# No image registry is reachable from the development machines, so the base is made locally:
# `debootstrap --variant=minbase bookworm` into a tarball cached under the cargo target dir
# (target/container/), `podman import`ed as localhost/teamsapps-base:bookworm-minbase, and
# passed with `podman build --from`, which replaces the Dockerfile's `FROM
# debian:bookworm-slim` (the file itself stays as it is for docker/podman with a registry, and
# the real debian:bookworm-slim of the local store is never shadowed). The first run takes
# about a minute for debootstrap; later runs reuse the tarball/image and take seconds.
# TEAMSAPPS_CONTAINER_BASE=registry builds against the real debian:bookworm-slim instead;
# TEAMSAPPS_CONTAINER_REFRESH_BASE=1 makes the base again; TEAMSAPPS_CONTAINER_MIRROR sets the
# Debian mirror (default http://deb.debian.org/debian).
#
# The binary: `cargo build --release --locked -p teamsapps` (a no-op when it is up to date),
# then $target/release/teamsapps. TEAMSAPPS_CONTAINER_NO_BUILD=1 uses the binary that is there
# without running cargo (it must exist).
#
# Installs podman and debootstrap with apt-get when they are missing (as root; it says so).
# When podman cannot run containers here (not installed and not installable, `podman info`
# fails, or no container starts even with the workarounds below), it says exactly why, with
# podman's own error text, and exits 0 as SKIPPED, unless CI=true and
# TEAMSAPPS_TEST_CONTAINER=1 are both set: then that is a failure.
#
# Workarounds, each applied only when a probe container (`podman run --rm -p 127.0.0.1::8080
# BASE true`) fails with the matching error, and listed in the PASS line. The development VM
# (firecracker, root without CAP_SYS_RESOURCE, cgroup v1 with a cgroup2 hierarchy holding the
# hugetlb controller, no systemd) needs the first two:
#  - `--ulimit nofile=N:N --ulimit nproc=M:M`: podman gives containers nofile=1048576 and a
#    large nproc, which only CAP_SYS_RESOURCE may raise to ("crun: setrlimit `RLIMIT_NOFILE`:
#    Operation not permitted"); N is the shell's hard nofile limit, M its hard nproc limit
#    but at most 32768, which podman lowers its own nproc limit to and so the most it may pass
#    on.
#  - `--runtime runc` (apt-get install runc when missing): crun 1.8 refuses cgroup v1 with
#    controllers in the cgroup2 hierarchy ("crun: cgroups in hybrid mode not supported, drop
#    all controllers from cgroupv2"); runc runs there.
#  - `--cgroup-manager=cgroupfs --events-backend=file` when podman cannot reach systemd/D-Bus
#    (podman already picks both by itself when systemd is not running, as on the VM).
#  - `--network slirp4netns` (apt-get install slirp4netns when missing) when the default
#    bridge network cannot publish a port (CNI/netavark/iptables errors).
# Not needed on the VM: the vfs storage driver (overlay works on its ext4), pasta.
# Also on the VM, without systemd podman cannot schedule the HEALTHCHECK's timer ("unable to
# get systemd connection to add healthchecks", printed by `podman run` and `podman rm`, not
# fatal): the script runs the check itself with `podman healthcheck run`, as the timer would.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/target-dir.sh

banner() { echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2; }
skip() {
  banner
  echo "!!! SKIPPED: the container test (scripts/container-test.sh) cannot run here:" >&2
  local line
  while IFS= read -r line; do echo "!!! $line" >&2; done <<<"$*"
  banner
  if [ "${CI:-}" = true ] && [ "${TEAMSAPPS_TEST_CONTAINER:-}" = 1 ]; then
    echo "!!! CI=true and TEAMSAPPS_TEST_CONTAINER=1: a skipped container test is a failure" >&2
    exit 1
  fi
  exit 0
}
fail() {
  echo "FAIL: container test: $*" >&2
  exit 1
}
step() { printf '\n== %s\n' "$*"; }
start=$SECONDS

# --- podman, debootstrap, curl -------------------------------------------------------------
apt_install() {
  # apt_install PKG...: installs the packages (no recommends), refreshing the lists if needed.
  local pkgs="$*"
  if [ "$(id -u)" != 0 ]; then
    skip "$pkgs: not installed, and installing needs root (apt-get install $pkgs)"
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    skip "$pkgs: not installed, and there is no apt-get to install them with"
  fi
  echo "installing $pkgs with apt-get (missing)"
  local log
  log=$(mktemp)
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1 || true
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1; then
      local tail_text
      tail_text=$(tail -n 5 "$log")
      rm -f "$log"
      skip "apt-get install $pkgs failed:
$tail_text"
    fi
  fi
  rm -f "$log"
}

step "tools"
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "${TEAMSAPPS_CONTAINER_BASE:-local}" != registry ]; then
  # debootstrap lives in /usr/sbin, not always on a non-root PATH.
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
fi
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
debootstrap=$(command -v debootstrap 2>/dev/null || echo /usr/sbin/debootstrap)
echo "$(podman --version); $(curl --version | head -n1 | cut -d' ' -f1,2)"

# Global podman options and `run` options the probe below adds to.
global=()
runopts=()
needed=()
pod() { podman "${global[@]}" "$@"; }

if ! info_err=$(podman info 2>&1 >/dev/null); then
  skip "\`podman info\` fails:
$info_err"
fi
echo "podman: $(pod info --format 'runtime {{.Host.OCIRuntime.Name}}, cgroups {{.Host.CgroupsVersion}} ({{.Host.CgroupManager}}), storage {{.Store.GraphDriverName}}, network {{.Host.NetworkBackend}}, events {{.Host.EventLogger}}' 2>/dev/null || echo '(podman info --format failed)')"

# --- the binary ----------------------------------------------------------------------------
step "the release binary"
target=$(target_dir) # CARGO_TARGET_DIR or cargo metadata, never a fixed ./target
bin=$target/release/teamsapps
if [ "${TEAMSAPPS_CONTAINER_NO_BUILD:-}" = 1 ]; then
  [ -x "$bin" ] || fail "TEAMSAPPS_CONTAINER_NO_BUILD=1 but $bin does not exist"
  echo "TEAMSAPPS_CONTAINER_NO_BUILD=1: using $bin as it is"
else
  cargo build --release --locked -p teamsapps
fi
echo "$bin: $("$bin" --version), $(du -h "$bin" | cut -f1)"

cache=$target/container
mkdir -p "$cache"
run_id=$$
name=teamsapps-ct-$run_id
volume=teamsapps-ct-$run_id
image=localhost/teamsapps:container-test-$run_id
context=$cache/context.$run_id
containers=()
cleanup() {
  local status=$?
  set +e
  for c in "${containers[@]}"; do pod rm -f -t 0 "$c" >/dev/null 2>&1; done
  pod volume rm -f "$volume" >/dev/null 2>&1
  pod rmi -f "$image" >/dev/null 2>&1
  rm -rf "$context" "$cache/rootfs.$run_id" "$cache/base.tar.$run_id"
  exit "$status"
}
trap cleanup EXIT

# --- the base image ------------------------------------------------------------------------
base=localhost/teamsapps-base:bookworm-minbase
tarball=$cache/debian-bookworm-minbase.tar
if [ "${TEAMSAPPS_CONTAINER_BASE:-local}" = registry ]; then
  step "base: debian:bookworm-slim from the registry (TEAMSAPPS_CONTAINER_BASE=registry)"
  base=
else
  step "base: $base (debootstrap --variant=minbase bookworm, cached in $tarball)"
  # One run at a time makes the base; the others wait here, then find it.
  exec 9>"$cache/base.lock"
  flock 9
  if [ "${TEAMSAPPS_CONTAINER_REFRESH_BASE:-}" = 1 ]; then
    echo "TEAMSAPPS_CONTAINER_REFRESH_BASE=1: making the base again"
    rm -f "$tarball"
    pod rmi -f "$base" >/dev/null 2>&1 || true
  fi
  if pod image exists "$base"; then
    echo "$base is in podman's store ($(pod image inspect "$base" --format '{{.Created}}'))"
  else
    if [ ! -s "$tarball" ]; then
      [ "$(id -u)" = 0 ] || skip "debootstrap needs root to make the base image ($tarball is not there)"
      mirror=${TEAMSAPPS_CONTAINER_MIRROR:-http://deb.debian.org/debian}
      rootfs=$cache/rootfs.$run_id
      echo "debootstrap --variant=minbase bookworm $rootfs $mirror (about a minute)"
      t0=$SECONDS
      if ! "$debootstrap" --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1; then
        tail -n 5 "$cache/debootstrap.log" >&2
        skip "debootstrap could not make the Debian base from $mirror (log: $cache/debootstrap.log):
$(tail -n 3 "$cache/debootstrap.log")"
      fi
      # What bookworm-slim leaves out too: the downloaded packages and the package lists.
      rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
      tar --numeric-owner -C "$rootfs" -cf "$cache/base.tar.$run_id" .
      mv "$cache/base.tar.$run_id" "$tarball"
      rm -rf "$rootfs"
      echo "made $tarball ($(du -h "$tarball" | cut -f1)) in $((SECONDS - t0)) s"
    fi
    pod import -q --change 'CMD ["bash"]' "$tarball" "$base" >/dev/null
    echo "imported $tarball as $base"
  fi
  flock -u 9
fi
probe_image=${base:-docker.io/library/debian:bookworm-slim}
if [ -z "$base" ]; then
  pod pull -q "$probe_image" >/dev/null ||
    skip "TEAMSAPPS_CONTAINER_BASE=registry but $probe_image cannot be pulled"
fi

# --- can podman run a container here? ------------------------------------------------------
step "probe: podman run --rm -p 127.0.0.1::8080 $probe_image true"
nofile=$(ulimit -Hn)
if [ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ]; then nofile=1048576; fi
nproc=$(ulimit -Hu)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
attempts=0
while :; do
  attempts=$((attempts + 1))
  if err=$(pod run --rm "${runopts[@]}" -p 127.0.0.1::8080 "$probe_image" true 2>&1); then
    break
  fi
  err=$(printf '%s\n' "$err" | grep -v 'unable to get systemd connection' | tail -n 5)
  echo "probe $attempts failed: $err"
  if [ "$attempts" -ge 6 ]; then
    skip "no container starts, even with the workarounds [${needed[*]:-}]; podman said:
$err"
  fi
  case $err in
    *rlimit*|*RLIMIT*)
      [[ " ${needed[*]:-} " != *" ulimits "* ]] || skip "podman said (with --ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc):
$err"
      runopts+=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
      needed+=(ulimits)
      echo "  -> retrying with --ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc (no CAP_SYS_RESOURCE to raise them)" ;;
    *"hybrid mode"*)
      [[ " ${needed[*]:-} " != *" runc "* ]] || skip "podman said (with --runtime runc):
$err"
      command -v runc >/dev/null 2>&1 || apt_install runc
      global+=(--runtime runc)
      needed+=(runc)
      echo "  -> retrying with --runtime runc (crun refuses this hybrid cgroup setup)" ;;
    *systemd*|*dbus*|*D-Bus*)
      [[ " ${needed[*]:-} " != *" cgroupfs "* ]] || skip "podman said (with --cgroup-manager=cgroupfs --events-backend=file):
$err"
      global+=(--cgroup-manager=cgroupfs --events-backend=file)
      needed+=(cgroupfs)
      echo "  -> retrying with --cgroup-manager=cgroupfs --events-backend=file (no systemd)" ;;
    *CNI*|*cni*|*netavark*|*iptables*|*network*|*port*)
      [[ " ${needed[*]:-} " != *" slirp4netns "* ]] || skip "podman said (with --network slirp4netns):
$err"
      command -v slirp4netns >/dev/null 2>&1 || apt_install slirp4netns
      runopts+=(--network slirp4netns)
      needed+=(slirp4netns)
      echo "  -> retrying with --network slirp4netns (the bridge network cannot publish a port)" ;;
    *)
      skip "podman run fails; podman said:
$err" ;;
  esac
done
echo "a container runs here; workarounds needed: ${needed[*]:-none}"
echo "podman${global[*]:+ ${global[*]}} run ${runopts[*]:-}"

# --- build ---------------------------------------------------------------------------------
step "build $image from ./Dockerfile"
# The context has the layout of the repository root that the Dockerfile's defaults and
# .dockerignore expect (target/release/teamsapps, fixtures/demo.yaml), holding just those two
# files: a hard link to the binary (a copy across filesystems), and the fixture.
rm -rf "$context"
mkdir -p "$context/target/release" "$context/fixtures"
ln -f "$bin" "$context/target/release/teamsapps" 2>/dev/null || cp "$bin" "$context/target/release/teamsapps"
cp fixtures/demo.yaml "$context/fixtures/demo.yaml"
build=(build --format docker --layers=false --network none -f Dockerfile -t "$image")
# --format docker: the OCI format has no HEALTHCHECK. --network none: no RUN step downloads.
if [ -n "$base" ]; then
  build+=(--pull=never --from "$base")
fi
# RUN steps start containers too, so they need the same limits.
for ((i = 0; i < ${#runopts[@]}; i++)); do
  [ "${runopts[$i]}" = --ulimit ] && build+=(--ulimit "${runopts[$((i + 1))]}")
done
t0=$SECONDS
echo "podman${global[*]:+ ${global[*]}} ${build[*]} $context"
pod "${build[@]}" "$context" 2>&1 | sed 's/^/  | /' || fail "podman build failed"
echo "built in $((SECONDS - t0)) s: $(pod image inspect "$image" --format '{{.Id}} {{.Size}} bytes, user {{.Config.User}}, volumes {{json .Config.Volumes}}, ports {{json .Config.ExposedPorts}}')"
hc=$(pod image inspect "$image" --format '{{json .Config.Healthcheck}}')
[[ $hc == *"/_teamsapps/health"* ]] || fail "the image has no HEALTHCHECK on /_teamsapps/health: $hc"
echo "HEALTHCHECK: $hc"
echo "ENV: $(pod image inspect "$image" --format '{{json .Config.Env}}')"

# --- run and check from the host -----------------------------------------------------------
pod volume create "$volume" >/dev/null
# run_container NAME [EXTRA...]: starts it with the port published on 127.0.0.1 (a free one,
# podman picks) and the volume on /data; sets $url.
run_container() {
  local c=$1
  shift
  containers+=("$c")
  pod run -d --name "$c" "${runopts[@]}" -p 127.0.0.1::8080 -v "$volume:/data" "$@" "$image" \
    >/dev/null 2> >(grep -v 'unable to get systemd connection' >&2) ||
    fail "podman run $c failed"
  local hostport
  hostport=$(pod port "$c" 8080/tcp | head -n1)
  [ -n "$hostport" ] || fail "podman port $c 8080/tcp printed nothing"
  url=http://$hostport
  echo "$c: $(pod inspect "$c" --format '{{.Id}}' | cut -c1-12), listening on $url (host) -> 8080 (container)"
  if ! "$bin" admin wait-ready --url "$url" --timeout 30s; then
    pod logs "$c" 2>&1 | tail -n 20 >&2
    fail "$c did not become ready at $url within 30 s"
  fi
}
# expect STATUS WHAT CURL-ARGS...: the answer's status must be STATUS; its body goes to $body.
expect() {
  local want=$1 what=$2 got
  shift 2
  got=$(curl -sS -m 10 -o "$context/body" -w '%{http_code}' "$@") || fail "$what: curl failed"
  body=$(cat "$context/body")
  [ "$got" = "$want" ] || fail "$what: $got, not $want: $body"
  printf '%-58s %s  %.110s\n' "$what" "$got" "$body"
}

step "run $name (volume $volume on /data)"
run_container "$name"
expect 200 "GET /_teamsapps/health" "$url/_teamsapps/health"
expect 200 "GET /_teamsapps/ready" "$url/_teamsapps/ready"
tenant=2f1a6c2e-0000-4000-8000-000000000001 # Contoso in fixtures/demo.yaml
expect 200 "POST /$tenant/oauth2/v2.0/token (client credentials)" \
  "$url/$tenant/oauth2/v2.0/token" -d grant_type=client_credentials \
  -d client_id=11111111-1111-4111-8111-111111111111 -d client_secret=rollout-secret \
  --data-urlencode scope=https://graph.microsoft.com/.default
token=$(printf '%s' "$body" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || fail "no access_token in the token answer: $body"
expect 200 "GET /v1.0/appCatalogs/teamsApps?\$top=1" -g "$url/v1.0/appCatalogs/teamsApps?\$top=1" \
  -H "Authorization: Bearer $token"
[[ $body == *'"displayName":"OneNote"'* ]] || fail "the catalog of demo.yaml (OneNote) is not in the answer"

# The image's HEALTHCHECK, run the way podman's timer (or dockerd) runs it.
hstatus=$(pod healthcheck run "$name" 2>&1) || fail "podman healthcheck run $name: ${hstatus:-unhealthy}"
health=$(pod inspect "$name" --format '{{.State.Health.Status}}' 2>/dev/null ||
  pod inspect "$name" --format '{{.State.Healthcheck.Status}}')
[ "$health" = healthy ] || fail "podman inspect $name says the health is '$health', not healthy"
echo "podman healthcheck run $name: exit 0; podman inspect: State.Health.Status=$health"
whoami=$(pod exec "$name" id)
[[ $whoami == uid=10001* ]] || fail "the server runs as $whoami, not uid 10001"
echo "inside: $whoami; /data: $(pod exec "$name" ls /data | tr '\n' ' ')"

step "stop $name (SIGTERM), then a read-only container on the same volume"
pod stop -t 10 "$name" >/dev/null 2> >(grep -v 'unable to get systemd connection' >&2)
code=$(pod inspect "$name" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || fail "$name exited with $code after SIGTERM, not 0"
echo "$name stopped: exit $code; $(pod logs "$name" 2>&1 | tail -n 2 | sed 's/^[^ ]* *//' | tr '\n' ' ')"
run_container "$name-2" --read-only
expect 200 "GET /v1.0/appCatalogs/teamsApps?\$top=1 (first token)" -g \
  "$url/v1.0/appCatalogs/teamsApps?\$top=1" -H "Authorization: Bearer $token"
pod stop -t 10 "$name-2" >/dev/null 2> >(grep -v 'unable to get systemd connection' >&2)

printf '\nPASS: container test: %s on %s; health, ready, token + %s from the host, HEALTHCHECK healthy, SIGTERM exit 0, data kept in the volume; podman workarounds: %s; %d s\n' \
  "$image" "${base:-debian:bookworm-slim}" "GET /v1.0/appCatalogs/teamsApps?\$top=1" "${needed[*]:-none}" "$((SECONDS - start))"

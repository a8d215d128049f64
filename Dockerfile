# teamsapps in a container: the prebuilt release binary on Debian 12 (bookworm) slim.
#
# Nothing is compiled here: build the binary first on a glibc no newer than bookworm's 2.36
# (Debian 12 itself, as the development and CI machines are), then build from the repository
# root, where .dockerignore keeps the context to the binary and the fixtures:
#
#   cargo build --release --locked -p teamsapps
#   docker build -t teamsapps .                      # or: podman build --format docker -t teamsapps .
#   docker run -d --name teamsapps -p 127.0.0.1:8080:8080 -v teamsapps-data:/data teamsapps
#
# With another cargo target dir: --build-arg TEAMSAPPS_BINARY=path/in/the/context. Podman
# writes OCI images unless told `--format docker`, and the OCI format has no HEALTHCHECK
# (podman warns and drops it). scripts/container-test.sh builds this file unchanged with
# podman on a locally made Debian base and checks the container from the host.
FROM debian:bookworm-slim

# The binary and the seed fixture, as paths in the build context.
ARG TEAMSAPPS_BINARY=target/release/teamsapps
ARG TEAMSAPPS_FIXTURE=fixtures/demo.yaml

# A fixed non-root uid/gid (10001), so a bind-mounted data directory can be chowned to it
# beforehand and Kubernetes' runAsNonRoot can check it. A named volume on /data starts as a
# copy of the image's /data, owned by it.
RUN groupadd --gid 10001 teamsapps \
 && useradd --uid 10001 --gid teamsapps --home-dir /data --no-create-home --no-log-init \
      --shell /usr/sbin/nologin teamsapps \
 && mkdir -p /data /etc/teamsapps \
 && chown teamsapps:teamsapps /data \
 && chmod 0750 /data

# Owned by root, so the server cannot replace them; the binary keeps its 0755 from the context.
COPY ${TEAMSAPPS_BINARY} /usr/local/bin/teamsapps
COPY ${TEAMSAPPS_FIXTURE} /etc/teamsapps/seed.yaml

# What `teamsapps serve` reads (every flag has its TEAMSAPPS_* variable; `teamsapps serve
# --help` lists them all). Listen on every interface of the container, keep the SQLite
# database and the token signing key in the volume, apply the demo tenant at start (idempotent;
# set TEAMSAPPS_SEED= to start empty, or mount another fixture over /etc/teamsapps/seed.yaml).
# Not here on purpose: TEAMSAPPS_ADMIN_KEY (a secret: pass it with -e or a secret store;
# unset, the server makes one and prints it on stderr, i.e. in the container's log) and
# TEAMSAPPS_DATABASE_URL (set it to postgres://... to run stateless nodes, docs/deploy.md).
ENV TEAMSAPPS_LISTEN=0.0.0.0:8080 \
    TEAMSAPPS_DATA=/data \
    TEAMSAPPS_SEED=/etc/teamsapps/seed.yaml \
    TEAMSAPPS_DURABILITY=normal \
    TEAMSAPPS_LOG=info \
    TEAMSAPPS_LOG_FORMAT=text \
    TEAMSAPPS_REQUEST_LOG=on

VOLUME /data
EXPOSE 8080
WORKDIR /data
USER 10001:10001

# Liveness: GET /_teamsapps/health on the port of TEAMSAPPS_LISTEN. Slim has no curl or wget,
# so bash's /dev/tcp sends the request and the status line is read back (plain HTTP). With
# TEAMSAPPS_TLS_CERT set, the binary itself checks instead, over HTTPS to localhost (the name
# `teamsapps cert` certifies), through /_teamsapps/ready. A server listening on one specific
# address other than loopback needs its own HEALTHCHECK.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "port=${TEAMSAPPS_LISTEN##*:}; if [ -n \"${TEAMSAPPS_TLS_CERT:-}\" ]; then exec teamsapps admin wait-ready --url \"https://localhost:$port\" --ca-cert \"$TEAMSAPPS_TLS_CERT\" --timeout 4s; fi; exec 3<>\"/dev/tcp/127.0.0.1/$port\" && printf 'GET /_teamsapps/health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r _ status _ <&3 && [ \"$status\" = 200 ]"]

# SIGTERM (what `docker stop` sends) drains in-flight requests, then exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/teamsapps"]
CMD ["serve"]

"""The rollout benchmark's driver (bench/rollout.sh runs it; stdlib only).

For each size: generates a tenant with `teamsapps fixture generate`, serves it with Graph's
limits scaled by a factor, publishes version 1.1.0 of app 0 (every installation of it behind),
snapshots that state, then times `teamsapps rollout run --scope user,team` in each
configuration, restoring the snapshot (and refilling the buckets) before each. Compares every
run with the ideal time the limits allow for the requests the rollout has to make, and writes
one JSON line per run to the results file. Not a test.
"""

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

BIN = os.environ.get("ROLLOUT_BIN", "")
WORK = os.environ.get("ROLLOUT_WORK", "")
RESULTS = os.environ.get("ROLLOUT_RESULTS", "")
SIZE = int(os.environ.get("ROLLOUT_SIZE", "0"))  # user installations of the app wanted
SCALE = float(os.environ.get("ROLLOUT_SCALE", "1"))
TEAMS = int(os.environ.get("ROLLOUT_TEAMS", "500"))
CHATS = int(os.environ.get("ROLLOUT_CHATS", "0"))
RUNS = os.environ.get("ROLLOUT_RUNS", "plain,batch,faults").split(",")
FAULT_RATE = float(os.environ.get("ROLLOUT_FAULT_RATE", "0.05"))
REPEAT = int(os.environ.get("ROLLOUT_REPEAT", "1"))
ADMIN_KEY = "bench"
CLK = os.sysconf("SC_CLK_TCK")

# Graph's Teams limits (spec 8.2), per app per tenant.
GRAPH = {"get": 60, "postPut": 30, "patch": 30, "delete": 15, "perTenSeconds": 15000,
         "perTeamPerSecond": 4}


def say(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except OSError:
        return None


def machine_busy():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Sampler(threading.Thread):
    """Samples the CPU of the server, the client and the machine every 0.5 s."""

    def __init__(self, server_pid):
        super().__init__(daemon=True)
        self.server_pid = server_pid
        self.client_pid = None
        self.stop_flag = threading.Event()
        self.server_peak = 0.0
        self.samples = []

    def run(self):
        last = (time.monotonic(), cpu_seconds(self.server_pid), machine_busy())
        while not self.stop_flag.wait(0.5):
            now = (time.monotonic(), cpu_seconds(self.server_pid), machine_busy())
            dt = now[0] - last[0]
            if dt > 0 and now[1] is not None and last[1] is not None:
                self.server_peak = max(self.server_peak, (now[1] - last[1]) / dt)
            last = now


def request(method, url, token=None, body=None, ctype=None, form=None):
    headers = {}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = ctype or "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def must(status_body, what):
    status, body = status_body
    if status >= 300:
        raise SystemExit(f"{what} answered {status}: {body}")
    return body


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def limits():
    out = {k: v * SCALE for k, v in GRAPH.items()}
    return {k: (int(v) if float(v).is_integer() else v) for k, v in out.items()}


def settings(fault_rate):
    s = {"throttle": {"mode": "graph", "limits": limits()}}
    if fault_rate:
        s["faults"] = {"rate": fault_rate, "seed": 42}
    return s


def generate():
    """A tenant whose app 0 has about SIZE user installations and sits in every team."""
    # App 0 goes to each user with probability 1/2, and --apps 1 puts it in every team: the
    # other catalog apps would change nothing the rollout does but the team coverage.
    users = 2 * SIZE
    path = f"{WORK}/tenant-{SIZE}.json"
    t0 = time.monotonic()
    subprocess.run([BIN, "fixture", "generate", "--users", str(users), "--teams", str(TEAMS),
                    "--chats", str(CHATS), "--apps", "1", "--seed", "1", "--out", path],
                   check=True, stderr=subprocess.DEVNULL)
    tenant = json.load(open(path))["tenants"][0]
    app = tenant["catalog"][0]["manifest"]
    counts = {"user": 0, "team": 0, "chat": 0}
    for i in tenant["installations"]:
        if i["app"] == app["id"]:
            for k in counts:
                if k in i:
                    counts[k] += 1
    return {
        "path": path,
        "tenant": tenant["id"],
        "client_id": tenant["applications"][0]["appId"],
        "manifest": app,
        "users": len(tenant["users"]),
        "teams": len(tenant["teams"]),
        "chats": len(tenant["chats"]),
        "installations": counts,
        "generate_s": time.monotonic() - t0,
    }


def start_server(fx):
    cfg = f"{WORK}/config-{SIZE}.json"
    with open(cfg, "w") as f:
        json.dump(settings(0), f)
    shutil.rmtree(f"{WORK}/data-{SIZE}", ignore_errors=True)  # a fresh store each time
    port = free_port()
    log = open(f"{WORK}/server-{SIZE}.log", "w")
    env = dict(os.environ, TEAMSAPPS_LOG="info")
    t0 = time.monotonic()
    p = subprocess.Popen(
        [BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data", f"{WORK}/data-{SIZE}",
         "--seed", fx["path"], "--throttle", "graph", "--config", cfg,
         "--admin-key", ADMIN_KEY, "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    line = p.stdout.readline()
    if "listening on" not in line:
        raise SystemExit(f"the server did not start: see {WORK}/server-{SIZE}.log")
    url = line.strip().rsplit(" ", 1)[1]
    return p, url, time.monotonic() - t0


def publish(fx, url):
    """Version 1.1.0 of app 0, published by the tenant's admin through Graph."""
    tok = must(request("POST", f"{url}/{fx['tenant']}/oauth2/v2.0/token", form={
        "grant_type": "password", "client_id": fx["client_id"], "client_secret": "rollout-secret",
        "username": "admin@generated.example", "password": "admin-password",
        "scope": "https://graph.microsoft.com/.default"}), "admin sign-in")["access_token"]
    manifest = f"{WORK}/manifest.json"
    # The fixture's manifest with what a package needs beyond it (icons are generated).
    m = dict(fx["manifest"], version="1.1.0", icons={"color": "color.png",
                                                     "outline": "outline.png"})
    m.setdefault("developer", {"name": "Generated", "websiteUrl": "https://generated.example",
                               "privacyUrl": "https://generated.example/privacy",
                               "termsOfUseUrl": "https://generated.example/terms"})
    with open(manifest, "w") as f:
        json.dump(m, f)
    zip_bytes = subprocess.run([BIN, "package", "--manifest", manifest, "--version", "1.1.0",
                                "--out", "-"], check=True, capture_output=True).stdout
    flt = urllib.parse.quote(f"externalId eq '{fx['manifest']['id']}'")
    apps = must(request("GET", f"{url}/v1.0/appCatalogs/teamsApps?$filter={flt}", tok),
                "catalog lookup")["value"]
    app_id = apps[0]["id"]
    must(request("POST", f"{url}/v1.0/appCatalogs/teamsApps/{app_id}/appDefinitions", tok,
                 zip_bytes, "application/zip"), "publishing 1.1.0")
    return app_id


def control(url, method, path, body=None):
    return must(request(method, f"{url}/_teamsapps/{path}", ADMIN_KEY, body), f"{method} {path}")


def count_requests(log_path, offset):
    """Requests the server answered since `offset` of its log (one `teamsapps::request` line
    each, batch items included), by status, and the server time they took."""
    c = {"requests": 0, "by_status": {}, "latency_s": 0.0}
    with open(log_path) as f:
        f.seek(offset)
        for line in f:
            if '"teamsapps::request"' not in line:
                continue
            try:
                fields = json.loads(line).get("fields", {})
            except ValueError:
                continue
            c["requests"] += 1
            st = str(fields.get("status"))
            c["by_status"][st] = c["by_status"].get(st, 0) + 1
            c["latency_s"] += fields.get("latency_us", 0) / 1e6
    c["429"] = c["by_status"].get("429", 0)
    c["5xx"] = sum(n for st, n in c["by_status"].items() if st.startswith("5"))
    return c


def ideal(fx, batch, fault_rate, lim=None):
    """Seconds the limits allow, at best, for the requests the rollout makes, by phase.

    Discovery: the catalog lookup, GET /users pages ($top=999), one GET installedApps per
    user, GET /teams pages, one GET installedApps per team, all at the GET limit. Upgrades:
    one POST per installation at the POST limit (with --batch each item takes a token; the
    $batch request itself takes none, as measured: its items go through at the POST limit),
    while the read-backs (one GET per upgraded
    installation) spend the GET budget beside them. Each class's bucket holds one second's
    worth and starts full; the discovery ends before the first upgrade (as `rollout run` does),
    so the POST bucket is full when the upgrades start. The 10-second cap (all classes
    together) and the per-team limit are checked too. With faults every count is divided by
    (1 - rate): a refused request has used its tokens."""
    lim = lim or limits()
    u, t = fx["users"], fx["teams"]
    n = fx["installations"]["user"] + fx["installations"]["team"]
    k = 1 / (1 - fault_rate)
    gets = (1 + math.ceil(u / 999) + u + math.ceil(t / 999) + t) * k
    posts = n * k  # the same with --batch
    reads = n * k

    def bucket(count, rate):
        return max(0.0, (count - rate) / rate)

    discovery = bucket(gets, lim["get"])
    upgrade = max(bucket(posts, lim["postPut"]), bucket(reads, lim["get"]))
    # The cap over all classes: 10 s' worth in the bucket, refilled at a tenth of it a second.
    cap = max(0.0, (gets + posts + reads - lim["perTenSeconds"]) / (lim["perTenSeconds"] / 10))
    # Per team: at most 3 requests (a read, an upgrade, a read-back), 4 x scale a second.
    team = 3 * k / lim["perTeamPerSecond"]
    total = max(discovery + upgrade, cap, team)
    return {"phases": {"discovery": discovery, "upgrade": upgrade, "final": 0.0},
            "total": total, "cap_s": cap, "team_s": team,
            "binding": "GET then POST limits" if total == discovery + upgrade else "other",
            "gets": gets, "posts": posts, "reads": reads}


def run_rollout(fx, url, label, batch, server_pid, log_path):
    journal = f"{WORK}/journal-{SIZE}-{label}.db"
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(journal + suffix)
        except FileNotFoundError:
            pass
    cmd = [BIN, "rollout", "run", "--journal", journal, "--graph", url, "--authority", url,
           "--tenant", fx["tenant"], "--client-id", fx["client_id"], "--app", fx["app_id"],
           "--scope", "user,team"]
    if batch:
        cmd.append("--batch")
    env = dict(os.environ, TEAMSAPPS_ROLLOUT_CLIENT_SECRET="rollout-secret", TEAMSAPPS_LOG="info",
               TEAMSAPPS_LOG_FORMAT="text", NO_COLOR="1")
    offset = os.path.getsize(log_path)
    load_before = loadavg()
    busy0 = machine_busy()
    s0 = cpu_seconds(server_pid)
    sampler = Sampler(server_pid)
    sampler.start()
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                         text=True)
    sampler.client_pid = p.pid
    marks = {}
    lines = []
    for line in p.stderr:
        now = time.monotonic() - t0
        lines.append(line.rstrip("\n"))
        if "wave starts" in line and "upgrade" not in marks:
            marks["upgrade"] = now
        elif re.match(r"^\d+/\d+ answered", line.strip()) and "upgrade" in marks:
            marks["final"] = now  # the last progress line: upgrades and their read-backs done
    _, status, rusage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    sampler.stop_flag.set()
    sampler.join()
    s1 = cpu_seconds(server_pid)
    busy1 = machine_busy()
    load_after = loadavg()
    c_cpu = rusage.ru_utime + rusage.ru_stime
    rc = os.waitstatus_to_exitcode(status)
    text = "\n".join(lines)
    m = re.search(r"throttled (\d+) time\(s\), (\d+) retries", text)
    states = {}
    for scope, n, state in re.findall(r"^(user|team|chat): (\d+) (\w+)$", text, re.M):
        states[f"{scope} {state}"] = int(n)
    time.sleep(0.3)  # the server's last log lines
    req = count_requests(log_path, offset)
    cores = os.cpu_count() or 1
    machine = (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1) * cores
    server_cpu = (s1 - s0) if s0 is not None and s1 is not None else None
    other = machine - (server_cpu or 0) / wall - c_cpu / wall
    if rc != 0:
        say(f"   rollout exited {rc}; its last lines:\n" + "\n".join(lines[-15:]))
    disc_end = marks.get("upgrade", wall)
    upg_end = marks.get("final", wall)
    return {
        "wall_s": wall,
        "phases_s": {"discovery": disc_end, "upgrade": upg_end - disc_end,
                     "final": wall - upg_end},
        "exit": rc,
        "client_throttled": int(m.group(1)) if m else None,
        "client_retries": int(m.group(2)) if m else None,
        "states": states,
        "server": req,
        "server_cpu_cores": server_cpu / wall if server_cpu is not None else None,
        "server_cpu_peak": sampler.server_peak,
        "client_cpu_cores": c_cpu / wall,
        "other_cores": max(0.0, other),
        "load_before": load_before,
        "load_after": load_after,
    }


def main():
    say(f"size {SIZE}: generating the tenant (about {2 * SIZE} users, {TEAMS} teams, "
        f"{CHATS} chats)")
    fx = generate()
    say(f"   {fx['users']} users, {fx['teams']} teams, {fx['chats']} chats; app 0 installed for "
        f"{fx['installations']['user']} users and in {fx['installations']['team']} teams "
        f"({fx['generate_s']:.1f} s)")
    server, url, start_s = start_server(fx)
    say(f"   server at {url} (seeded in {start_s:.1f} s), limits x{SCALE:g}: {limits()}")
    try:
        fx["app_id"] = publish(fx, url)
        control(url, "POST", "snapshots/published")
        log_path = f"{WORK}/server-{SIZE}.log"
        for rep in range(REPEAT):
            for label in RUNS:
                batch = label == "batch"
                fault = FAULT_RATE if label == "faults" else 0.0
                control(url, "POST", "snapshots/published/restore")
                control(url, "PUT", "settings", settings(fault))  # buckets full again
                say(f"   run {label} (load {loadavg()})")
                r = run_rollout(fx, url, label, batch, server.pid, log_path)
                ide = ideal(fx, batch, fault)
                r.update({
                    "kind": "run", "size": SIZE, "scale": SCALE, "label": label,
                    "fault_rate": fault, "repeat": rep, "limits": limits(),
                    "users": fx["users"], "teams": fx["teams"], "chats": fx["chats"],
                    "installations": fx["installations"], "ideal": ide,
                    "ratio": ide["total"] / r["wall_s"],
                })
                with open(RESULTS, "a") as f:
                    f.write(json.dumps(r) + "\n")
                s = r["server"]
                say(f"     {r['wall_s']:.1f} s (ideal {ide['total']:.1f} s, ratio "
                    f"{r['ratio']:.2f}); phases " + ", ".join(
                        f"{k} {v:.1f}/{ide['phases'][k]:.1f} s"
                        for k, v in r["phases_s"].items())
                    + f"; {s['requests']} requests, "
                    f"statuses {s['by_status']}; client saw {r['client_throttled']} 429s, "
                    f"{r['client_retries']} retries; server CPU {r['server_cpu_cores']:.0%} "
                    f"(peak {r['server_cpu_peak']:.0%}), client {r['client_cpu_cores']:.0%}, "
                    f"other {r['other_cores']:.2f} cores; load {r['load_before']} -> "
                    f"{r['load_after']}; {r['states']}")
    finally:
        server.terminate()
        server.wait()


BEGIN = "<!-- bench/rollout.sh: begin (generated; edits here are overwritten) -->"
END = "<!-- bench/rollout.sh: end -->"


def table(results, machine, settings_line):
    rows = [json.loads(line) for line in open(results) if line.strip()]
    out = [f"Measured by `bench/rollout.sh` on {machine}. Settings: {settings_line}.", ""]
    sizes = sorted({(r["size"], r["scale"]) for r in rows})
    for size, scale in sizes:
        r0 = next(r for r in rows if r["size"] == size and r["scale"] == scale)
        i = r0["installations"]
        out.append(
            f"**{i['user'] + i['team']:,} installations** ({i['user']:,} user, {i['team']} team) "
            f"of app 0 in a tenant of {r0['users']:,} users, {r0['teams']} teams, "
            f"{r0['chats']} chats; Graph's limits x{scale:g}: "
            + ", ".join(f"{k} {v:,}" for k, v in r0["limits"].items()) + ".")
        out.append("")
    out += [
        "| installations | run | wall s | ideal s | ideal / actual | discovery s (ideal) "
        "| upgrades + read-back s (ideal) | final read-back s | requests | 429s | 5xx "
        "| failed | server CPU, mean / peak | client CPU | other work, cores | load before → after |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        i = r["installations"]
        r["ideal"] = ideal(r, r["label"] == "batch", r["fault_rate"], r["limits"])
        r["ratio"] = r["ideal"]["total"] / r["wall_s"]
        ide, ph, sv = r["ideal"], r["phases_s"], r["server"]
        failed = sum(n for k, n in r["states"].items() if k.endswith("failed"))
        label = r["label"] + (f" ({r['fault_rate']:.0%})" if r["fault_rate"] else "")
        if r.get("exit"):
            label += f", exit {r['exit']}"
        goal = "" if r["ratio"] >= 0.9 else " (**< 0.9**)"
        out.append(
            f"| {i['user'] + i['team']:,} | {label} | {r['wall_s']:.1f} | {ide['total']:.1f} "
            f"| {r['ratio']:.2f}{goal} | {ph['discovery']:.1f} ({ide['phases']['discovery']:.1f}) "
            f"| {ph['upgrade']:.1f} ({ide['phases']['upgrade']:.1f}) | {ph['final']:.1f} "
            f"| {sv['requests']:,} | {sv['429']:,} | {sv['5xx']:,} | {failed} "
            f"| {r['server_cpu_cores']:.0%} / {r['server_cpu_peak']:.0%} "
            f"| {r['client_cpu_cores']:.0%} | {r['other_cores']:.2f} "
            f"| {r['load_before']} → {r['load_after']} |")
    out += ["", "Requests, 429s and 5xx are counted from the server's request log (batch items "
            "included); CPU is in cores (100% = one core); "
            "\"other work\" is the machine's busy time during the run less the server's and "
            "the client's, i.e. what else ran on the 2 cores."]
    return "\n".join(out) + "\n"


def doc(path, table_file):
    text = open(path).read()
    block = f"{BEGIN}\n{open(table_file).read()}{END}"
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    elif "## Rollout against the ideal" in text:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        text = text.rstrip("\n") + "\n\n## Rollout against the ideal\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "run"
    if mode == "table":
        sys.stdout.write(table(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif mode == "doc":
        doc(sys.argv[2], sys.argv[3])
    else:
        main()

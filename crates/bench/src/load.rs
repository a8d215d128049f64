//! `teamsapps-bench load`: drives one operation against one server and prints one JSON line.
//!
//! Two modes. Closed loop (`--rate` absent): CONNECTIONS connections each send the next
//! request as soon as the previous answer arrived, for SECONDS or until the requests run out;
//! this measures the maximum rate. Open loop (`--rate R`): request k is due at start + k/R
//! whatever happened before, and its latency counts from when it was handed to the
//! connections, not from when one of them got round to sending it, so a server that falls
//! behind shows it in the percentiles (no coordinated omission). The generator is single-threaded: `bench/perf.sh`
//! pins it to its own core.
//!
//! Requests follow [`crate::data`]: every write names a different installation or user (a
//! scrambled walk over all of them, so neighbouring requests touch distant rows); reads walk
//! the same way and wrap around when they run out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::data::{self, INSTALLED_APPS};
use crate::http1::Conn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Install,
    Upgrade,
    Get,
    List,
    Token,
}

impl Op {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "install" => Op::Install,
            "upgrade" => Op::Upgrade,
            "get" => Op::Get,
            "list" => Op::List,
            "token" => Op::Token,
            _ => bail!("unknown operation {s}: install, upgrade, get, list or token"),
        })
    }

    fn writes(self) -> bool {
        matches!(self, Op::Install | Op::Upgrade)
    }

    fn status(self) -> u16 {
        match self {
            Op::Install => 201,
            Op::Upgrade => 204,
            _ => 200,
        }
    }
}

pub struct Spec {
    pub label: String,
    /// `http://HOST:PORT`
    pub url: String,
    pub op: Op,
    /// Populated users (each with every installed app) and install-pool users after them.
    pub users: usize,
    pub install_users: usize,
    pub connections: usize,
    pub seconds: f64,
    pub rate: Option<f64>,
    /// At most this many requests.
    pub limit: Option<usize>,
    /// Skip the first targets of the walk (used by an earlier run on the same store).
    pub offset: usize,
    /// Wrap around when the targets run out, also for writes (the baseline does no writes).
    pub cycle: bool,
    /// Accept any 2xx instead of the status teamsapps answers (Prism picks its own).
    pub any_2xx: bool,
    /// Bearer token to send; fetched from the server's token endpoint when absent.
    pub token: Option<String>,
    /// Path prefix of the Graph requests (`/v1.0`; Prism serves the spec's paths without it).
    pub prefix: String,
    /// The server's pid: its CPU share and memory during the run are reported.
    pub pid: Option<u32>,
}

/// `x * MUL mod n` is a bijection on `0..n` when MUL and n are coprime: a walk that visits
/// every target once, neighbours far apart.
fn scramble(i: usize, n: usize) -> usize {
    const MUL: u128 = 2_654_435_761; // prime
    let mut m = MUL % n as u128;
    while m == 0 || gcd(m, n as u128) != 1 {
        m += 1;
    }
    ((i as u128 * m) % n as u128) as usize
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The request lines (`METHOD PATH HTTP/1.1\r\n`) of the walk, and how many targets exist.
fn request_lines(spec: &Spec, count: usize) -> (Vec<String>, usize) {
    let p = &spec.prefix;
    let pool = match spec.op {
        Op::Upgrade | Op::Get => spec.users * INSTALLED_APPS,
        Op::List => spec.users,
        Op::Install => spec.install_users,
        Op::Token => 1,
    };
    let apps: Vec<String> = (0..INSTALLED_APPS).map(data::app_id).collect();
    let lines = (0..count)
        .map(|k| {
            let i = scramble((spec.offset + k) % pool, pool);
            match spec.op {
                Op::Upgrade | Op::Get => {
                    let (u, a) = (i % spec.users, i / spec.users);
                    let uid = data::user_id(u);
                    let inst = data::installation_path_id(u, &apps[a]);
                    if spec.op == Op::Upgrade {
                        format!("POST {p}/users/{uid}/teamwork/installedApps/{inst}/upgrade HTTP/1.1\r\n")
                    } else {
                        format!("GET {p}/users/{uid}/teamwork/installedApps/{inst} HTTP/1.1\r\n")
                    }
                }
                Op::List => format!(
                    "GET {p}/users/{}/teamwork/installedApps?$expand=teamsAppDefinition HTTP/1.1\r\n",
                    data::user_id(i)
                ),
                Op::Install => format!(
                    "POST {p}/users/{}/teamwork/installedApps HTTP/1.1\r\n",
                    data::user_id(spec.users + i)
                ),
                Op::Token => format!("POST /{}/oauth2/v2.0/token HTTP/1.1\r\n", data::TENANT),
            }
        })
        .collect();
    (lines, pool)
}

fn token_form() -> String {
    format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        data::CLIENT_ID,
        data::CLIENT_SECRET
    )
}

/// Headers and body after the request line: the same for every request of an operation.
fn request_tail(spec: &Spec, host: &str, token: &str) -> Vec<u8> {
    let (content_type, body) = match spec.op {
        Op::Install => (
            "application/json",
            json!({"teamsApp@odata.bind": format!(
                "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{}",
                data::app_id(INSTALLED_APPS)
            )})
            .to_string(),
        ),
        Op::Token => ("application/x-www-form-urlencoded", token_form()),
        // An empty parameter object: what SDKs send, and what Prism's validation requires.
        Op::Upgrade => ("application/json", "{}".to_string()),
        Op::Get | Op::List => ("", String::new()),
    };
    let mut tail = format!("Host: {host}\r\n");
    if spec.op != Op::Token {
        tail.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if !content_type.is_empty() {
        tail.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if spec.op != Op::Get && spec.op != Op::List {
        tail.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    tail.push_str("\r\n");
    tail.push_str(&body);
    tail.into_bytes()
}

async fn fetch_token(url: &str) -> anyhow::Result<String> {
    let c = reqwest::Client::new();
    let res = c
        .post(format!("{url}/{}/oauth2/v2.0/token", data::TENANT))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(token_form())
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await.context("the token answer is not JSON")?;
    if status != 200 {
        bail!("token: {status} {body}");
    }
    Ok(body["access_token"].as_str().context("no access_token")?.to_string())
}

/// utime + stime of a process, in seconds (clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Busy CPU seconds of the whole machine so far (every core; idle and iowait excluded).
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = f.iter().take(8).sum();
    Some((total - f.get(3)? - f.get(4)?) as f64 / 100.0)
}

/// `VmRSS` and `VmHWM` of a process, in MiB.
pub fn memory_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse::<f64>().ok()
    };
    Some((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
}

struct Outcome {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

pub async fn run(spec: Spec) -> anyhow::Result<Value> {
    let host = spec.url.strip_prefix("http://").context("--url must be http://HOST:PORT")?;
    let host = host.trim_end_matches('/').to_string();
    let token = match (&spec.token, spec.op) {
        (_, Op::Token) => String::new(),
        (Some(t), _) => t.clone(),
        (None, _) => fetch_token(&spec.url).await?,
    };
    // How many distinct requests to prepare: all a write may use (each exactly once), or
    // enough reads to cycle through without the generator noticing.
    let rate_bound = spec.rate.map(|r| (r * spec.seconds) as usize + 1);
    let (probe, pool) = request_lines(&spec, 0);
    drop(probe);
    let mut count = if spec.writes_once() { pool.saturating_sub(spec.offset) } else { pool };
    // Reads wrap around after this many: enough that no cache sees a small working set.
    let read_cap = if spec.writes_once() { usize::MAX } else { 200_000 };
    for bound in [spec.limit, rate_bound, Some(read_cap)].into_iter().flatten() {
        count = count.min(bound);
    }
    if count == 0 {
        bail!("no {:?} targets left (offset {} of {pool})", spec.op, spec.offset);
    }
    let (lines, _) = request_lines(&spec, count);
    let lines = Arc::new(lines);
    let tail = Arc::new(request_tail(&spec, &host, &token));
    // Without --cycle a write stops when its targets run out; reads and the baseline wrap.
    let total = if spec.writes_once() { count } else { spec.limit.unwrap_or(usize::MAX) };

    let mut conns = Vec::with_capacity(spec.connections);
    for _ in 0..spec.connections {
        conns.push(Conn::connect(&host).await?);
    }
    let mut o = Outcome { latencies: Vec::new(), errors: 0, first_error: None };
    let want = spec.op.status();
    let any_2xx = spec.any_2xx;
    let cpu_before = spec.pid.and_then(cpu_seconds);
    let own_before = cpu_seconds(std::process::id());
    let machine_before = machine_busy_seconds();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(spec.seconds);
    let pacing = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let source = match spec.rate {
        None => Source::Closed { next: Arc::new(AtomicUsize::new(0)), total, deadline },
        Some(rate) => {
            // One task keeps the schedule and hands each request, when due, to whichever
            // connection is free; a request no connection is free for waits in the queue,
            // and its latency counts from when it was handed over. The generator's own
            // lateness in handing over (a busy core) is kept apart, in `pacing_p99_ms`.
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let interval = Duration::from_secs_f64(1.0 / rate);
            let lateness = pacing.clone();
            tokio::spawn(async move {
                let mut late = Vec::new();
                for k in 0..total {
                    let due = start + interval * k as u32;
                    if due >= deadline {
                        break;
                    }
                    pace(due).await;
                    let now = Instant::now();
                    late.push(now - due);
                    if tx.send((k, now)).is_err() {
                        break;
                    }
                }
                *lateness.lock().unwrap_or_else(|e| e.into_inner()) = late;
            });
            Source::Open(Arc::new(tokio::sync::Mutex::new(rx)))
        }
    };
    let mut workers = Vec::new();
    for mut conn in conns {
        let (lines, tail, source) = (lines.clone(), tail.clone(), source.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let (mut errors, mut first_error) = (0usize, None::<String>);
            let mut buf = Vec::with_capacity(4096);
            while let Some((k, due)) = source.next().await {
                buf.clear();
                buf.extend_from_slice(lines[k % lines.len()].as_bytes());
                buf.extend_from_slice(&tail);
                match conn.exchange(&buf).await {
                    Ok(s) if s == want || (any_2xx && (200..300).contains(&s)) => {
                        mine.push(due.elapsed())
                    }
                    Ok(s) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("status {s}"));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                        return (mine, errors, first_error);
                    }
                }
            }
            (mine, errors, first_error)
        }));
    }
    for w in workers {
        let (mine, errors, first_error) = w.await?;
        o.latencies.extend(mine);
        o.errors += errors;
        if o.first_error.is_none() {
            o.first_error = first_error;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = match (cpu_before, spec.pid.and_then(cpu_seconds)) {
        (Some(a), Some(b)) => Some((b - a) / elapsed),
        _ => None,
    };
    // What else ran meanwhile, in cores: the machine's busy time less the server's and ours.
    // Anything well above 0 took cores from the pinned processes and disturbed the figures.
    let other = match (machine_before, machine_busy_seconds(), own_before, cpu) {
        (Some(m0), Some(m1), Some(o0), Some(server)) => {
            let own = cpu_seconds(std::process::id()).unwrap_or(o0) - o0;
            Some(((m1 - m0 - own) / elapsed - server).max(0.0))
        }
        _ => None,
    };
    let memory = spec.pid.and_then(memory_mib);
    let mut lat = std::mem::take(&mut o.latencies);
    lat.sort();
    let mut late = std::mem::take(&mut *pacing.lock().unwrap_or_else(|e| e.into_inner()));
    late.sort();
    let pacing_p99 = (!late.is_empty()).then(|| {
        late[((late.len() as f64 * 0.99).ceil() as usize).clamp(1, late.len()) - 1].as_secs_f64()
            * 1000.0
    });
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    Ok(json!({
        "label": spec.label,
        "op": format!("{:?}", spec.op).to_lowercase(),
        "mode": if spec.rate.is_some() { "rate" } else { "max" },
        "target_rate": spec.rate,
        "connections": spec.connections,
        "requests": lat.len(),
        "distinct_targets": lines.len(),
        "errors": o.errors,
        "first_error": o.first_error,
        "seconds": elapsed,
        "rps": lat.len() as f64 / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
        "pacing_p99_ms": pacing_p99,
        "server_cpu": cpu,
        "other_cpu": other,
        "rss_mib": memory.map(|m| m.0),
        "hwm_mib": memory.map(|m| m.1),
    }))
}

/// Where a connection gets its next request and the time it counts latency from.
#[derive(Clone)]
enum Source {
    /// As soon as the connection is free, until `total` requests or the deadline.
    Closed { next: Arc<AtomicUsize>, total: usize, deadline: Instant },
    /// When the schedule says so.
    Open(Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<(usize, Instant)>>>),
}

impl Source {
    async fn next(&self) -> Option<(usize, Instant)> {
        match self {
            Source::Closed { next, total, deadline } => {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                (k < *total && now < *deadline).then_some((k, now))
            }
            Source::Open(rx) => rx.lock().await.recv().await,
        }
    }
}

impl Spec {
    fn writes_once(&self) -> bool {
        self.op.writes() && !self.cycle
    }
}

/// Waits until `due`: the timer for most of the way (it has millisecond granularity), then
/// yielding, so that requests leave at their time rather than in millisecond bursts.
async fn pace(due: Instant) {
    let now = Instant::now();
    if due > now + Duration::from_millis(2) {
        tokio::time::sleep_until((due - Duration::from_millis(1)).into()).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_visits_every_target_once() {
        for n in [1, 2, 20, 500, 10_000, 2_654_435_761 * 2] {
            let k = n.min(10_000);
            let mut seen: Vec<usize> = (0..k).map(|i| scramble(i, n)).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), k, "n = {n}");
            assert!(seen.iter().all(|&x| x < n));
        }
    }

    #[test]
    fn upgrade_requests_name_populated_installations() {
        let spec = Spec {
            label: String::new(),
            url: "http://127.0.0.1:1".into(),
            op: Op::Upgrade,
            users: 3,
            install_users: 0,
            connections: 1,
            seconds: 1.0,
            rate: None,
            limit: None,
            offset: 0,
            cycle: false,
            any_2xx: false,
            token: None,
            prefix: "/v1.0".into(),
            pid: None,
        };
        let (lines, pool) = request_lines(&spec, 60);
        assert_eq!(pool, 60);
        let mut pairs: Vec<(String, String)> = lines
            .iter()
            .map(|l| {
                let id = l.split('/').nth(6).unwrap().replace("%2B", "+").replace("%2F", "/");
                teamsapps_core::ids::parse_installation_id(&id.replace("%3D", "=")).unwrap()
            })
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 60, "every upgrade a different installation");
        assert!(pairs.iter().all(|(u, a)| (0..3).any(|i| *u == data::user_id(i))
            && (0..INSTALLED_APPS).any(|i| *a == data::app_id(i))));
    }
}

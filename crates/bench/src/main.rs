//! `teamsapps-bench`: the load generator of `bench/run.sh` (not a test).
//!
//! - `teamsapps-bench fixture USERS` prints a tenant fixture with USERS users.
//! - `teamsapps-bench run LABEL NODES CONNECTIONS SECONDS APPS USERS` measures upgrade
//!   throughput against running nodes (NODES comma-separated base URLs; load split across them
//!   round robin). Setup, not timed: publish APPS apps, install each in every user's personal
//!   scope, publish a newer version of each. Timed: CONNECTIONS concurrent clients upgrade the
//!   installations, each request a different installation moved to the newer version (a real,
//!   authenticated write), until all are upgraded or SECONDS have passed. Prints one JSON line.
//! - `teamsapps-bench report DOC MACHINE RESULT...` writes the table of the JSON lines (the
//!   first one is SQLite, the reference) into the "PostgreSQL vs SQLite" section of DOC.
//!
//! The commands of `bench/perf.sh` (the benchmark against the bare baseline):
//!
//! - `teamsapps-bench populate DIR USERS INSTALL_USERS` creates a store (see [`data`]).
//! - `teamsapps-bench load --url URL --op OP [--users N] [--install-users N] [...]` drives one
//!   operation and prints one JSON line (see [`load`]; options below).
//! - `teamsapps-bench start LOG PATTERN -- COMMAND...` starts a server, times its start-up.
//! - `teamsapps-bench memory PID` prints the resident memory of a process.

mod data;
mod http1;
mod load;
mod start;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

const TENANT: &str = "2f1a6c2e-0000-4000-8000-00000000be01";
const ADMIN_ID: &str = "5b649834-7412-4cce-9e69-00000000be01";
const CLIENT: (&str, &str) = ("11111111-1111-4111-8111-00000000be01", "bench-secret");
const SECTION: &str = "## PostgreSQL vs SQLite";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, what: &str| -> anyhow::Result<&str> {
        args.get(i).map(String::as_str).with_context(|| format!("missing argument {what}"))
    };
    match arg(0, "command")? {
        "fixture" => {
            print!("{}", fixture(arg(1, "USERS")?.parse()?));
            Ok(())
        }
        // The bench tenant plus a store app installed for every user: the state that reset
        // and restore are timed on.
        "fixture-installed" => {
            let users: usize = arg(1, "USERS")?.parse()?;
            let mut out = fixture(users);
            out.push_str(&format!(
                "    catalog:\n      - distributionMethod: store\n        manifest: {{ \
                 manifestVersion: \"1.17\", id: {STORE_APP}, version: \"1.0.0\", \
                 name: {{ short: Notes }}, description: {{ short: Notes, full: Notes. }}, \
                 staticTabs: [{{ entityId: notes, scopes: [personal] }}] }}\n    installations:\n"
            ));
            for i in 0..users {
                out.push_str(&format!("      - {{ user: {}, app: {STORE_APP} }}\n", user_id(i)));
            }
            print!("{out}");
            Ok(())
        }
        "run" => {
            let nodes: Vec<String> = arg(2, "NODES")?.split(',').map(str::to_string).collect();
            let spec = Spec {
                label: arg(1, "LABEL")?.to_string(),
                nodes,
                connections: arg(3, "CONNECTIONS")?.parse()?,
                duration: Duration::from_secs(arg(4, "SECONDS")?.parse()?),
                apps: arg(5, "APPS")?.parse()?,
                users: arg(6, "USERS")?.parse()?,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let result = runtime.block_on(run(spec))?;
            println!("{result}");
            Ok(())
        }
        "report" => report(arg(1, "DOC")?, arg(2, "MACHINE")?, &args[3..]),
        "populate" => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(data::populate(
                std::path::Path::new(arg(1, "DIR")?),
                arg(2, "USERS")?.parse()?,
                arg(3, "INSTALL_USERS")?.parse()?,
            ))
        }
        "load" => {
            let spec = load_spec(&args[1..])?;
            // One thread: the generator gets one core and must not compete with itself.
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let result = runtime.block_on(load::run(spec))?;
            println!("{result}");
            Ok(())
        }
        "start" => {
            let sep =
                args.iter().position(|a| a == "--").context("start LOG PATTERN -- COMMAND")?;
            start::start(arg(1, "LOG")?, arg(2, "PATTERN")?, &args[sep + 1..])
        }
        "memory" => {
            let (rss, hwm) =
                load::memory_mib(arg(1, "PID")?.parse()?).context("no such process")?;
            println!("{}", json!({"rss_mib": rss, "hwm_mib": hwm}));
            Ok(())
        }
        other => bail!(
            "unknown command {other}: fixture, fixture-installed, run, report, populate, load, \
             start or memory"
        ),
    }
}

/// The options of `load`: `--url URL --op install|upgrade|get|list|token` and optionally
/// `--label L --users N --install-users N --connections N --seconds S --rate R --limit N
/// --offset N --token T --prefix P --pid PID`, and the switches `--cycle`, `--any-2xx`.
fn load_spec(args: &[String]) -> anyhow::Result<load::Spec> {
    let mut opts = std::collections::HashMap::new();
    let mut switches = std::collections::HashSet::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let key = a.strip_prefix("--").with_context(|| format!("unexpected argument {a}"))?;
        if key == "cycle" || key == "any-2xx" {
            switches.insert(key.to_string());
        } else {
            let value = it.next().with_context(|| format!("--{key} needs a value"))?;
            opts.insert(key.to_string(), value.clone());
        }
    }
    fn num<T: std::str::FromStr>(
        opts: &std::collections::HashMap<String, String>,
        key: &str,
    ) -> anyhow::Result<Option<T>> {
        opts.get(key)
            .map(|v| v.parse::<T>().map_err(|_| anyhow::anyhow!("--{key}: not a number: {v}")))
            .transpose()
    }
    let op = load::Op::parse(opts.get("op").context("--op is needed")?)?;
    Ok(load::Spec {
        label: opts.get("label").cloned().unwrap_or_default(),
        url: opts.get("url").context("--url is needed")?.clone(),
        op,
        users: num(&opts, "users")?.unwrap_or(1),
        install_users: num(&opts, "install-users")?.unwrap_or(1),
        connections: num(&opts, "connections")?.unwrap_or(32),
        seconds: num(&opts, "seconds")?.unwrap_or(5.0),
        rate: num(&opts, "rate")?,
        limit: num(&opts, "limit")?,
        offset: num(&opts, "offset")?.unwrap_or(0),
        cycle: switches.contains("cycle"),
        any_2xx: switches.contains("any-2xx"),
        token: opts.get("token").cloned(),
        prefix: opts.get("prefix").cloned().unwrap_or_else(|| "/v1.0".to_string()),
        pid: num(&opts, "pid")?,
    })
}

const STORE_APP: &str = "0d820ecd-def2-4297-adad-78056cde7c78";

fn user_id(i: usize) -> String {
    format!("0000be01-{:04x}-4000-8000-{:012x}", i / 0x10000, i)
}

fn fixture(users: usize) -> String {
    let mut out = format!(
        "tenants:\n  - id: {TENANT}\n    displayName: Bench\n    users:\n      \
         - {{ id: {ADMIN_ID}, userPrincipalName: admin@bench.example, displayName: Admin, \
         password: admin-pw, roles: [TeamsServiceAdministrator] }}\n"
    );
    for i in 0..users {
        out.push_str(&format!(
            "      - {{ id: {}, userPrincipalName: u{i}@bench.example, displayName: U{i} }}\n",
            user_id(i)
        ));
    }
    out.push_str(&format!(
        "    applications:\n      - appId: {}\n        displayName: Bench\n        \
         clientSecret: {}\n        applicationPermissions: [AppCatalog.Read.All, \
         TeamsAppInstallation.ReadWriteAndConsentForUser.All]\n        delegatedPermissions: \
         [AppCatalog.ReadWrite.All]\n",
        CLIENT.0, CLIENT.1
    ));
    out
}

struct Spec {
    label: String,
    nodes: Vec<String>,
    connections: usize,
    duration: Duration,
    apps: usize,
    users: usize,
}

fn manifest(id: &str, version: &str) -> Value {
    json!({
        "manifestVersion": "1.17", "id": id, "version": version,
        "name": {"short": "Bench", "full": "Bench app"},
        "description": {"short": "Benchmark", "full": "Benchmark app."},
        "developer": {"name": "Contoso", "websiteUrl": "https://contoso.example",
                      "privacyUrl": "https://contoso.example/p",
                      "termsOfUseUrl": "https://contoso.example/t"},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "bots": [{"botId": "1f81bb29-bb29-1f81-29bb-811f29bb811f", "scopes": ["personal"]}]
    })
}

fn png(size: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(b"IHDR");
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(b"IEND");
    out.extend_from_slice(&[0xAE, 0x42, 0x60, 0x82]);
    out
}

fn package(manifest: &Value) -> anyhow::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, bytes) in [
        ("manifest.json", manifest.to_string().into_bytes()),
        ("color.png", png(192)),
        ("outline.png", png(32)),
    ] {
        zip.start_file(name, opts)?;
        zip.write_all(&bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

async fn token(c: &reqwest::Client, node: &str, form: &[(&str, &str)]) -> anyhow::Result<String> {
    let res = c.post(format!("{node}/{TENANT}/oauth2/v2.0/token")).form(form).send().await?;
    let status = res.status();
    let body: Value = res.json().await?;
    if status != 200 {
        bail!("token: {status} {body}");
    }
    Ok(body["access_token"].as_str().context("no access_token")?.to_string())
}

async fn expect(res: reqwest::Response, want: u16, what: &str) -> anyhow::Result<Value> {
    let status = res.status().as_u16();
    let text = res.text().await?;
    if status != want {
        bail!("{what}: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Runs `f(i)` for i in 0..n with `concurrency` workers; fails on the first error.
async fn for_each<F, Fut>(n: usize, concurrency: usize, f: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (f, next) = (f.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                f(i).await?;
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    Ok(())
}

async fn run(spec: Spec) -> anyhow::Result<Value> {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(spec.connections * 2)
        .build()?;
    let node0 = spec.nodes[0].clone();
    let app_token = token(
        &c,
        &node0,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT.0),
            ("client_secret", CLIENT.1),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await?;
    let admin = token(
        &c,
        &node0,
        &[
            ("grant_type", "password"),
            ("client_id", CLIENT.0),
            ("client_secret", CLIENT.1),
            ("username", "admin@bench.example"),
            ("password", "admin-pw"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await?;

    // Setup (not timed): apps at 1.0.0 installed for every user, then 1.0.1 published.
    let mut apps = Vec::new();
    for i in 0..spec.apps {
        let mid = format!("00000000-be01-4000-8000-{i:012x}");
        let res = c
            .post(format!("{node0}/v1.0/appCatalogs/teamsApps"))
            .bearer_auth(&admin)
            .header("content-type", "application/zip")
            .body(package(&manifest(&mid, "1.0.0"))?)
            .send()
            .await?;
        let body = expect(res, 201, "publish").await?;
        apps.push((body["id"].as_str().context("app id")?.to_string(), mid));
    }
    let apps = Arc::new(apps);
    let total = spec.users * spec.apps;
    let nodes = Arc::new(spec.nodes.clone());
    {
        let (c, apps, nodes, token) = (c.clone(), apps.clone(), nodes.clone(), app_token.clone());
        let napps = spec.apps;
        for_each(total, spec.connections, move |i| {
            let (c, apps, nodes, token) = (c.clone(), apps.clone(), nodes.clone(), token.clone());
            async move {
                let (user, app) = (i / napps, i % napps);
                let node = &nodes[i % nodes.len()];
                let bind = json!({"teamsApp@odata.bind":
                    format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{}", apps[app].0)});
                let res = c
                    .post(format!("{node}/v1.0/users/{}/teamwork/installedApps", user_id(user)))
                    .bearer_auth(&token)
                    .json(&bind)
                    .send()
                    .await?;
                expect(res, 201, "install").await.map(drop)
            }
        })
        .await?;
    }
    for (app_id, mid) in apps.iter() {
        let res = c
            .post(format!("{node0}/v1.0/appCatalogs/teamsApps/{app_id}/appDefinitions"))
            .bearer_auth(&admin)
            .header("content-type", "application/zip")
            .body(package(&manifest(mid, "1.0.1"))?)
            .send()
            .await?;
        expect(res, 204, "update").await?;
    }

    // Timed: every request upgrades a different installation to 1.0.1.
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + spec.duration;
    let mut workers = Vec::new();
    for _ in 0..spec.connections {
        let (c, apps, nodes, token) = (c.clone(), apps.clone(), nodes.clone(), app_token.clone());
        let (latencies, errors, next) = (latencies.clone(), errors.clone(), next.clone());
        let napps = spec.apps;
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= deadline {
                    break;
                }
                // Interleave users and apps so that neighbouring requests touch different rows.
                let (user, app) = (i % (total / napps), i / (total / napps));
                let inst = installation_id(&user_id(user), &apps[app].0);
                let node = &nodes[i % nodes.len()];
                let url = format!(
                    "{node}/v1.0/users/{}/teamwork/installedApps/{}/upgrade",
                    user_id(user),
                    inst
                );
                let t = Instant::now();
                match c.post(url).bearer_auth(&token).send().await {
                    Ok(res) if res.status() == 204 => mine.push(t.elapsed()),
                    Ok(res) => {
                        let status = res.status();
                        let text = res.text().await.unwrap_or_default();
                        errors.lock().unwrap().push(format!("{status} {text}"));
                    }
                    Err(e) => errors.lock().unwrap().push(e.to_string()),
                }
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    for w in workers {
        w.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat = latencies.lock().unwrap().clone();
    let errors = errors.lock().unwrap().clone();
    if !errors.is_empty() {
        bail!("{} upgrades failed, e.g. {}", errors.len(), errors[0]);
    }
    lat.sort();
    let pct = |p: f64| -> f64 {
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    Ok(json!({
        "label": spec.label,
        "nodes": spec.nodes.len(),
        "connections": spec.connections,
        "requests": lat.len(),
        "seconds": elapsed,
        "rps": lat.len() as f64 / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }))
}

/// `base64({scopeId}##{teamsAppId})`, percent-encoded for the path.
fn installation_id(scope: &str, app: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{scope}##{app}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

fn report(doc: &str, machine: &str, results: &[String]) -> anyhow::Result<()> {
    let rows: Vec<Value> = results
        .iter()
        .map(|r| serde_json::from_str(r).with_context(|| format!("not a result: {r}")))
        .collect::<anyhow::Result<_>>()?;
    let base = rows.first().context("no results")?;
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let mut table = String::from(
        "| backend | nodes | connections | upgrades | req/s | p50 ms | p99 ms | req/s vs SQLite | p50 vs SQLite | p99 vs SQLite |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            r["label"].as_str().unwrap_or("?"),
            r["nodes"],
            r["connections"],
            r["requests"],
            f(r, "rps"),
            f(r, "p50_ms"),
            f(r, "p99_ms"),
            f(r, "rps") / f(base, "rps"),
            f(r, "p50_ms") / f(base, "p50_ms"),
            f(r, "p99_ms") / f(base, "p99_ms"),
        ));
    }
    let section = format!(
        "{SECTION}\n\n\
         Upgrade throughput: every request is an authenticated `POST …/installedApps/{{id}}/upgrade`\n\
         that moves a different installation to a newer version (a real write, one conditional\n\
         `UPDATE`). All three configurations ran in the same run of `bench/run.sh`, on {machine};\n\
         the ratios compare each figure with SQLite's in that run. Release build, default pool\n\
         size (16 per node), load generator, nodes and PostgreSQL on the same machine.\n\n\
         {table}\n\
         Reproduce: `bench/run.sh` (builds the release binaries, starts the nodes, writes this\n\
         section; PostgreSQL at 127.0.0.1:5432, user postgres, or `TEAMSAPPS_BENCH_PG=postgres://…`).\n\
         `BENCH_CONNECTIONS`, `BENCH_SECONDS`, `BENCH_USERS` and `BENCH_APPS` change the load.\n"
    );
    let text = std::fs::read_to_string(doc).unwrap_or_else(|_| {
        "# Performance\n\nMeasured with `bench/run.sh`; numbers depend on the machine.\n"
            .to_string()
    });
    let new = match text.find(SECTION) {
        Some(start) => {
            let rest = &text[start + SECTION.len()..];
            let end = rest.find("\n## ").map(|i| start + SECTION.len() + i + 1);
            match end {
                Some(end) => format!("{}{section}\n{}", &text[..start], &text[end..]),
                None => format!("{}{section}", &text[..start]),
            }
        }
        None => format!("{}\n{section}", text.trim_end_matches('\n').to_string() + "\n"),
    };
    std::fs::write(doc, new).with_context(|| format!("writing {doc}"))?;
    print!("{table}");
    Ok(())
}

//! Several API nodes on one PostgreSQL database (issue 4): real `serve` processes started at
//! once on a fresh database, real HTTP clients.
//!
//! - Tokens and keys are shared: a token from one node is accepted by the other at once, both
//!   end up signing with the same key, and after `teamsapps keys rotate` both sign with the new
//!   key while tokens of the previous one stay valid.
//! - Many concurrent clients race install, upgrade, uninstall, publish and update on the same
//!   users, chats, teams and apps across both nodes; at the end the invariants hold and both
//!   nodes answer the same state.
//!
//! PostgreSQL only: without a reachable server these tests print a loud SKIPPED line (or fail
//! with `TEAMSAPPS_REQUIRE_POSTGRES=1`).

use crate::common::*;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use teamsapps_store_postgres::testing::{self, CreateOptions, TestDatabase};

/// A `teamsapps serve` process on a database URL.
struct Node {
    base: String,
    child: Child,
    log: PathBuf,
}

impl Node {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `n` nodes at once on `url` (all spawned before any is waited for), each seeding the
/// test fixture, and waits for every `listening on` line.
fn start_nodes(url: &str, dir: &Path, n: usize, extra: &[&str]) -> Vec<Node> {
    let mut children = Vec::new();
    for i in 0..n {
        let log = dir.join(format!("node-{i}-{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_teamsapps"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url, "--seed"])
            .arg(fixture_path())
            .args(extra)
            .env("TEAMSAPPS_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("spawn teamsapps serve");
        children.push((child, log));
    }
    children
        .into_iter()
        .map(|(mut child, log)| {
            let stdout = child.stdout.take().expect("stdout");
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
            let Some(base) = line.trim().strip_prefix("listening on ") else {
                let _ = child.kill();
                panic!(
                    "no listening line: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            };
            Node { base: base.to_string(), child, log }
        })
        .collect()
}

/// A fresh database on the test server, or `None` when the test is skipped.
fn fresh_database(test: &str) -> Option<TestDatabase> {
    let admin = testing::server_or_skip(test)?;
    Some(
        TestDatabase::create(&admin, "teamsapps_mn_", &CreateOptions::default())
            .expect("creating the test database"),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

async fn app_token(c: &reqwest::Client, node: &Node, app: (&str, &str)) -> String {
    let res = c
        .post(node.url(&format!("/{TENANT}/oauth2/v2.0/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.0),
            ("client_secret", app.1),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token request");
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "token from {}: {body}", node.base);
    body["access_token"].as_str().unwrap().to_string()
}

async fn admin_token(c: &reqwest::Client, node: &Node) -> String {
    let res = c
        .post(node.url(&format!("/{TENANT}/oauth2/v2.0/token")))
        .form(&[
            ("grant_type", "password"),
            ("client_id", ROLLOUT.0),
            ("client_secret", ROLLOUT.1),
            ("username", "megan@contoso.example"),
            ("password", "megan-pw"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token request");
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "admin token from {}: {body}", node.base);
    body["access_token"].as_str().unwrap().to_string()
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

async fn get_status(c: &reqwest::Client, node: &Node, token: &str, path: &str) -> u16 {
    c.get(node.url(path)).bearer_auth(token).send().await.expect("request").status().as_u16()
}

async fn jwks_kids(c: &reqwest::Client, node: &Node) -> BTreeSet<String> {
    let body: Value = c
        .get(node.url(&format!("/{TENANT}/discovery/v2.0/keys")))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().into()).collect()
}

fn teamsapps(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_teamsapps"))
        .args(args)
        .env("TEAMSAPPS_LOG", "warn")
        .output()
        .expect("run teamsapps")
}

const CATALOG: &str = "/v1.0/appCatalogs/teamsApps";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_are_shared_and_rotation_reaches_every_node() {
    let Some(db) = fresh_database("tokens_are_shared_and_rotation_reaches_every_node") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Both start at once on an empty database: both may generate a key.
    let nodes = start_nodes(db.url(), dir.path(), 2, &["--key-refresh-interval", "1"]);
    let (a, b) = (&nodes[0], &nodes[1]);
    let c = client();

    // A token of one node is accepted by the other immediately, both ways.
    let ta = app_token(&c, a, READER).await;
    let tb = app_token(&c, b, READER).await;
    assert_eq!(get_status(&c, b, &ta, CATALOG).await, 200, "A's token on B\n{}", b.log());
    assert_eq!(get_status(&c, a, &tb, CATALOG).await, 200, "B's token on A\n{}", a.log());

    // Within the refresh interval both sign with the same key and publish the same keys.
    let deadline = Instant::now() + Duration::from_secs(10);
    let first_kid = loop {
        let (ka, kb) =
            (kid_of(&app_token(&c, a, READER).await), kid_of(&app_token(&c, b, READER).await));
        if ka == kb && jwks_kids(&c, a).await == jwks_kids(&c, b).await {
            break ka;
        }
        assert!(Instant::now() < deadline, "the nodes still sign with {ka} and {kb}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let stored = db.query_text("SELECT kid FROM signing_keys").unwrap();
    assert!((1..=2).contains(&stored.len()), "{stored:?}");

    // Tokens of the first key, never shown to a node before the rotation.
    let old_a = app_token(&c, a, READER).await;
    let old_b = app_token(&c, b, READER).await;
    assert_eq!(kid_of(&old_a), first_kid);

    let out = teamsapps(&["keys", "rotate", "--database-url", db.url()]);
    assert!(out.status.success(), "keys rotate: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let new_kid = stdout
        .split_whitespace()
        .skip_while(|w| *w != "key")
        .nth(1)
        .unwrap_or_else(|| panic!("no kid in {stdout:?}"))
        .to_string();
    assert_ne!(new_kid, first_kid);

    // Both nodes sign with the new key within the refresh interval (1 s here).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ka, kb) =
            (kid_of(&app_token(&c, a, READER).await), kid_of(&app_token(&c, b, READER).await));
        if ka == new_kid && kb == new_kid {
            break;
        }
        assert!(Instant::now() < deadline, "after rotate the nodes sign with {ka} and {kb}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for node in [a, b] {
        let kids = jwks_kids(&c, node).await;
        assert!(kids.contains(&first_kid) && kids.contains(&new_kid), "{kids:?}");
        // Tokens of the previous key stay valid on every node; new ones work everywhere.
        for token in [&old_a, &old_b] {
            assert_eq!(get_status(&c, node, token, CATALOG).await, 200, "old token");
        }
        for issuer in [a, b] {
            let token = app_token(&c, issuer, READER).await;
            assert_eq!(kid_of(&token), new_kid);
            assert_eq!(get_status(&c, node, &token, CATALOG).await, 200, "new token");
        }
    }

    let out = teamsapps(&["keys", "list", "--database-url", db.url()]);
    assert!(out.status.success(), "keys list: {}", String::from_utf8_lossy(&out.stderr));
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[0].starts_with(&new_kid) && lines[0].ends_with("signing"), "{listing}");
    assert!(
        lines.iter().any(|l| l.starts_with(&first_kid) && l.contains("accepted until")),
        "{listing}"
    );
    drop(nodes);
}

// --- racing clients ------------------------------------------------------------------------

const CLIENTS: usize = 24;
const READERS: usize = 2;
const RUN_FOR: Duration = Duration::from_secs(8);
const APPS: usize = 3;

fn scope_bases() -> Vec<String> {
    vec![
        format!("/v1.0/users/{MEGAN}/teamwork/installedApps"),
        format!("/v1.0/users/{ADELE}/teamwork/installedApps"),
        format!("/v1.0/users/{LEE}/teamwork/installedApps"),
        format!("/v1.0/chats/{}/installedApps", enc(CHAT)),
        format!("/v1.0/teams/{TEAM}/installedApps"),
    ]
}

/// The patch number of a `1.0.N` version.
fn patch(version: &str) -> u64 {
    version.rsplit('.').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{version}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Install,
    Upgrade,
    Uninstall,
}

/// An acknowledged install, upgrade or uninstall of app `app` in scope `scope`.
#[derive(Debug, Clone)]
struct Acked {
    scope: usize,
    app: usize,
    kind: Kind,
    start: Instant,
    end: Instant,
}

#[derive(Default)]
struct Record {
    acked: Vec<Acked>,
    /// (app index, version) of every acknowledged update.
    updates: Vec<(usize, String)>,
    /// manifest id → (teamsApp id, how many 201s).
    publishes: HashMap<String, (String, usize)>,
    statuses: BTreeMap<String, usize>,
    failures: Vec<String>,
    /// Backward moves seen by the sequential readers.
    regressions: Vec<String>,
    reads: usize,
}

struct Ctx {
    nodes: Vec<String>,
    /// Installs and upgrades (consent in every scope).
    app_token: String,
    /// Uninstalls (ReadWriteFor{User,Chat,Team}.All).
    remover_token: String,
    admin_token: String,
    apps: Vec<(String, String)>, // (teamsApp id, manifest id)
    bases: Vec<String>,
    next_version: AtomicU64,
    record: Mutex<Record>,
    client: reqwest::Client,
}

impl Ctx {
    fn note(&self, what: &str, status: u16, ok: &[u16], body: &str) -> bool {
        let mut r = self.record.lock().unwrap();
        *r.statuses.entry(format!("{what} {status}")).or_default() += 1;
        if !ok.contains(&status) {
            r.failures.push(format!("{what}: {status} {body}"));
        }
        ok.first() == Some(&status)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Option<(u16, String)> {
        match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                Some((status, res.text().await.unwrap_or_default()))
            }
            Err(e) => {
                self.record.lock().unwrap().failures.push(format!("transport: {e}"));
                None
            }
        }
    }
}

/// One racing client: random operations on random scopes and apps, on either node.
async fn racer(ctx: Arc<Ctx>, seed: u64, until: Instant) {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    while Instant::now() < until {
        let node = &ctx.nodes[next(ctx.nodes.len())];
        let (scope, app) = (next(ctx.bases.len()), next(ctx.apps.len()));
        let base = &ctx.bases[scope];
        let (app_id, mid) = &ctx.apps[app];
        let inst = enc(&teamsapps_core::ids::installation_id(scope_id(scope), app_id));
        let c = &ctx.client;
        let start = Instant::now();
        let pick = next(100);
        let acked = if pick < 35 {
            let req =
                c.post(format!("{node}{base}")).bearer_auth(&ctx.app_token).json(&bind(app_id));
            let Some((status, body)) = ctx.send(req).await else { continue };
            // Teams answer 200 (documented), users and chats 201.
            let created = if base.starts_with("/v1.0/teams/") { 200 } else { 201 };
            ctx.note("install", status, &[created, 409], &body).then_some(Kind::Install)
        } else if pick < 60 {
            let req = c.post(format!("{node}{base}/{inst}/upgrade")).bearer_auth(&ctx.app_token);
            let Some((status, body)) = ctx.send(req).await else { continue };
            ctx.note("upgrade", status, &[204, 404], &body).then_some(Kind::Upgrade)
        } else if pick < 80 {
            let req = c.delete(format!("{node}{base}/{inst}")).bearer_auth(&ctx.remover_token);
            let Some((status, body)) = ctx.send(req).await else { continue };
            ctx.note("uninstall", status, &[204, 404], &body).then_some(Kind::Uninstall)
        } else if pick < 95 {
            let version = format!("1.0.{}", ctx.next_version.fetch_add(1, Ordering::SeqCst));
            let req = c
                .post(format!("{node}{CATALOG}/{app_id}/appDefinitions"))
                .bearer_auth(&ctx.admin_token)
                .header("content-type", "application/zip")
                .body(package(&manifest(mid, &version)));
            let Some((status, body)) = ctx.send(req).await else { continue };
            // 400: a racing update published a higher version first.
            if ctx.note("update", status, &[204, 400], &body) {
                ctx.record.lock().unwrap().updates.push((app, version));
            } else if status == 400 && !body.contains("must be greater") {
                ctx.record.lock().unwrap().failures.push(format!("update: 400 {body}"));
            }
            None
        } else {
            // Publish a new app on both nodes at once: exactly one wins.
            let mid = uuid::Uuid::new_v4().to_string();
            let reqs = ctx.nodes.iter().map(|n| {
                c.post(format!("{n}{CATALOG}"))
                    .bearer_auth(&ctx.admin_token)
                    .header("content-type", "application/zip")
                    .body(package(&manifest(&mid, "1.0.0")))
                    .send()
            });
            for res in futures_join_all(reqs).await {
                match res {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let body = res.text().await.unwrap_or_default();
                        if ctx.note("publish", status, &[201, 409], &body) {
                            let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
                                .as_str()
                                .unwrap()
                                .to_string();
                            let mut r = ctx.record.lock().unwrap();
                            let entry = r.publishes.entry(mid.clone()).or_insert((id, 0));
                            entry.1 += 1;
                        }
                    }
                    Err(e) => ctx.record.lock().unwrap().failures.push(format!("transport: {e}")),
                }
            }
            None
        };
        if let Some(kind) = acked {
            let end = Instant::now();
            ctx.record.lock().unwrap().acked.push(Acked { scope, app, kind, start, end });
        }
    }
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

/// The scope id that installation ids are derived from.
fn scope_id(scope: usize) -> &'static str {
    [MEGAN, ADELE, LEE, CHAT, TEAM][scope]
}

/// One sequential reader: lists every scope in turn, alternating nodes; per installation the
/// version it sees never goes down while the installation stays listed.
async fn reader(ctx: Arc<Ctx>, which: usize, until: Instant) {
    let mut last: HashMap<(usize, String), u64> = HashMap::new();
    let mut turn = which;
    while Instant::now() < until {
        for scope in 0..ctx.bases.len() {
            turn += 1;
            let node = &ctx.nodes[turn % ctx.nodes.len()];
            let url = format!("{node}{}?$expand=teamsApp,teamsAppDefinition", ctx.bases[scope]);
            let req = ctx.client.get(url).bearer_auth(&ctx.app_token);
            let Some((status, body)) = ctx.send(req).await else { continue };
            if !ctx.note("list", status, &[200], &body) {
                continue;
            }
            let body: Value = serde_json::from_str(&body).unwrap();
            let mut seen = BTreeSet::new();
            for i in body["value"].as_array().unwrap() {
                let id = i["id"].as_str().unwrap().to_string();
                let Some(version) = i["teamsAppDefinition"]["version"].as_str() else {
                    ctx.record.lock().unwrap().failures.push(format!("no definition: {i}"));
                    continue;
                };
                let v = patch(version);
                if let Some(prev) = last.insert((scope, id.clone()), v) {
                    if v < prev {
                        ctx.record.lock().unwrap().regressions.push(format!(
                            "{}/{id}: {prev} then {v} (from {node})",
                            ctx.bases[scope]
                        ));
                    }
                }
                seen.insert(id);
            }
            last.retain(|(s, id), _| *s != scope || seen.contains(id));
            ctx.record.lock().unwrap().reads += 1;
        }
    }
}

/// The normalised installations of every scope as one node answers them.
async fn installations_of(ctx: &Ctx, node: &str) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for base in &ctx.bases {
        let res = ctx
            .client
            .get(format!("{node}{base}?$expand=teamsApp,teamsAppDefinition"))
            .bearer_auth(&ctx.app_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{node}{base}");
        let body: Value = res.json().await.unwrap();
        let mut items: Vec<Value> = body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                json!({
                    "id": i["id"],
                    "app": i["teamsApp"]["id"],
                    "definition": i["teamsAppDefinition"]["id"],
                    "version": i["teamsAppDefinition"]["version"],
                })
            })
            .collect();
        items.sort_by_key(|i| i["id"].to_string());
        out.insert(base.clone(), items);
    }
    out
}

/// The normalised catalog as one node answers it: app id → (external id, definitions).
async fn catalog_of(ctx: &Ctx, node: &str) -> BTreeMap<String, Value> {
    let res = ctx
        .client
        .get(format!("{node}{CATALOG}?$expand=appDefinitions"))
        .bearer_auth(&ctx.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{node}{CATALOG}");
    let body: Value = res.json().await.unwrap();
    let mut out = BTreeMap::new();
    for a in body["value"].as_array().unwrap() {
        let mut defs: Vec<Value> = a["appDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| json!({"id": d["id"], "version": d["version"], "state": d["publishingState"]}))
            .collect();
        defs.sort_by_key(|d| d["id"].to_string());
        let id = a["id"].as_str().unwrap().to_string();
        out.insert(id, json!({"externalId": a["externalId"], "definitions": defs}));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_clients_on_two_nodes_keep_every_invariant() {
    let Some(db) = fresh_database("racing_clients_on_two_nodes_keep_every_invariant") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_nodes(
        db.url(),
        dir.path(),
        2,
        &["--key-refresh-interval", "1", "--db-pool-size", "8"],
    );
    let c = client();
    let remover_token = app_token(&c, &nodes[1], PLAIN).await;
    let app_token = app_token(&c, &nodes[0], ROLLOUT).await;
    let admin = admin_token(&c, &nodes[1]).await;

    let mut apps = Vec::new();
    for i in 0..APPS {
        let mid = new_manifest_id();
        let res = c
            .post(nodes[i % 2].url(CATALOG))
            .bearer_auth(&admin)
            .header("content-type", "application/zip")
            .body(package(&manifest(&mid, "1.0.0")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        apps.push((body["id"].as_str().unwrap().to_string(), mid));
    }
    let ctx = Arc::new(Ctx {
        nodes: nodes.iter().map(|n| n.base.clone()).collect(),
        app_token,
        remover_token,
        admin_token: admin,
        apps,
        bases: scope_bases(),
        next_version: AtomicU64::new(1),
        record: Mutex::new(Record::default()),
        client: c.clone(),
    });

    let until = Instant::now() + RUN_FOR;
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        tasks.push(tokio::spawn(racer(ctx.clone(), i as u64 + 1, until)));
    }
    for i in 0..READERS {
        tasks.push(tokio::spawn(reader(ctx.clone(), i, until)));
    }
    for t in tasks {
        tokio::time::timeout(RUN_FOR + Duration::from_secs(60), t)
            .await
            .expect("a client is still running a minute after the end")
            .expect("client task");
    }

    // Both nodes answer the same state.
    let (inst_a, inst_b) =
        (installations_of(&ctx, &ctx.nodes[0]).await, installations_of(&ctx, &ctx.nodes[1]).await);
    assert_eq!(inst_a, inst_b, "the nodes answer different installations");
    let (cat_a, cat_b) =
        (catalog_of(&ctx, &ctx.nodes[0]).await, catalog_of(&ctx, &ctx.nodes[1]).await);
    assert_eq!(cat_a, cat_b, "the nodes answer different catalogs");

    let record = std::mem::take(&mut *ctx.record.lock().unwrap());
    let mut problems: Vec<String> = Vec::new();
    problems.extend(record.failures.iter().take(20).cloned());
    problems.extend(record.regressions.iter().take(20).map(|r| format!("version went back: {r}")));

    // Manifest ids are unique in the catalog.
    let mut external = BTreeSet::new();
    for (id, app) in &cat_a {
        let ext = app["externalId"].as_str().unwrap().to_ascii_lowercase();
        if !external.insert(ext.clone()) {
            problems.push(format!("two apps with manifest id {ext} (one is {id})"));
        }
    }
    // At most one installation per scope and app; each points at an existing definition of
    // its app.
    let mut present: BTreeMap<(usize, String), u64> = BTreeMap::new();
    for (scope, base) in ctx.bases.iter().enumerate() {
        let mut apps_here = BTreeSet::new();
        for i in &inst_a[base] {
            let app = i["app"].as_str().unwrap_or_default().to_string();
            if !apps_here.insert(app.clone()) {
                problems.push(format!("{base}: two installations of {app}"));
            }
            let def = i["definition"].as_str().unwrap_or_default();
            let known = cat_a.get(&app).is_some_and(|a| {
                a["definitions"].as_array().unwrap().iter().any(|d| d["id"] == def)
            });
            if !known {
                problems.push(format!("{base}: installation {i} points at no definition"));
            }
            present.insert((scope, app), patch(i["version"].as_str().unwrap_or("x.x")));
        }
    }
    // Every acknowledged update is listed.
    for (app, version) in &record.updates {
        let app_id = &ctx.apps[*app].0;
        let listed = cat_a[app_id]["definitions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["version"] == version.as_str());
        if !listed {
            problems.push(format!("acknowledged update {app_id} {version} is missing"));
        }
    }
    // Every acknowledged publish is listed, and exactly one of each racing pair won.
    for (mid, (id, wins)) in &record.publishes {
        if *wins != 1 {
            problems.push(format!("publish of {mid} acknowledged {wins} times"));
        }
        if cat_a.get(id).and_then(|a| a["externalId"].as_str()) != Some(mid.as_str()) {
            problems.push(format!("acknowledged publish {mid} ({id}) is missing"));
        }
    }
    // Every acknowledged install not later uninstalled is present, and every acknowledged
    // uninstall not later reinstalled is absent. "Later" must be unambiguous: the last
    // acknowledged write of a scope and app must have started after every other one ended.
    let (mut checked, mut ambiguous) = (0usize, 0usize);
    let mut by_key: BTreeMap<(usize, usize), Vec<&Acked>> = BTreeMap::new();
    for a in record.acked.iter().filter(|a| a.kind != Kind::Upgrade) {
        by_key.entry((a.scope, a.app)).or_default().push(a);
    }
    for ((scope, app), ops) in &by_key {
        // The writes that may have been applied last: the last acknowledged one and those that
        // overlap it. When they disagree, the final state may be either.
        let last = ops.iter().max_by_key(|a| a.end).unwrap();
        if ops.iter().any(|o| o.end > last.start && o.kind != last.kind) {
            ambiguous += 1;
            continue;
        }
        checked += 1;
        let app_id = &ctx.apps[*app].0;
        let is_present = present.contains_key(&(*scope, app_id.clone()));
        match last.kind {
            Kind::Install if !is_present => problems.push(format!(
                "{}: acknowledged install of {app_id} is missing",
                ctx.bases[*scope]
            )),
            Kind::Uninstall if is_present => problems.push(format!(
                "{}: acknowledged uninstall of {app_id} is undone",
                ctx.bases[*scope]
            )),
            _ => {}
        }
    }
    let count = |k: Kind| record.acked.iter().filter(|a| a.kind == k).count();
    println!(
        "multinode: {} nodes, {CLIENTS} clients for {:?}: acknowledged {} installs, {} upgrades, \
         {} uninstalls, {} updates, {} publishes; {} sequential reads; {} installations at the \
         end; {checked} scope/app pairs checked against their last acknowledged write \
         ({ambiguous} ambiguous); statuses {:?}",
        ctx.nodes.len(),
        RUN_FOR,
        count(Kind::Install),
        count(Kind::Upgrade),
        count(Kind::Uninstall),
        record.updates.len(),
        record.publishes.len(),
        record.reads,
        present.len(),
        record.statuses,
    );
    assert!(
        problems.is_empty(),
        "{} problems ({} failures, {} regressions):\n{}\n--- node 0 log tail:\n{}",
        problems.len(),
        record.failures.len(),
        record.regressions.len(),
        problems.join("\n"),
        tail(&nodes[0].log()),
    );
    // The run did race: every kind of write was acknowledged many times.
    assert!(count(Kind::Install) >= 20 && count(Kind::Upgrade) >= 20, "too little load");
    assert!(count(Kind::Uninstall) >= 20 && record.updates.len() >= 10, "too little load");
    assert!(!record.publishes.is_empty() && record.reads >= 20, "too little load");
    assert!(checked >= 3, "too few unambiguous checks: {checked} ({ambiguous} ambiguous)");

    // Then, for every scope and app, one install sent to both nodes at once: exactly one is
    // acknowledged and both nodes list it; then one uninstall to both: exactly one is
    // acknowledged and neither node lists it.
    for (scope, base) in ctx.bases.iter().enumerate() {
        for (app_id, _) in &ctx.apps {
            let inst = enc(&teamsapps_core::ids::installation_id(scope_id(scope), app_id));
            let path = format!("{base}/{inst}");
            let _ = c
                .delete(format!("{}{path}", ctx.nodes[0]))
                .bearer_auth(&ctx.remover_token)
                .send()
                .await;
            let created = if base.starts_with("/v1.0/teams/") { 200 } else { 201 };
            for (kind, ok, gone_ok) in [("install", created, 409), ("uninstall", 204, 404)] {
                let reqs = ctx.nodes.iter().map(|n| match kind {
                    "install" => c
                        .post(format!("{n}{base}"))
                        .bearer_auth(&ctx.app_token)
                        .json(&bind(app_id))
                        .send(),
                    _ => c.delete(format!("{n}{path}")).bearer_auth(&ctx.remover_token).send(),
                });
                let statuses: Vec<u16> = futures_join_all(reqs)
                    .await
                    .into_iter()
                    .map(|r| r.expect("request").status().as_u16())
                    .collect();
                let wins = statuses.iter().filter(|s| **s == ok).count();
                let others = statuses.iter().filter(|s| **s == gone_ok).count();
                assert!(wins == 1 && others == 1, "{kind} {path} on both nodes: {statuses:?}");
                for n in &ctx.nodes {
                    let status = get_status_url(&c, &format!("{n}{path}"), &ctx.app_token).await;
                    let want = if kind == "install" { 200 } else { 404 };
                    assert_eq!(status, want, "{n}{path} after the acknowledged {kind}");
                }
            }
        }
    }
}

async fn get_status_url(c: &reqwest::Client, url: &str, token: &str) -> u16 {
    c.get(url).bearer_auth(token).send().await.expect("request").status().as_u16()
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

//! `teamsapps rollout` as a user runs it: the real binary against a real teamsapps server on
//! port 0, seeded with a tenant from `teamsapps fixture generate`, throttled as Graph throttles
//! (limits raised through `--config` to keep the tests short) and failing on purpose. What the
//! rollout did is checked from outside it: the installations read back through Graph, the
//! server's request log (every upgrade the server applied), and the journal file.

use crate::common::graph::Scope;
use crate::common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

const KEY: &str = "rollout-test-admin-key";
const TARGET_VERSION: &str = "2.0.0";
const UPGRADES: [&str; 3] = ["UpgradeAppForUser", "UpgradeAppInChat", "UpgradeAppInTeam"];

/// A generated tenant served by teamsapps, with version 2.0.0 of its most installed app
/// published so that every installation of it is behind.
struct Tenant {
    s: Server,
    dir: tempfile::TempDir,
    fixture: PathBuf,
    extra: Vec<String>,
    tid: String,
    /// The Rollout bot: directory reads, installs and consent in every scope.
    rollout: (String, String),
    /// Personal-scope rollout: upgrades personal installations without consent, reads the rest.
    personal: (String, String),
    /// The app's catalog id and manifest id.
    app: String,
    external: String,
    /// The fixture's installations of the app: (scope, resource id).
    installed: Vec<(String, String)>,
}

struct Setup<'a> {
    users: u32,
    config: &'a str,
    fault_rate: Option<&'a str>,
    rsc: bool,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup { users: 100, config: THROTTLED, fault_rate: None, rsc: false }
    }
}

/// Graph's throttling with the limits raised (a bucket holds a second's worth).
const THROTTLED: &str = "throttle:
  mode: graph
  limits: {get: 300, postPut: 40, patch: 30, delete: 15, perTenSeconds: 15000, perTeamPerSecond: 8}
";

/// As above, and every upgrade takes 150 ms: a run lasts long enough to be interrupted.
const SLOW_UPGRADES: &str = "throttle:
  mode: graph
  limits: {get: 300, postPut: 40, patch: 30, delete: 15, perTenSeconds: 15000, perTeamPerSecond: 8}
faults:
  rules:
    - operations: [UpgradeAppForUser, UpgradeAppInChat, UpgradeAppInTeam]
      rate: 0
      latencyMs: 150
";

impl Tenant {
    async fn new(setup: Setup<'_>) -> Tenant {
        let dir = tempfile::tempdir().unwrap();
        let fixture = dir.path().join("tenant.json");
        let out = Command::new(env!("CARGO_BIN_EXE_teamsapps"))
            .args(["fixture", "generate", "--teams", "10", "--chats", "40", "--apps", "3"])
            .args(["--seed", "13", "--users", &setup.users.to_string()])
            .arg("--out")
            .arg(&fixture)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let generated: Value =
            serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
        let t = &generated["tenants"][0];
        let registration = |i: usize| {
            let a = &t["applications"][i];
            (a["appId"].as_str().unwrap().to_string(), a["clientSecret"].as_str().unwrap().into())
        };
        let external = t["catalog"][0]["manifest"]["id"].as_str().unwrap().to_string();
        let mut installed = Vec::new();
        for i in t["installations"].as_array().unwrap() {
            if i["app"] != external.as_str() {
                continue;
            }
            for scope in ["user", "chat", "team"] {
                if let Some(id) = i[scope].as_str() {
                    installed.push((scope.to_string(), id.to_string()));
                }
            }
        }
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, setup.config).unwrap();
        let mut extra: Vec<String> =
            vec!["--admin-key".into(), KEY.into(), "--config".into(), path_str(&config)];
        if let Some(rate) = setup.fault_rate {
            extra.extend(["--fault-rate".into(), rate.into()]);
        }
        let args: Vec<&str> = extra.iter().map(String::as_str).collect();
        let s = Server::start_seeded(&fixture, &args).await;
        let tid = t["id"].as_str().unwrap().to_string();
        let rollout = registration(0);
        let mut tenant = Tenant {
            s,
            dir,
            fixture,
            extra,
            tid,
            rollout,
            personal: registration(2),
            app: String::new(),
            external,
            installed,
        };
        // The test's own setup is not under test: throttling and faults start after it.
        let settings = tenant.calm().await;
        tenant.publish_new_version(setup.rsc).await;
        tenant.put_settings(&settings).await;
        tenant
    }

    /// Turns throttling and faults off; returns the settings they had.
    async fn calm(&self) -> Value {
        let settings = self.control(Method::GET, "/_teamsapps/settings").await;
        self.put_settings(&json!({"throttle": {"mode": "off"}, "faults": {"rate": 0}})).await;
        settings
    }

    async fn put_settings(&self, settings: &Value) {
        let r =
            self.s.client.put(self.s.url("/_teamsapps/settings")).bearer_auth(KEY).json(settings);
        let r = r.send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    fn rollout_ref(&self) -> (&str, &str) {
        (&self.rollout.0, &self.rollout.1)
    }

    async fn token(&self) -> String {
        self.s.app_token_in(&self.tid, self.rollout_ref()).await
    }

    async fn publish_new_version(&mut self, rsc: bool) {
        let admin = self
            .s
            .user_token_in(
                &self.tid,
                self.rollout_ref(),
                "admin@generated.example",
                "admin-password",
            )
            .await;
        let filter = format!("$filter=externalId eq '{}'", self.external);
        let found = self.s.graph(&admin).list_teams_apps(&filter).await;
        assert_eq!(found.status, 200, "{}", found.body);
        self.app = found.body["value"][0]["id"].as_str().unwrap().to_string();
        let mut m = manifest(&self.external, TARGET_VERSION);
        if rsc {
            m = with_rsc(
                m,
                &[
                    ("ChatMessage.Read.Chat", "Application"),
                    ("TeamSettings.Read.Group", "Application"),
                ],
            );
        }
        self.s.update(&admin, &self.app, &m).await;
    }

    fn journal(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `teamsapps rollout ARGS` signed in as `app`, with the server as Graph and authority.
    fn command(&self, app: (&str, &str), args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_teamsapps"));
        cmd.arg("rollout").args(args);
        if !matches!(args.first(), Some(&"status") | Some(&"report") | Some(&"resume")) {
            cmd.args(["--graph", &self.s.base, "--authority", &self.s.base]).args([
                "--tenant",
                &self.tid,
                "--client-id",
                app.0,
            ]);
        }
        cmd.env("TEAMSAPPS_ROLLOUT_CLIENT_SECRET", app.1).env("TEAMSAPPS_LOG", "warn");
        cmd
    }

    fn run(&self, app: (&str, &str), args: &[&str]) -> Output {
        self.command(app, args).output().unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(self.rollout_ref(), args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `plan --app … --json` for the Rollout bot into `journal`.
    fn plan(&self, journal: &Path, app: (&str, &str)) -> Value {
        let out =
            self.run(app, &["plan", "--app", &self.app, "--journal", &path_str(journal), "--json"]);
        assert!(out.status.success(), "plan failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The installed version of the app in each of the fixture's installations, read back
    /// (with throttling and faults off: the test's own reads are not under test).
    async fn versions(&self) -> BTreeMap<(String, String), String> {
        self.calm().await;
        let token = self.token().await;
        let g = self.s.graph(&token);
        let mut out = BTreeMap::new();
        for (scope, id) in &self.installed {
            let query = format!("$expand=teamsAppDefinition&$filter=teamsApp/id eq '{}'", self.app);
            let r = g.list_installed_apps(scope_of(scope, id), &query).await;
            assert_eq!(r.status, 200, "{scope} {id}: {}", r.body);
            let v = r.body["value"][0]["teamsAppDefinition"]["version"].as_str().unwrap_or("none");
            out.insert((scope.clone(), id.clone()), v.to_string());
        }
        out
    }

    async fn control(&self, method: Method, path: &str) -> Value {
        let r = self.s.client.request(method, self.s.url(path)).bearer_auth(KEY).send().await;
        let r = r.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// Upgrades the server applied, per installation path (from its request log).
    async fn applied_upgrades(&self) -> BTreeMap<String, usize> {
        let log = self.control(Method::GET, "/_teamsapps/requests").await;
        let log = log["value"].as_array().unwrap();
        assert!(log.len() < 1000, "the request log is full: counts would be short");
        let mut out = BTreeMap::new();
        for entry in log {
            let op = entry["operation"].as_str().unwrap_or("");
            if UPGRADES.contains(&op) && entry["status"].as_u64().is_some_and(|s| s < 300) {
                let path = decode(entry["path"].as_str().unwrap().trim_end_matches("/upgrade"));
                *out.entry(path).or_insert(0) += 1;
            }
        }
        out
    }

    /// Requests the server refused with 429 or an injected fault, from its request log.
    async fn refused(&self) -> usize {
        let log = self.control(Method::GET, "/_teamsapps/requests").await;
        log["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["status"].as_u64() >= Some(429))
            .count()
    }
}

/// A path with its percent-escapes decoded (ids escape differently on the way).
fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], path.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn scope_of<'a>(scope: &str, id: &'a str) -> Scope<'a> {
    match scope {
        "user" => Scope::User(id),
        "chat" => Scope::Chat(id),
        _ => Scope::Team(id),
    }
}

/// The journal's targets, read with SQLite directly (what a crash left on disk).
fn journal_rows(journal: &Path) -> Vec<Row> {
    let c = rusqlite::Connection::open(journal).unwrap();
    let mut stmt = c
        .prepare(
            "SELECT scope, resource_id, installation_id, state, attempts, repeats, \
             COALESCE(error_code, ''), COALESCE(reason, ''), needs_consent, \
             COALESCE(error_message, ''), COALESCE(verified_version, '') FROM targets ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(Row {
            scope: r.get(0)?,
            resource: r.get(1)?,
            installation: r.get(2)?,
            state: r.get(3)?,
            attempts: r.get(4)?,
            repeats: r.get(5)?,
            error_code: r.get(6)?,
            reason: r.get(7)?,
            needs_consent: r.get::<_, i64>(8)? != 0,
            error_message: r.get(9)?,
            verified: r.get(10)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[derive(Debug, Clone)]
struct Row {
    scope: String,
    resource: String,
    installation: String,
    state: String,
    attempts: i64,
    repeats: i64,
    error_code: String,
    reason: String,
    needs_consent: bool,
    error_message: String,
    /// The version the verify pass read back.
    verified: String,
}

impl Row {
    /// The path the server logs for this target's installation.
    fn path(&self) -> String {
        let path = scope_of(&self.scope, &self.resource).installed_apps();
        decode(&format!("/v1.0{path}/{}", self.installation))
    }
}

fn count(rows: &[Row], state: &str) -> usize {
    rows.iter().filter(|r| r.state == state).count()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Waits until the journal records at least `n` upgraded targets.
fn wait_for_upgraded(journal: &Path, n: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the rollout ended ({status}) before {n} targets were upgraded");
        }
        if journal.exists() {
            let upgraded = std::panic::catch_unwind(|| count(&journal_rows(journal), "upgraded"));
            if upgraded.is_ok_and(|u| u >= n) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no progress in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every installation of the fixture is at the target version, and each was upgraded by the
/// server exactly once more than the journal counts as repeats.
async fn assert_all_upgraded_once(t: &Tenant, journal: &Path) {
    let versions = t.versions().await;
    let behind: Vec<_> = versions.iter().filter(|(_, v)| v.as_str() != TARGET_VERSION).collect();
    assert!(behind.is_empty(), "not upgraded: {behind:?}");
    let rows = journal_rows(journal);
    assert_eq!(rows.len(), t.installed.len(), "the plan found every installation");
    let not: Vec<&Row> = rows.iter().filter(|r| r.state != "upgraded").collect();
    assert!(not.is_empty(), "not upgraded in the journal: {not:#?}");
    let unverified: Vec<&Row> = rows.iter().filter(|r| r.verified != TARGET_VERSION).collect();
    assert!(unverified.is_empty(), "the verify pass read these back otherwise: {unverified:#?}");
    let applied = t.applied_upgrades().await;
    for row in &rows {
        let n = applied.get(&row.path()).copied().unwrap_or(0) as i64;
        // A repeat was in flight at a crash: the server may or may not have applied it.
        assert!((1..=1 + row.repeats).contains(&n), "{row:?} was applied {n} times");
    }
    assert_eq!(
        applied.len(),
        rows.len(),
        "upgrades of installations outside the plan: {applied:?}"
    );
}

#[tokio::test]
async fn a_rollout_upgrades_every_installation_exactly_once_through_throttling_and_faults() {
    let t = Tenant::new(Setup { fault_rate: Some("0.15"), ..Setup::default() }).await;
    let scopes: BTreeMap<&str, usize> =
        t.installed.iter().fold(BTreeMap::new(), |mut m, (s, _)| {
            *m.entry(s.as_str()).or_insert(0) += 1;
            m
        });
    assert!(scopes.len() == 3 && t.installed.len() > 40, "a tenant worth rolling out: {scopes:?}");
    let journal = t.journal("plain.db");
    let plan = t.plan(&journal, t.rollout_ref());
    assert_eq!(plan["targets"], t.installed.len(), "{plan}");
    for row in plan["rows"].as_array().unwrap() {
        assert_eq!((row["current"].as_u64(), row["blocked"].as_u64()), (Some(0), Some(0)), "{row}");
    }
    t.control(Method::DELETE, "/_teamsapps/requests").await;
    let out = t.run(
        t.rollout_ref(),
        &["run", "--journal", &path_str(&journal), "--waves", "10%,50%,100%"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(t.refused().await > 0, "the server never throttled or failed: the test proves nothing");
    assert_all_upgraded_once(&t, &journal).await;
    let rows = journal_rows(&journal);
    assert!(rows.iter().any(|r| r.attempts > 1), "retries are counted in the journal");
    assert!(
        stderr(&out).contains("0 upgraded installation(s) read back at another version"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_batched_rollout_handles_each_item_on_its_own() {
    let t = Tenant::new(Setup { fault_rate: Some("0.15"), ..Setup::default() }).await;
    let journal = t.journal("batch.db");
    t.plan(&journal, t.rollout_ref());
    t.control(Method::DELETE, "/_teamsapps/requests").await;
    let out = t.run(t.rollout_ref(), &["run", "--journal", &path_str(&journal), "--batch"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = t.control(Method::GET, "/_teamsapps/requests").await;
    let batches =
        log["value"].as_array().unwrap().iter().filter(|e| e["path"] == "/v1.0/$batch").count();
    assert!(
        batches > 0 && batches * 2 < t.installed.len(),
        "{batches} batches for {} upgrades",
        t.installed.len()
    );
    assert_all_upgraded_once(&t, &journal).await;
}

#[tokio::test]
async fn a_killed_rollout_resumes_without_losing_or_repeating_acknowledged_upgrades() {
    let t = Tenant::new(Setup { config: SLOW_UPGRADES, ..Setup::default() }).await;
    let journal = t.journal("killed.db");
    t.plan(&journal, t.rollout_ref());
    t.control(Method::DELETE, "/_teamsapps/requests").await;
    let mut child = t.spawn(&["run", "--journal", &path_str(&journal), "--concurrency", "4"]);
    wait_for_upgraded(&journal, 10, &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let after_kill = journal_rows(&journal);
    let (upgraded, in_flight) = (count(&after_kill, "upgraded"), count(&after_kill, "in_flight"));
    assert!(upgraded >= 10 && upgraded < after_kill.len(), "killed mid-run: {upgraded} upgraded");
    assert!(in_flight <= 4, "at most --concurrency in flight: {in_flight}");
    let out = t.run(t.rollout_ref(), &["resume", "--journal", &path_str(&journal)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_all_upgraded_once(&t, &journal).await;
    let rows = journal_rows(&journal);
    let repeats: i64 = rows.iter().map(|r| r.repeats).sum();
    assert!(repeats as usize <= in_flight, "only what was in flight is sent again: {repeats}");
    for (before, after) in after_kill.iter().zip(&rows) {
        if before.state == "upgraded" {
            assert_eq!(after.repeats, 0, "an acknowledged upgrade was sent again: {after:?}");
        }
    }
}

#[tokio::test]
async fn ctrl_c_lets_the_requests_in_flight_finish_and_leaves_a_resumable_journal() {
    let t = Tenant::new(Setup { config: SLOW_UPGRADES, ..Setup::default() }).await;
    let journal = t.journal("interrupted.db");
    t.plan(&journal, t.rollout_ref());
    t.control(Method::DELETE, "/_teamsapps/requests").await;
    let mut child = t.spawn(&["run", "--journal", &path_str(&journal), "--concurrency", "4"]);
    wait_for_upgraded(&journal, 5, &mut child);
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("teamsapps rollout resume --journal"), "{}", stderr(&out));
    let rows = journal_rows(&journal);
    assert_eq!(count(&rows, "in_flight"), 0, "every request in flight was answered: {rows:?}");
    assert!(count(&rows, "pending") > 0, "stopped before the end");
    let out = t.run(t.rollout_ref(), &["resume", "--journal", &path_str(&journal)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_all_upgraded_once(&t, &journal).await;
    assert!(journal_rows(&journal).iter().all(|r| r.repeats == 0), "nothing was sent twice");
}

#[tokio::test]
async fn the_failure_rate_gate_stops_after_a_bad_wave_and_resume_goes_on() {
    let t = Tenant::new(Setup::default()).await;
    let journal = t.journal("gated.db");
    t.plan(&journal, t.rollout_ref());
    // The first wave's first three installations disappear after the plan: 404, for good.
    let rows = journal_rows(&journal);
    let token = t.token().await;
    for row in &rows[..3] {
        let r =
            t.s.graph(&token)
                .uninstall_app(scope_of(&row.scope, &row.resource), &enc(&row.installation))
                .await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let out = t.run(
        t.rollout_ref(),
        &[
            "run",
            "--journal",
            &path_str(&journal),
            "--waves",
            "10%,100%",
            "--max-failure-rate",
            "0.05",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("stopped after wave 1") && message.contains("rollout resume"),
        "{message}"
    );
    let after = journal_rows(&journal);
    let wave = (rows.len() as f64 * 0.1).ceil() as usize;
    assert_eq!(count(&after, "failed"), 3, "{after:?}");
    assert_eq!(count(&after, "upgraded"), wave - 3);
    assert_eq!(count(&after, "pending"), rows.len() - wave, "the later waves were not started");
    for row in &after[..3] {
        assert_eq!(row.error_code, "NotFound", "{row:?}");
        assert!(row.error_message.contains("was not found"), "Graph's message is kept: {row:?}");
        assert_eq!(row.attempts, 1, "a permanent failure is not retried: {row:?}");
    }
    // Resumed, the rest goes through; the exit code still says some failed for good.
    let out = t.run(t.rollout_ref(), &["resume", "--journal", &path_str(&journal)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("--format csv"), "{}", stderr(&out));
    let done = journal_rows(&journal);
    let failed: Vec<&Row> = done.iter().filter(|r| r.state == "failed").collect();
    assert_eq!((failed.len(), count(&done, "upgraded")), (3, rows.len() - 3), "{failed:#?}");
    let csv =
        t.run(t.rollout_ref(), &["report", "--journal", &path_str(&journal), "--format", "csv"]);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert_eq!(csv.lines().count(), rows.len() + 1, "{csv}");
    assert_eq!(
        csv.lines().filter(|l| l.contains(",failed,") && l.contains("NotFound")).count(),
        3,
        "{csv}"
    );
}

#[tokio::test]
async fn the_plan_predicts_blocked_and_consent_needing_targets_as_the_server_answers() {
    let t = Tenant::new(Setup { rsc: true, ..Setup::default() }).await;
    // The personal-scope registration cannot consent, nor write chats or teams.
    let personal = (t.personal.0.as_str(), t.personal.1.as_str());
    let journal = t.journal("personal.db");
    let plan = t.plan(&journal, personal);
    let rows = journal_rows(&journal);
    assert_eq!(count(&rows, "blocked"), rows.len(), "{plan}");
    let reasons = plan["blockedReasons"].as_object().unwrap();
    assert!(
        reasons.keys().any(|r| r.contains("TeamsAppInstallation.ReadWriteAndConsentForUser.All")),
        "{plan}"
    );
    assert!(
        reasons.keys().any(|r| r.contains("TeamsAppInstallation.ReadWriteAndConsentForChat.All")),
        "{plan}"
    );
    // What the plan predicts is what the server answers, for one target of each scope.
    let token = t.s.app_token_in(&t.tid, personal).await;
    let consent = json!({"consentedPermissionSet": {"resourceSpecificPermissions": [
        {"permissionValue": "ChatMessage.Read.Chat", "permissionType": "Application"},
        {"permissionValue": "TeamSettings.Read.Group", "permissionType": "Application"}]}});
    for scope in ["user", "chat", "team"] {
        let row = rows.iter().find(|r| r.scope == scope).unwrap();
        let r = t
            .s
            .graph(&token)
            .upgrade_app(scope_of(scope, &row.resource), &enc(&row.installation), Some(&consent))
            .await;
        assert_eq!(r.status, 403, "{scope}: predicted '{}', answered {}", row.reason, r.body);
    }
    let out = t.run(personal, &["run", "--journal", &path_str(&journal)]);
    assert_eq!(out.status.code(), Some(0), "blocked targets are not failures: {}", stderr(&out));
    assert!(t.versions().await.values().all(|v| v == "1.0.0"), "nothing blocked was attempted");

    // The Rollout bot can: every target needs consent, and without it the server refuses.
    let journal = t.journal("consent.db");
    t.plan(&journal, t.rollout_ref());
    let rows = journal_rows(&journal);
    assert!(rows.iter().all(|r| r.state == "pending" && r.needs_consent), "{rows:?}");
    let token = t.token().await;
    let chat = rows.iter().find(|r| r.scope == "chat").unwrap();
    let r =
        t.s.graph(&token)
            .upgrade_app(Scope::Chat(&chat.resource), &enc(&chat.installation), None)
            .await;
    assert!(r.status.is_client_error(), "an upgrade that needs consent, without it: {}", r.body);
    t.control(Method::DELETE, "/_teamsapps/requests").await;
    let out = t.run(t.rollout_ref(), &["run", "--journal", &path_str(&journal)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_all_upgraded_once(&t, &journal).await;
}

#[tokio::test]
async fn personal_scope_rollout_upgrades_what_its_roles_allow_and_reports_the_rest() {
    let t = Tenant::new(Setup::default()).await;
    let personal = (t.personal.0.as_str(), t.personal.1.as_str());
    let journal = t.journal("personal.db");
    let plan = t.plan(&journal, personal);
    let rows = journal_rows(&journal);
    for row in &rows {
        let expected = if row.scope == "user" { "pending" } else { "blocked" };
        assert_eq!(row.state, expected, "{row:?}");
    }
    let reasons: Vec<&String> = plan["blockedReasons"].as_object().unwrap().keys().collect();
    assert!(
        reasons.iter().any(|r| r.contains("needs TeamsAppInstallation.ReadWriteForTeam.All")),
        "{plan}"
    );
    let out = t.run(personal, &["run", "--journal", &path_str(&journal)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for ((scope, id), v) in t.versions().await {
        let expected = if scope == "user" { TARGET_VERSION } else { "1.0.0" };
        assert_eq!(v, expected, "{scope} {id}");
    }
    let report = t.run(personal, &["report", "--journal", &path_str(&journal), "--format", "json"]);
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["targets"].as_array().unwrap().len(), rows.len());
    assert_eq!(report["summary"]["user"]["upgraded"], count(&rows, "pending"));
    let html = t.dir.path().join("report.html");
    let out = t.run(
        personal,
        &[
            "report",
            "--journal",
            &path_str(&journal),
            "--format",
            "html",
            "--out",
            &path_str(&html),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("<svg") && html.contains("ReadWriteForChat.All"), "{html}");
}

#[tokio::test]
async fn a_revoked_credential_stops_the_run_with_a_clear_error_and_a_resumable_journal() {
    let mut t = Tenant::new(Setup { config: SLOW_UPGRADES, ..Setup::default() }).await;
    let journal = t.journal("revoked.db");
    t.plan(&journal, t.rollout_ref());
    let mut child = t.spawn(&["run", "--journal", &path_str(&journal), "--concurrency", "4"]);
    wait_for_upgraded(&journal, 5, &mut child);
    // The secret is rotated: the same tenant served again on the same port, a new secret.
    let mut fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(&t.fixture).unwrap()).unwrap();
    fixture["tenants"][0]["applications"][0]["clientSecret"] = json!("rotated-secret");
    let rotated = t.dir.path().join("rotated.json");
    std::fs::write(&rotated, fixture.to_string()).unwrap();
    let port = t.s.base.rsplit(':').next().unwrap().to_string();
    let mut extra = t.extra.clone();
    extra.extend(["--listen".into(), format!("127.0.0.1:{port}")]);
    let args: Vec<&str> = extra.iter().map(String::as_str).collect();
    t.s.restart_seeded(&rotated, &args);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("client credentials") && message.contains("rollout resume --journal"),
        "{message}"
    );
    let rows = journal_rows(&journal);
    assert!(count(&rows, "upgraded") >= 5 && count(&rows, "pending") > 0, "{rows:?}");
    // The old secret still fails; the new one finishes the job.
    let out = t.run(t.rollout_ref(), &["resume", "--journal", &path_str(&journal)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    t.rollout.1 = "rotated-secret".into();
    let out = t.run(t.rollout_ref(), &["resume", "--journal", &path_str(&journal)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let behind: Vec<_> =
        t.versions().await.into_iter().filter(|(_, v)| v != TARGET_VERSION).collect();
    assert!(behind.is_empty(), "{behind:?}");
    assert_eq!(count(&journal_rows(&journal), "upgraded"), rows.len());
}

#[tokio::test]
async fn usage_and_sign_in_errors_exit_2_and_say_what_to_do() {
    let t = Tenant::new(Setup { users: 20, ..Setup::default() }).await;
    let journal = path_str(&t.journal("errors.db"));
    let wrong = (t.rollout.0.as_str(), "not-the-secret");
    let cases: Vec<(Output, &str)> = vec![
        (
            t.run(wrong, &["plan", "--app", &t.app, "--journal", &journal]),
            "refused the client credentials",
        ),
        (
            t.run(t.rollout_ref(), &["plan", "--app", "no-such-app", "--journal", &journal]),
            "no app with id or externalId 'no-such-app'",
        ),
        (t.run(t.rollout_ref(), &["plan", "--journal", &journal]), "--app is needed"),
        (
            t.run(
                t.rollout_ref(),
                &["run", "--app", &t.app, "--journal", &journal, "--waves", "50%,10%"],
            ),
            "--waves must grow",
        ),
        (
            t.run(
                t.rollout_ref(),
                &["plan", "--app", &t.app, "--journal", &journal, "--scope", "group"],
            ),
            "unknown scope 'group'",
        ),
        (
            t.run(
                t.rollout_ref(),
                &["plan", "--app", &t.app, "--journal", &journal, "--to-version", "9.9.9"],
            ),
            "no published definition of version 9.9.9",
        ),
        (
            t.run(t.rollout_ref(), &["resume", "--journal", &path_str(&t.journal("missing.db"))]),
            "start with `teamsapps rollout plan`",
        ),
        (
            t.run(t.rollout_ref(), &["status", "--journal", &path_str(&t.journal("missing.db"))]),
            "start with `teamsapps rollout plan`",
        ),
    ];
    for (out, says) in cases {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "expected '{says}' in: {}", stderr(&out));
    }
    // By manifest id too, and a plan JSON with nothing to do once everything is current.
    let plan = t.plan(&t.journal("by-external.db"), t.rollout_ref());
    assert!(plan["targets"].as_u64().unwrap() > 0);
    let out = t.run(
        t.rollout_ref(),
        &["plan", "--app", &t.external, "--journal", &journal, "--to-version", "1.0.0", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan["rows"].as_array().unwrap().iter().all(|r| r["toUpgrade"] == 0), "{plan}");
}

#[tokio::test]
async fn run_plans_first_and_a_targets_file_restricts_the_rollout_to_its_lines() {
    let t = Tenant::new(Setup::default()).await;
    let pick = |scope: &str, n: usize| -> Vec<String> {
        t.installed.iter().filter(|(s, _)| s == scope).take(n).map(|(_, id)| id.clone()).collect()
    };
    let (users, chats, teams) = (pick("user", 3), pick("chat", 1), pick("team", 1));
    let mut csv = String::from("scope,id\n# a comment, then one line per target\n");
    for (scope, ids) in [("user", &users), ("chat", &chats), ("team", &teams)] {
        for id in ids {
            csv.push_str(&format!("{scope},{id}\n"));
        }
    }
    let targets = t.dir.path().join("targets.csv");
    std::fs::write(&targets, csv).unwrap();
    let journal = t.journal("targets.db");
    let out = t.run(
        t.rollout_ref(),
        &[
            "run",
            "--app",
            &t.app,
            "--journal",
            &path_str(&journal),
            "--targets",
            &path_str(&targets),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = journal_rows(&journal);
    let planned: Vec<(String, String)> =
        rows.iter().map(|r| (r.scope.clone(), r.resource.clone())).collect();
    assert_eq!(planned.len(), 5, "{planned:?}");
    for (scope, ids) in [("user", &users), ("chat", &chats), ("team", &teams)] {
        for id in ids {
            assert!(planned.contains(&(scope.to_string(), id.clone())), "{scope} {id}");
        }
    }
    for ((scope, id), v) in t.versions().await {
        let listed = planned.contains(&(scope.clone(), id.clone()));
        assert_eq!(v, if listed { TARGET_VERSION } else { "1.0.0" }, "{scope} {id}");
    }
    // A bad line is refused with its line number, before anything is planned.
    std::fs::write(&targets, "user,a\ngroup,b\n").unwrap();
    let other = t.journal("bad-targets.db");
    let out = t.run(
        t.rollout_ref(),
        &[
            "plan",
            "--app",
            &t.app,
            "--journal",
            &path_str(&other),
            "--targets",
            &path_str(&targets),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("targets.csv:2: unknown scope 'group'"), "{}", stderr(&out));
    let out = t.run(
        t.rollout_ref(),
        &["run", "--app", &t.app, "--journal", &path_str(&other), "--targets", &path_str(&targets)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!other.exists(), "nothing is written for bad input");
    // A journal that records a run is not planned over, nor run for another app.
    let out = t.run(t.rollout_ref(), &["plan", "--app", &t.app, "--journal", &path_str(&journal)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("already records a run (5 target(s)"), "{}", stderr(&out));
    let out =
        t.run(t.rollout_ref(), &["run", "--app", "another", "--journal", &path_str(&journal)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("holds a plan for the app"), "{}", stderr(&out));
    assert_eq!(count(&journal_rows(&journal), "upgraded"), 5, "the journal is as it was");
}

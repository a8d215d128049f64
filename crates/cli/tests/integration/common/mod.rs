//! The integration harness: the real `teamsapps` binary on port 0 with a fresh database per
//! test, real HTTP, real tokens from its own token endpoint.
//!
//! The database is an SQLite file in the test's data directory, or, with
//! `TEAMSAPPS_TEST_BACKEND=postgres`, a fresh PostgreSQL database with a unique name on the test
//! server (`TEAMSAPPS_TEST_POSTGRES_URL`, by default 127.0.0.1:5432): see [`store_args`].
#![allow(dead_code)]

pub mod graph;

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const TENANT: &str = "2f1a6c2e-0000-4000-8000-000000000001";
pub const TENANT_B: &str = "9e8d7c6b-0000-4000-8000-000000000002";
pub const MEGAN: &str = "5b649834-7412-4cce-9e69-176e95a394f5"; // admin
pub const ADELE: &str = "8b081ef6-4792-4def-b2c9-c363a1bf41d5";
pub const LEE: &str = "c3a8e7b0-1111-4a2b-9c3d-000000000003"; // in no chat or team
pub const CHAT: &str = "19:ea28e88c00e94c7786b065394a61f296@thread.v2";
pub const MEETING_CHAT: &str =
    "19:meeting_NjQ2ZmM1YTAtMDRlZS00ZGRmLWE2NGQtMjM1ZjM5MDliZGI4@thread.v2";
pub const TEAM: &str = "6903fa93-605b-43ef-920e-77c4729f8258";
pub const ROLLOUT: (&str, &str) = ("11111111-1111-4111-8111-111111111111", "rollout-secret");
pub const READER: (&str, &str) = ("22222222-2222-4222-8222-222222222222", "reader-secret");
pub const PLAIN: (&str, &str) = ("33333333-3333-4333-8333-333333333333", "plain-secret");
pub const SELF_APP: (&str, &str) = ("44444444-4444-4444-8444-444444444444", "self-secret");
pub const NOPERM: (&str, &str) = ("55555555-5555-4555-8555-555555555555", "none-secret");
pub const DIRECTORY: (&str, &str) = ("77777777-7777-4777-8777-777777777777", "directory-secret");
/// Delegated install, upgrade and uninstall in the three scopes (no consent, no application permissions).
pub const WRITER: (&str, &str) = ("9a9a9a9a-0000-4000-8000-00000000a11a", "writer-secret");
pub const FAB: (&str, &str) = ("66666666-6666-4666-8666-666666666666", "fab-secret");
pub const STORE_APP: &str = "0d820ecd-def2-4297-adad-78056cde7c78";

/// Whether the servers of this run use PostgreSQL (`TEAMSAPPS_TEST_BACKEND=postgres`) rather
/// than SQLite (unset, empty or `sqlite`).
pub fn postgres_backend() -> bool {
    match std::env::var("TEAMSAPPS_TEST_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("TEAMSAPPS_TEST_BACKEND={other:?}: expected sqlite or postgres"),
    }
}

/// The file in a data directory that names its PostgreSQL database.
const PG_DATABASE_FILE: &str = "postgres-database";
/// Databases the harness creates are named `teamsapps_it_<uuid>` and carry their data
/// directory as their comment.
const PG_PREFIX: &str = "teamsapps_it_";

/// The store flags of a server on the data directory `data`: `--data DIR`, or in PostgreSQL
/// mode `--database-url` of the database that belongs to `data`. That database is created on
/// first use and its name kept in a file in `data`, so that a restart on the same directory
/// finds the same database; it is dropped with the harness's temporary directory (or, for a
/// directory a test made itself, by the next run once the directory is gone). Tests that start
/// the binary themselves pass these flags too, so that they use the same store.
pub fn store_args(data: &Path) -> Vec<OsString> {
    if !postgres_backend() {
        return vec!["--data".into(), data.into()];
    }
    vec!["--database-url".into(), postgres_database_url(data).into()]
}

fn postgres_database_url(data: &Path) -> String {
    use teamsapps_store_postgres::testing::{self, CreateOptions};
    let admin = testing::admin_url();
    if let Err(e) = testing::reachable() {
        panic!(
            "TEAMSAPPS_TEST_BACKEND=postgres, but the PostgreSQL test server is not reachable: {e}"
        );
    }
    let file = data.join(PG_DATABASE_FILE);
    let name = match std::fs::read_to_string(&file) {
        Ok(name) => name.trim().to_owned(),
        Err(_) => {
            drop_orphaned_databases(&admin);
            let name = format!("{PG_PREFIX}{}", uuid::Uuid::new_v4().simple());
            let options = CreateOptions {
                // ICU en-US: nothing may depend on the database's collation.
                hostile_locale: true,
                comment: Some(data.display().to_string()),
                ..CreateOptions::default()
            };
            testing::create_database(&admin, &name, &options)
                .unwrap_or_else(|e| panic!("creating the test database {name}: {e:#}"));
            std::fs::write(&file, &name).expect("recording the test database's name");
            name
        }
    };
    testing::database_url(&admin, &name)
}

/// Drops the harness's databases whose data directory is gone (left by earlier tests).
fn drop_orphaned_databases(admin: &str) {
    use teamsapps_store_postgres::testing;
    let Ok(databases) = testing::databases_with_prefix(admin, PG_PREFIX) else { return };
    for (name, dir) in databases {
        if dir.is_some_and(|d| !Path::new(&d).exists()) {
            let _ = testing::drop_database(admin, &name);
        }
    }
}

/// Drops the PostgreSQL database that belongs to `data`, if it has one.
fn drop_postgres_database(data: &Path) {
    use teamsapps_store_postgres::testing;
    if let Ok(name) = std::fs::read_to_string(data.join(PG_DATABASE_FILE)) {
        if let Err(e) = testing::drop_database(&testing::admin_url(), name.trim()) {
            eprintln!("warning: could not drop test database {}: {e:#}", name.trim());
        }
    }
}

pub fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/common/fixture.yaml")
}

pub struct Server {
    pub base: String,
    pub data: PathBuf,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
    pub client: reqwest::Client,
    stderr_log: PathBuf,
}

impl Server {
    /// A fresh server on a fresh database seeded with the test fixture.
    pub async fn start() -> Server {
        Self::start_args(&[]).await
    }

    pub async fn start_args(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_path_buf();
        let mut s = Self::spawn(&data, extra);
        s._dir = Some(dir);
        s
    }

    /// A fresh server on a fresh database seeded with `fixture` instead of the test fixture.
    pub async fn start_seeded(fixture: &Path, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_path_buf();
        let mut s = Self::spawn_seeded(&data, fixture, extra);
        s._dir = Some(dir);
        s
    }

    /// kill -9, then the binary again on the same store (the seed applied on top of it).
    pub fn restart_seeded(&mut self, fixture: &Path, extra: &[&str]) {
        self.kill9();
        let mut next = Self::spawn_seeded(&self.data, fixture, extra);
        next._dir = self._dir.take();
        *self = next;
    }

    /// Starts the binary on `data` (kept by the caller across restarts).
    pub fn spawn(data: &Path, extra: &[&str]) -> Server {
        Self::spawn_seeded(data, &fixture_path(), extra)
    }

    /// Starts the binary on `data` seeded with `fixture`; `--listen` in `extra` replaces port 0
    /// (a restart on the port its clients know).
    pub fn spawn_seeded(data: &Path, fixture: &Path, extra: &[&str]) -> Server {
        let stderr_log = data.join(format!("server-{}.log", uuid::Uuid::new_v4()));
        let log = std::fs::File::create(&stderr_log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_teamsapps"));
        cmd.arg("serve");
        if !extra.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(store_args(data))
            .arg("--seed")
            .arg(fixture)
            .args(extra)
            .env("TEAMSAPPS_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().expect("spawn teamsapps");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read listening line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "no listening line: {line:?}\n{}",
                    std::fs::read_to_string(&stderr_log).unwrap_or_default()
                )
            })
            .to_string();
        Server {
            base,
            data: data.to_path_buf(),
            child: Some(child),
            _dir: None,
            client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
            stderr_log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// kill -9: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status success.
    pub fn terminate(&mut self) -> bool {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            for _ in 0..100 {
                if let Ok(Some(status)) = c.try_wait() {
                    return status.success();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        false
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn token_raw(&self, tenant: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = self
            .client
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(form)
            .send()
            .await
            .expect("token request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn app_token_in(&self, tenant: &str, app: (&str, &str)) -> String {
        let (status, body) = self
            .token_raw(
                tenant,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", app.0),
                    ("client_secret", app.1),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn app_token(&self, app: (&str, &str)) -> String {
        self.app_token_in(TENANT, app).await
    }

    pub async fn user_token_in(
        &self,
        tenant: &str,
        app: (&str, &str),
        upn: &str,
        password: &str,
    ) -> String {
        let (status, body) = self
            .token_raw(
                tenant,
                &[
                    ("grant_type", "password"),
                    ("client_id", app.0),
                    ("client_secret", app.1),
                    ("username", upn),
                    ("password", password),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn user_token(&self, app: (&str, &str), upn: &str, password: &str) -> String {
        self.user_token_in(TENANT, app, upn, password).await
    }

    /// Megan (Teams Service Administrator) signed in to the Rollout app.
    pub async fn admin_token(&self) -> String {
        self.user_token(ROLLOUT, "megan@contoso.example", "megan-pw").await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some((ct, bytes)) = body {
            if !ct.is_empty() {
                req = req.header("content-type", ct);
            }
            req = req.body(bytes);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp { status, headers, body }
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.send(reqwest::Method::GET, Some(token), path, None, &[]).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, Some(token), path, None, &[]).await
    }

    pub async fn post_json(&self, token: &str, path: &str, body: &Value) -> Resp {
        self.send(
            reqwest::Method::POST,
            Some(token),
            path,
            Some(("application/json", body.to_string().into_bytes())),
            &[],
        )
        .await
    }

    pub async fn post_empty(&self, token: &str, path: &str) -> Resp {
        self.send(reqwest::Method::POST, Some(token), path, None, &[]).await
    }

    pub async fn post_zip(&self, token: &str, path: &str, zip: Vec<u8>) -> Resp {
        self.send(reqwest::Method::POST, Some(token), path, Some(("application/zip", zip)), &[])
            .await
    }

    /// Publishes a package as the admin (no review) and returns the created teamsApp.
    pub async fn publish(&self, admin: &str, manifest: &Value) -> Value {
        let r = self.graph(admin).publish_teams_app(manifest, false).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }

    /// Publishes a new version as the admin (no review): 204.
    pub async fn update(&self, admin: &str, app_id: &str, manifest: &Value) {
        let r = self.graph(admin).update_teams_app(app_id, manifest, false).await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        // The harness's own directory goes with the server, and its database with it.
        if self._dir.is_some() && postgres_backend() {
            drop_postgres_database(&self.data);
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    /// Asserts a Graph error: status, code, the envelope's shape and ids matching the headers.
    pub fn assert_error(&self, status: u16, code: &str) -> &str {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        let err = &self.body["error"];
        assert_eq!(err["code"], code, "{}", self.body);
        assert!(err["message"].is_string(), "{}", self.body);
        let rid = self.headers.get("request-id").and_then(|v| v.to_str().ok()).expect("request-id");
        assert_eq!(err["innerError"]["request-id"], rid);
        assert!(err["innerError"]["client-request-id"].is_string());
        assert!(err["innerError"]["date"].as_str().is_some_and(|d| d.len() == 19), "{}", self.body);
        err["message"].as_str().unwrap()
    }
}

/// A valid manifest with the given id and version (a bot, all scopes, no RSC).
pub fn manifest(id: &str, version: &str) -> Value {
    json!({
        "manifestVersion": "1.17",
        "id": id,
        "version": version,
        "name": {"short": "Hello", "full": "Hello app"},
        "description": {"short": "Says hello", "full": "Says hello everywhere."},
        "developer": {"name": "Contoso", "websiteUrl": "https://contoso.example",
                      "privacyUrl": "https://contoso.example/p", "termsOfUseUrl": "https://contoso.example/t"},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "bots": [{"botId": "1f81bb29-bb29-1f81-29bb-811f29bb811f", "scopes": ["personal", "team", "groupChat"]}]
    })
}

/// The same manifest requiring RSC permissions (name, "Application"|"Delegated").
pub fn with_rsc(mut m: Value, perms: &[(&str, &str)]) -> Value {
    let list: Vec<Value> = perms.iter().map(|(n, t)| json!({"name": n, "type": t})).collect();
    m["authorization"] = json!({"permissions": {"resourceSpecific": list}});
    m
}

pub fn new_manifest_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Minimal PNG bytes: signature, IHDR with the size, IEND (the validator reads IHDR only).
pub fn png(size: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(b"IHDR");
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(b"IEND");
    out.extend_from_slice(&[0xAE, 0x42, 0x60, 0x82]);
    out
}

/// A zip with `manifest.json` and the two icons.
pub fn package(manifest: &Value) -> Vec<u8> {
    zip_of(&[
        ("manifest.json", manifest.to_string().into_bytes()),
        ("color.png", png(192)),
        ("outline.png", png(32)),
    ])
}

pub fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, bytes) in entries {
        zip.start_file(*name, opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

pub fn bind(app_id: &str) -> Value {
    json!({"teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{app_id}")})
}

/// Percent-encodes a path segment (chat ids).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

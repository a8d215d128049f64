//! First runs: what `serve` refuses before it creates anything (a busy port, a bad seed), one
//! server per SQLite data directory, throwaway stores, and the log formats.

use crate::common::*;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_teamsapps"))
}

/// Runs `serve` on the SQLite data directory `data` with `extra` flags, expecting it to exit
/// (refused) within a few seconds.
fn serve_refused(data: &Path, extra: &[&str]) -> Output {
    let mut child = bin()
        .args(["serve", "--data"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("serve {extra:?} did not exit: it should have been refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_busy_port_is_refused_before_the_data_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let data = dir.path().join("data");
    let fixture = fixture_path();
    let out = serve_refused(&data, &["--listen", &addr, "--seed", fixture.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!data.exists(), "a refused start left {} behind", data.display());
}

#[test]
fn a_bad_seed_is_refused_before_the_data_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cases = [
        // Not the fixture shape: an unknown field.
        ("typo.yaml", "tenants:\n  - id: 2f1a6c2e-0000-4000-8000-000000000001\n    userz: []\n", "userz"),
        // The shape, but a reference the loader refuses.
        (
            "dangling.yaml",
            "tenants:\n  - id: 2f1a6c2e-0000-4000-8000-000000000001\n    installations:\n      - { user: nobody, app: x }\n",
            "'nobody' is not in the fixture",
        ),
        ("missing.yaml", "", "cannot read the seed file"),
    ];
    for (name, text, says) in cases {
        let seed = dir.path().join(name);
        if !text.is_empty() {
            std::fs::write(&seed, text).unwrap();
        }
        let out =
            serve_refused(&data, &["--listen", "127.0.0.1:0", "--seed", seed.to_str().unwrap()]);
        assert!(!out.status.success(), "{name}");
        let err = stderr(&out);
        assert!(err.contains(says), "{name}: {err}");
        assert!(err.contains(name), "{name}: the message names the file: {err}");
        assert!(!data.exists(), "{name}: a refused start left {} behind", data.display());
    }
}

#[tokio::test]
async fn a_second_server_on_one_data_directory_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // SQLite by construction (the lock is about the SQLite data directory), whatever the
    // backend of this test run.
    let mut first = spawn_sqlite(&data, &[]);
    let out = serve_refused(&data, &["--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("the data directory {}", data.display())), "{err}");
    assert!(err.contains(&format!("listening on {}", first.base)), "names the other: {err}");
    assert!(err.contains("pid "), "{err}");
    // The first one still serves.
    let r = first.client.get(first.url("/_teamsapps/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // kill -9 leaves the lock file but not the lock: a new server starts on the directory.
    first.kill9();
    assert!(data.join("teamsapps.lock").exists());
    let mut second = spawn_sqlite(&data, &[]);
    let r = second.client.get(second.url("/_teamsapps/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // And after a clean exit too.
    assert!(second.terminate());
    let mut third = spawn_sqlite(&data, &[]);
    assert!(third.terminate());
}

/// A server on `--data data` (SQLite), with the harness's fixture.
fn spawn_sqlite(data: &Path, extra: &[&str]) -> SqliteServer {
    let mut args = vec!["--data", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    SqliteServer::start(&args)
}

/// The harness's `Server::spawn` follows the test run's backend; these tests need SQLite data
/// directories, so they start the binary themselves, the same way.
struct SqliteServer {
    base: String,
    child: Option<std::process::Child>,
    client: reqwest::Client,
    log: tempfile::NamedTempFile,
}

impl SqliteServer {
    fn start(args: &[&str]) -> SqliteServer {
        Self::start_in(None, args)
    }

    fn start_in(cwd: Option<&Path>, args: &[&str]) -> SqliteServer {
        use std::io::{BufRead, BufReader};
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = bin();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--seed"])
            .arg(fixture_path())
            .args(args)
            .env("TEAMSAPPS_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.reopen().unwrap()));
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = match line.trim().strip_prefix("listening on ") {
            Some(base) => base.to_string(),
            None => panic!(
                "no listening line: {line:?}\n{}",
                std::fs::read_to_string(log.path()).unwrap_or_default()
            ),
        };
        SqliteServer {
            base,
            child: Some(child),
            client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else { return false };
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        for _ in 0..200 {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }
}

impl Drop for SqliteServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[tokio::test]
async fn in_memory_keeps_nothing_and_creates_no_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let mut server = SqliteServer::start_in(Some(cwd.path()), &["--in-memory"]);
    let r = server.client.get(server.url("/_teamsapps/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // It serves the seed like any store: a token for the fixture's app.
    let r = server
        .client
        .post(server.url(&format!("/{TENANT}/oauth2/v2.0/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", ROLLOUT.0),
            ("client_secret", ROLLOUT.1),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Two throwaway servers side by side in one directory: nothing is shared, nothing locked.
    let mut other = SqliteServer::start_in(Some(cwd.path()), &["--in-memory"]);
    assert!(other.terminate());
    assert!(server.terminate());
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(left.is_empty(), "--in-memory left {left:?}");
}

#[tokio::test]
async fn text_logs_have_no_colour_codes_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_sqlite(&dir.path().join("data"), &[]);
    let _ = server.client.get(server.url("/v1.0/appCatalogs/teamsApps")).send().await.unwrap();
    assert!(server.terminate());
    let log = server.log();
    assert!(log.contains("seed applied in"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in a log file: {log:?}");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_sqlite(&dir.path().join("data"), &["--log-format", "json"]);
    let _ = server.client.get(server.url("/v1.0/appCatalogs/teamsApps")).send().await.unwrap();
    assert!(server.terminate());
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    assert!(lines.len() >= 3, "{log}");
    for line in &lines {
        assert!(line["timestamp"].is_string() && line["level"].is_string(), "{line}");
    }
    // The generated admin key is a field, not a loose line.
    assert!(lines.iter().any(|l| l["fields"]["admin_key"].as_str().is_some_and(|k| k.len() == 32)));
    assert!(lines.iter().any(|l| l["fields"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("seed applied in"))
        && l["fields"]["elapsed_ms"].is_u64()));
    // A refusal is JSON too.
    let out = serve_refused(
        &dir.path().join("data"),
        &["--log-format", "json", "--listen", "127.0.0.1:0", "--seed", "/nonexistent.yaml"],
    );
    let err = stderr(&out);
    let last: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR");
    assert!(last["fields"]["error"].as_str().unwrap().contains("/nonexistent.yaml"), "{err}");
}

/// One `info` line per request, naming its method, path, operation, status, latency and
/// request id (the span's fields), unless `--request-log off`.
#[tokio::test]
async fn each_request_logs_one_line_with_its_operation() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_sqlite(&dir.path().join("data"), &[]);
    let res = server.client.get(server.url("/v1.0/appCatalogs/teamsApps")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let rid = res.headers()["request-id"].to_str().unwrap().to_string();
    assert!(server.terminate());
    let log = server.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("teamsapps::request")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    let line = lines[0];
    for part in [
        format!("request_id={rid}"),
        "method=GET".into(),
        "path=/v1.0/appCatalogs/teamsApps".into(),
        "operation=ListTeamsApps".into(),
        "status=401".into(),
        "latency_us=".into(),
    ] {
        assert!(line.contains(&part), "{part} missing from {line}");
    }
}

#[tokio::test]
async fn request_log_off_keeps_the_request_lines_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_sqlite(&dir.path().join("data"), &["--request-log", "off"]);
    for _ in 0..3 {
        let _ = server.client.get(server.url("/v1.0/appCatalogs/teamsApps")).send().await.unwrap();
    }
    assert!(server.terminate());
    let log = server.log();
    assert!(log.contains("teamsapps ready"), "{log}");
    assert!(!log.contains("teamsapps::request"), "{log}");
    // A value it does not know is refused by name.
    let out = bin().args(["serve", "--request-log", "maybe"]).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--request-log"), "{}", stderr(&out));
    let out = bin().args(["serve", "--log-format", "xml"]).output().unwrap();
    assert!(stderr(&out).contains("--log-format"), "{}", stderr(&out));
}

#[test]
fn a_bad_log_filter_is_refused_by_name() {
    let out = bin().args(["permissions"]).env("TEAMSAPPS_LOG", "info,==").output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("TEAMSAPPS_LOG"), "{}", stderr(&out));
}

#[tokio::test]
async fn a_second_server_on_one_sqlite_url_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("one.db");
    let url = format!("sqlite://{}", db.display());
    let mut first = SqliteServer::start(&["--database-url", &url]);
    // --data is not what it uses: a different one does not get round the lock.
    let out = serve_refused(
        &dir.path().join("unused"),
        &["--listen", "127.0.0.1:0", "--database-url", &url],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("the SQLite database {}", db.display())), "{err}");
    assert!(err.contains(&first.base), "{err}");
    assert!(first.terminate());
}

#[tokio::test]
async fn the_data_directory_and_its_database_are_private_and_an_open_one_is_refused() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = spawn_sqlite(&data, &[]);
    // Something written, so the WAL files exist too.
    let r = server.client.get(server.url("/_teamsapps/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(mode(&data), 0o700, "the data directory holds the signing key");
    for name in ["teamsapps.db", "teamsapps.db-wal", "teamsapps.db-shm"] {
        let file = data.join(name);
        if file.exists() || name == "teamsapps.db" {
            assert_eq!(mode(&file), 0o600, "{name}");
        }
    }
    server.kill9();
    // A directory opened up afterwards: readable is tightened, writable is refused.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("teamsapps.db"), std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let mut server = spawn_sqlite(&data, &[]);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("teamsapps.db")), 0o600);
    assert!(server.log().contains("data directory made private"), "{}", server.log());
    server.kill9();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = serve_refused(&data, &["--listen", "127.0.0.1:0"]);
    let err = stderr(&out);
    assert!(err.contains("is writable by other users (mode 777)"), "{err}");
    assert!(err.contains(&format!("chmod 700 {}", data.display())), "{err}");
}

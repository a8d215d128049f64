//! Health and readiness: `/_teamsapps/health`, `/_teamsapps/ready` and `teamsapps admin
//! wait-ready`, including a PostgreSQL database that becomes unreachable under a running node.

use crate::common::*;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use teamsapps_store_postgres::testing::{self, CreateOptions, TestDatabase};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_teamsapps"))
}

fn wait_ready(url: &str, timeout: &str) -> (bool, String, String, Duration) {
    let started = Instant::now();
    let out = bin()
        .args(["admin", "wait-ready", "--url", url, "--timeout", timeout, "--interval", "100ms"])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn health_and_ready_answer_without_a_token() {
    let server = Server::start().await;
    for (path, status) in [("/_teamsapps/health", "ok"), ("/_teamsapps/ready", "ready")] {
        let r = server.send(reqwest::Method::GET, None, path, None, &[]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.body, serde_json::json!({"status": status}), "{path}");
        assert_eq!(r.headers["cache-control"], "no-store", "{path}");
        // A wrong token does not matter either: probes carry none.
        let r = server.send(reqwest::Method::GET, Some("nonsense"), path, None, &[]).await;
        assert_eq!(r.status, 200, "{path}");
    }
    // Probes are not Graph requests: they stay out of the request log.
    let key_log = server.log();
    let key = key_log
        .lines()
        .find_map(|l| l.strip_prefix("admin key (Authorization: Bearer … for /_teamsapps/): "))
        .unwrap()
        .to_string();
    let r = server.get(&key, "/_teamsapps/requests").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.to_string().contains("/_teamsapps/ready"), "{}", r.body);
    let (ok, stdout, stderr, _) = wait_ready(&server.base, "5s");
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("ready after "), "{stdout}");
}

#[test]
fn wait_ready_gives_up_at_its_timeout_with_the_last_reason() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (ok, _, stderr, took) = wait_ready(&format!("http://127.0.0.1:{port}"), "1s");
    assert!(!ok);
    assert!(stderr.contains("not ready after"), "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(10), "{took:?}");
    let out = bin().args(["admin", "wait-ready", "--timeout", "soon"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
}

#[tokio::test]
async fn wait_ready_waits_for_a_server_that_is_still_seeding() {
    // A large seed: the port is bound first, so wait-ready's first attempts connect and wait
    // (or are refused) until the server serves; it then answers 200.
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("big.json");
    let out = bin()
        .args(["fixture", "generate", "--users", "20000", "--teams", "200", "--chats", "500"])
        .arg("--out")
        .arg(&fixture)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let waiter = std::thread::spawn({
        let base = base.clone();
        move || wait_ready(&base, "60s")
    });
    let mut child = bin()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--seed"])
        .arg(&fixture)
        .arg("--data")
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (ok, stdout, stderr, _) = waiter.join().unwrap();
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("ready after"), "{stdout}");
    // Ready means seeded: the generated tenant answers right away.
    let client = reqwest::Client::new();
    let text = std::fs::read_to_string(&fixture).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let tenant = parsed["tenants"][0]["id"].as_str().unwrap();
    let app = &parsed["tenants"][0]["applications"][0];
    let r = client
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app["appId"].as_str().unwrap()),
            ("client_secret", app["clientSecret"].as_str().unwrap()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

/// A server process, killed when this goes out of scope (also when the test fails).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn ready_turns_503_while_postgres_refuses_connections_and_back_after() {
    let Some(admin) = testing::server_or_skip(
        "ready_turns_503_while_postgres_refuses_connections_and_back_after",
    ) else {
        return;
    };
    let db = TestDatabase::create(&admin, "teamsapps_test_", &CreateOptions::default()).unwrap();
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", db.url()])
        .args(["--db-connect-timeout", "1", "--seed"])
        .arg(fixture_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let ready = || async {
        let r = client.get(format!("{base}/_teamsapps/ready")).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(ready().await.0, 200);
    // The database stops taking connections and its sessions (the node's pool) are ended.
    let name = db.name().to_string();
    testing::execute(
        &admin,
        "postgres",
        &format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ),
    )
    .unwrap();
    let (status, body) = ready().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.starts_with("the store did not answer a read"), "{reason}");
    // Health is about the process, not its database.
    let r = client.get(format!("{base}/_teamsapps/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Each probe can take the 1 s connect timeout, so give wait-ready room for a few answers
    // (with "1s" a loaded machine saw none, and the last reason was its own timeout).
    let (ok, _, stderr, _) = wait_ready(&base, "5s");
    assert!(!ok);
    assert!(stderr.contains("503") && stderr.contains("the store did not answer"), "{stderr}");
    // Connections allowed again: the node is ready without a restart.
    testing::execute(
        &admin,
        "postgres",
        &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"),
    )
    .unwrap();
    let (ok, _, stderr, _) = wait_ready(&base, "20s");
    assert!(ok, "{stderr}");
    assert_eq!(ready().await.0, 200);
}

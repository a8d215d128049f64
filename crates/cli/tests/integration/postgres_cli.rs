//! The command line on PostgreSQL: `migrate --database-url postgres://…`, a clear failure when
//! the server is unreachable, and the `--db-*` flags (read from `TEAMSAPPS_*` too) reaching
//! the store. Each test that needs the server runs on a fresh database with a unique name;
//! without a reachable server they print `SKIPPED` (or fail with TEAMSAPPS_REQUIRE_POSTGRES=1).

use crate::common::*;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use teamsapps_store_postgres::testing::{self, CreateOptions, TestDatabase};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_teamsapps"))
}

/// A server process, killed when this goes out of scope (also when the test fails).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fresh_database(test: &str) -> Option<TestDatabase> {
    let admin = testing::server_or_skip(test)?;
    Some(TestDatabase::create(&admin, "teamsapps_test_", &CreateOptions::default()).unwrap())
}

#[test]
fn migrate_creates_the_schema_on_postgres_and_is_idempotent() {
    let Some(db) = fresh_database("migrate_creates_the_schema_on_postgres_and_is_idempotent")
    else {
        return;
    };
    let version = teamsapps_store_postgres::SCHEMA_VERSION;
    // Both URL schemes choose PostgreSQL.
    let url = db.url().replacen("postgres://", "postgresql://", 1);
    for url in [db.url(), url.as_str()] {
        let out = bin().args(["migrate", "--database-url", url]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("schema is up to date (PostgreSQL at postgres://"), "{stdout}");
        assert!(stdout.contains(&format!("/{}, version", db.name())), "{stdout}");
        assert!(stdout.contains(&format!("version {version})")), "{stdout}");
    }
    let rows = db.query_text("SELECT count(*) FROM schema_migrations").unwrap();
    assert_eq!(rows[0][0].as_deref(), Some(version.to_string().as_str()));
    let tables = db
        .query_text(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'installations'",
        )
        .unwrap();
    assert_eq!(tables[0][0].as_deref(), Some("1"));
}

#[test]
fn an_unreachable_server_fails_fast_with_a_clear_message_and_no_password() {
    for command in ["serve", "migrate"] {
        let started = Instant::now();
        let out = bin()
            .args([command, "--db-connect-timeout", "2"])
            .env("TEAMSAPPS_DATABASE_URL", "postgres://alice:s3cret@127.0.0.1:1/apps")
            .env("TEAMSAPPS_LISTEN", "127.0.0.1:0")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command} should fail");
        assert!(started.elapsed() < Duration::from_secs(10), "{command}: {:?}", started.elapsed());
        assert!(
            err.contains("cannot connect to PostgreSQL at postgres://alice@127.0.0.1:1/apps"),
            "{command}: {err}"
        );
        assert!(!err.contains("s3cret"), "{command}: {err}");
        assert!(out.stdout.is_empty(), "{command}: nothing on stdout when failing");
    }
    let out = bin()
        .args(["serve", "--database-url", "postgres://127.0.0.1:1/x", "--db-pool-size", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--db-pool-size"));
}

/// `TEAMSAPPS_DB_POOL_SIZE` and `TEAMSAPPS_DB_STATEMENT_TIMEOUT` reach the store: under a
/// burst of requests the node opens at most that many connections, and a request stuck behind
/// a lock fails after the statement timeout instead of hanging.
#[tokio::test]
async fn db_flags_from_the_environment_reach_the_store() {
    let Some(db) = fresh_database("db_flags_from_the_environment_reach_the_store") else {
        return;
    };
    let mut child = Running(
        bin()
            .arg("serve")
            .env("TEAMSAPPS_LISTEN", "127.0.0.1:0")
            .env("TEAMSAPPS_DATABASE_URL", db.url())
            .env("TEAMSAPPS_DB_POOL_SIZE", "2")
            .env("TEAMSAPPS_DB_STATEMENT_TIMEOUT", "1")
            .env("TEAMSAPPS_SEED", fixture_path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
    let client = reqwest::Client::new();
    let token = {
        let r = client
            .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", READER.0),
                ("client_secret", READER.1),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = r.json().await.unwrap();
        body["access_token"].as_str().expect("a token").to_string()
    };
    let list = format!("{base}/v1.0/appCatalogs/teamsApps");
    let burst: Vec<_> = (0..30)
        .map(|_| {
            let (client, list, token) = (client.clone(), list.clone(), token.clone());
            tokio::spawn(async move { client.get(list).bearer_auth(token).send().await })
        })
        .collect();
    for r in burst {
        assert_eq!(r.await.unwrap().unwrap().status(), 200);
    }
    let open = db
        .query_text(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' \
             AND application_name = 'teamsapps'",
            db.name()
        ))
        .unwrap();
    let open: i64 = open[0][0].as_deref().unwrap().parse().unwrap();
    assert!((1..=2).contains(&open), "{open} connections with TEAMSAPPS_DB_POOL_SIZE=2");

    // Hold a lock every catalog read needs; the read gives up after about a second.
    let (locker, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.unwrap();
    let conn = tokio::spawn(conn);
    locker.batch_execute("BEGIN; LOCK TABLE apps IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let started = Instant::now();
    let r =
        tokio::time::timeout(Duration::from_secs(20), client.get(&list).bearer_auth(&token).send())
            .await
            .expect("the request hung past the statement timeout")
            .unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    locker.batch_execute("ROLLBACK").await.unwrap();
    let r = client.get(&list).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    drop(locker);
    let _ = conn.await;
    drop(child);
}

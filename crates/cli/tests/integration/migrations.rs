//! Schema migrations (issue 4): a database created by the first schema version, with data in
//! it, is upgraded by `teamsapps migrate` to the current version with every row intact and
//! served as before; two `teamsapps migrate` processes started at once on a fresh database
//! both succeed and apply each migration exactly once. On SQLite and on PostgreSQL (skipped
//! loudly when PostgreSQL is unreachable, a failure with `TEAMSAPPS_REQUIRE_POSTGRES=1`).

use crate::common::enc;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use teamsapps_store_postgres::testing::{self, CreateOptions, TestDatabase};

const T: &str = "7a7a7a7a-0000-4000-8000-0000000000aa";
const USER: &str = "7a7a7a7a-1111-4000-8000-0000000000bb";
const CLIENT: &str = "7a7a7a7a-2222-4000-8000-0000000000cc";
const SECRET: &str = "v1-secret";
const APP: &str = "7a7a7a7a-3333-4000-8000-0000000000dd";
const MANIFEST: &str = "7a7a7a7a-4444-4000-8000-0000000000ee";

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Rows written the way the first schema version stores them.
fn seed_sql(backend: Backend) -> String {
    let key = |v: &str| teamsapps_core::version::sort_key(v);
    let installation = match backend {
        Backend::Sqlite => format!(
            "INSERT INTO installations (tenant_id, scope_kind, scope_id, app_id, version, consented)
             VALUES ('{T}', 'user', '{USER}', '{APP}', '1.0.0', NULL);"
        ),
        Backend::Postgres => format!(
            "INSERT INTO installations
                 (tenant_id, scope_kind, scope_id, app_id, version, version_key, consented)
             VALUES ('{T}', 'user', '{USER}', '{APP}', '1.0.0', '{}', NULL);",
            key("1.0.0")
        ),
    };
    let definition = |version: &str| {
        format!(
            "INSERT INTO definitions (tenant_id, app_id, version, version_key, state, display_name,
                 short_description, description, last_modified, created_by, client_app_id,
                 required_permissions, bot_id, allowed_team, allowed_group_chat,
                 allowed_personal, etag)
             VALUES ('{T}', '{APP}', '{version}', '{}', 'published', 'Legacy', 'Old app',
                 'An app from schema version 1.', '2025-01-01T00:00:00.000000000Z', NULL, NULL,
                 '[]', NULL, TRUE, TRUE, TRUE, 'etag-{version}');",
            key(version)
        )
    };
    format!(
        "INSERT INTO tenants (tenant_id, display_name) VALUES ('{T}', 'Legacy tenant');
         INSERT INTO users (tenant_id, id, user_principal_name, display_name, password, roles)
             VALUES ('{T}', '{USER}', 'old@legacy.example', 'Old', 'old-pw', '[]');
         INSERT INTO applications (tenant_id, app_id, display_name, client_secret,
                 application_permissions, delegated_permissions, selected_teams_apps)
             VALUES ('{T}', '{CLIENT}', 'Legacy client', '{SECRET}',
                 '[\"AppCatalog.Read.All\", \"TeamsAppInstallation.ReadWriteForUser.All\"]',
                 '[]', '[]');
         INSERT INTO apps (tenant_id, id, external_id, distribution_method)
             VALUES ('{T}', '{APP}', '{MANIFEST}', 'organization');
         {}
         {}
         {installation}",
        definition("1.0.0"),
        definition("1.2.0"),
    )
}

fn teamsapps(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_teamsapps"))
        .args(args)
        .env("TEAMSAPPS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn teamsapps")
}

fn finish(child: Child, what: &str) -> (String, String) {
    let out = child.wait_with_output().expect("wait");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// The versions recorded in `schema_migrations`, ascending.
fn recorded_versions(location: &str, db: Option<&TestDatabase>) -> Vec<i64> {
    let rows: Vec<String> = match db {
        None => {
            let conn = rusqlite::Connection::open(location).unwrap();
            let mut stmt =
                conn.prepare("SELECT version FROM schema_migrations ORDER BY version").unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0)).unwrap();
            rows.map(|r| r.unwrap().to_string()).collect()
        }
        Some(db) => db
            .query_text("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap()
            .into_iter()
            .map(|row| row[0].clone().unwrap())
            .collect(),
    };
    rows.iter().map(|v| v.parse().unwrap()).collect()
}

/// The versions of the "applied database migration" lines of a log (colours removed).
fn applied_versions(log: &str) -> Vec<i64> {
    let mut plain = String::new();
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .lines()
        .filter(|l| l.contains("applied database migration"))
        .map(|l| {
            let v = l.split("version=").nth(1).unwrap_or_else(|| panic!("{l}"));
            v.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
        })
        .collect()
}

/// `(version, name)` of every recorded migration, ascending.
fn recorded_history(location: &str, db: Option<&TestDatabase>) -> Vec<(i64, String)> {
    let sql = "SELECT version, name FROM schema_migrations ORDER BY version";
    text_rows(location, db, sql)
        .into_iter()
        .map(|row| (row[0].parse().unwrap(), row[1].clone()))
        .collect()
}

/// Every column of every row of a query as text, on either backend.
fn text_rows(location: &str, db: Option<&TestDatabase>, sql: &str) -> Vec<Vec<String>> {
    match db {
        None => {
            let conn = rusqlite::Connection::open(location).unwrap();
            let mut stmt = conn.prepare(sql).unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                                rusqlite::types::ValueRef::Text(t) => {
                                    String::from_utf8_lossy(t).into_owned()
                                }
                                other => format!("{other:?}"),
                            })
                        })
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .unwrap();
            rows.map(|r| r.unwrap()).collect()
        }
        Some(db) => db
            .query_text(sql)
            .unwrap()
            .into_iter()
            .map(|row| row.into_iter().map(Option::unwrap_or_default).collect())
            .collect(),
    }
}

fn execute(location: &str, db: Option<&TestDatabase>, sql: &str) {
    match db {
        None => rusqlite::Connection::open(location).unwrap().execute_batch(sql).unwrap(),
        Some(db) => db.execute(sql).unwrap(),
    }
}

/// The migrated schema has what the hot paths rely on, the same on both backends: the
/// recorded history is the one both stores embed (same versions, same names); installations
/// are indexed by (tenant, app) only, so an upgrade moves no index entry (0003); and a catalog
/// change made by plain SQL, outside any store, bumps the catalog generation that catalog
/// caches are checked against (0004).
fn check_schema(backend: Backend, location: &str, db: Option<&TestDatabase>) {
    let names = |list: &[(i64, &str, &str)]| -> Vec<(i64, String)> {
        list.iter().map(|(v, n, _)| (*v, (*n).to_owned())).collect()
    };
    let sqlite = names(teamsapps_store_sqlite::migrations());
    assert_eq!(sqlite, names(teamsapps_store_postgres::migrations()), "the stores' histories");
    assert_eq!(recorded_history(location, db), sqlite, "the recorded history");

    let indexes = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'installations' \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT indexname FROM pg_indexes WHERE tablename = 'installations' \
             AND indexname <> 'installations_pkey' ORDER BY indexname"
        }
    };
    assert_eq!(text_rows(location, db, indexes), [["installations_by_app"]]);

    let generation = || -> i64 {
        let rows = text_rows(location, db, "SELECT generation FROM catalog_generation");
        assert_eq!(rows.len(), 1, "one generation row: {rows:?}");
        rows[0][0].parse().unwrap()
    };
    let before = generation();
    assert!(before >= 1, "generation {before}");
    execute(
        location,
        db,
        &format!(
            "INSERT INTO apps (tenant_id, id, external_id, distribution_method) \
             VALUES ('{T}', 'added-by-sql', NULL, 'store')"
        ),
    );
    assert!(generation() > before, "an app added by SQL did not bump the generation");
}

fn current_version(backend: Backend) -> i64 {
    match backend {
        Backend::Sqlite => teamsapps_store_sqlite::SCHEMA_VERSION,
        Backend::Postgres => teamsapps_store_postgres::SCHEMA_VERSION,
    }
}

fn migrations(backend: Backend) -> &'static [(i64, &'static str, &'static str)] {
    match backend {
        Backend::Sqlite => teamsapps_store_sqlite::migrations(),
        Backend::Postgres => teamsapps_store_postgres::migrations(),
    }
}

struct Serve(Child, String);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(store: &[&str], log: &Path) -> Serve {
    let file = std::fs::File::create(log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_teamsapps"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(store)
        .env("TEAMSAPPS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("spawn serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let Some(base) = line.trim().strip_prefix("listening on ").map(str::to_string) else {
        let _ = child.kill();
        panic!("no listening line {line:?}: {}", std::fs::read_to_string(log).unwrap());
    };
    Serve(child, base)
}

/// Everything seeded at version 1 is served after the upgrade, and the migrated database
/// takes writes.
async fn check_served(store: &[&str], dir: &Path) {
    let node = serve(store, &dir.join("serve.log"));
    let base = &node.1;
    let c = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let res = c
        .post(format!("{base}/{T}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the version-1 app registration signs in");
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let get = |path: String| {
        let (c, token) = (c.clone(), token.clone());
        async move {
            let res = c.get(format!("{base}{path}")).bearer_auth(&token).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.json::<Value>().await.unwrap()
        }
    };
    let catalog = get("/v1.0/appCatalogs/teamsApps?$expand=appDefinitions".into()).await;
    let apps = catalog["value"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "{catalog}");
    assert_eq!(apps[0]["id"], APP);
    assert_eq!(apps[0]["externalId"], MANIFEST);
    let mut versions: Vec<&str> = apps[0]["appDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["version"].as_str().unwrap())
        .collect();
    versions.sort();
    assert_eq!(versions, ["1.0.0", "1.2.0"], "{catalog}");
    let list = format!("/v1.0/users/{USER}/teamwork/installedApps");
    let installed = get(format!("{list}?$expand=teamsApp,teamsAppDefinition")).await;
    let items = installed["value"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{installed}");
    assert_eq!(items[0]["teamsApp"]["id"], APP);
    assert_eq!(items[0]["teamsAppDefinition"]["version"], "1.0.0");
    // The migrated database takes writes: upgrade the version-1 installation.
    let id = enc(items[0]["id"].as_str().unwrap());
    let res =
        c.post(format!("{base}{list}/{id}/upgrade")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    let installed = get(format!("{list}?$expand=teamsAppDefinition")).await;
    assert_eq!(installed["value"][0]["teamsAppDefinition"]["version"], "1.2.0", "{installed}");
}

async fn upgrade_from_version_1(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (v1, _, init_sql) = migrations(backend)[0];
    assert_eq!(v1, 1);
    // A database made by the first schema version: migration 1 only, recorded as the first
    // build recorded it, with rows in it.
    let (store_args, location, _db): (Vec<String>, String, Option<TestDatabase>) = match backend {
        Backend::Sqlite => {
            let path = dir.path().join("teamsapps.db");
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(&format!(
                "PRAGMA foreign_keys = ON;
                 BEGIN;
                 CREATE TABLE schema_migrations (
                     version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
                 {init_sql}
                 INSERT INTO schema_migrations VALUES (1, 'init', '2025-01-01T00:00:00Z');
                 {}
                 COMMIT;",
                seed_sql(backend)
            ))
            .unwrap();
            drop(conn);
            let data = dir.path().display().to_string();
            (vec!["--data".into(), data], path.display().to_string(), None)
        }
        Backend::Postgres => {
            let Some(admin) = testing::server_or_skip("upgrade_from_version_1 (PostgreSQL)") else {
                return;
            };
            let db =
                TestDatabase::create(&admin, "teamsapps_mig_", &CreateOptions::default()).unwrap();
            db.execute(&format!(
                "BEGIN;
                 CREATE TABLE schema_migrations (version bigint PRIMARY KEY, name text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now());
                 {init_sql}
                 INSERT INTO schema_migrations (version, name) VALUES (1, 'init');
                 {}
                 COMMIT;",
                seed_sql(backend)
            ))
            .unwrap();
            let url = db.url().to_string();
            (vec!["--database-url".into(), url.clone()], url, Some(db))
        }
    };
    assert_eq!(recorded_versions(&location, _db.as_ref()), [1]);
    let args: Vec<&str> = store_args.iter().map(String::as_str).collect();

    let mut migrate = vec!["migrate"];
    migrate.extend(&args);
    let (stdout, stderr) = finish(teamsapps(&migrate), "teamsapps migrate");
    let current = current_version(backend);
    assert!(stdout.contains(&format!("version {current}")), "{stdout}");
    let after_1: Vec<i64> = (2..=current).collect();
    assert_eq!(applied_versions(&stderr), after_1, "the migrations after 1, once:\n{stderr}");
    assert_eq!(recorded_versions(&location, _db.as_ref()), (1..=current).collect::<Vec<_>>());
    // Again: nothing left to apply.
    let (_, stderr) = finish(teamsapps(&migrate), "teamsapps migrate (again)");
    assert_eq!(applied_versions(&stderr), Vec::<i64>::new(), "{stderr}");

    check_served(&args, dir.path()).await;
    check_schema(backend, &location, _db.as_ref());
}

async fn concurrent_migrate(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (args, location, _db): (Vec<String>, String, Option<TestDatabase>) = match backend {
        Backend::Sqlite => {
            let path = dir.path().join("teamsapps.db");
            let data = dir.path().display().to_string();
            (vec!["--data".into(), data], path.display().to_string(), None)
        }
        Backend::Postgres => {
            let Some(admin) = testing::server_or_skip("concurrent_migrate (PostgreSQL)") else {
                return;
            };
            let db =
                TestDatabase::create(&admin, "teamsapps_mig_", &CreateOptions::default()).unwrap();
            let url = db.url().to_string();
            (vec!["--database-url".into(), url.clone()], url, Some(db))
        }
    };
    let mut migrate = vec!["migrate"];
    migrate.extend(args.iter().map(String::as_str));
    // Both spawned before either is waited for.
    let (first, second) = (teamsapps(&migrate), teamsapps(&migrate));
    let (out1, err1) = finish(first, "the first teamsapps migrate");
    let (out2, err2) = finish(second, "the second teamsapps migrate");
    let current = current_version(backend);
    for out in [&out1, &out2] {
        assert!(out.contains(&format!("version {current}")), "{out}");
    }
    // Each migration applied by exactly one of them.
    let mut applied = applied_versions(&err1);
    applied.extend(applied_versions(&err2));
    applied.sort();
    let all: Vec<i64> = migrations(backend).iter().map(|m| m.0).collect();
    assert_eq!(applied, all, "each migration once across both processes:\n{err1}\n{err2}");
    assert_eq!(recorded_versions(&location, _db.as_ref()), (1..=current).collect::<Vec<_>>());
    check_schema(backend, &location, _db.as_ref());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_of_schema_version_1_is_upgraded_with_its_data() {
    upgrade_from_version_1(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_of_schema_version_1_is_upgraded_with_its_data() {
    upgrade_from_version_1(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_migrates_at_once_apply_each_migration_once() {
    concurrent_migrate(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_migrates_at_once_apply_each_migration_once() {
    concurrent_migrate(Backend::Postgres).await;
}

//! The SQLite store against the `Store` contract: the whole conformance suite, each test on a
//! fresh database file, then what only SQLite has (reopening a file, its migrations, in-memory
//! mode, URLs, rows corrupted behind the store's back).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::DateTime;
use teamsapps_core::model::SigningKey;
use teamsapps_core::store::UpgradeOutcome;
use teamsapps_core::{Store, StoreError};
use teamsapps_store_conformance::fixtures::*;
use teamsapps_store_conformance::TestDb;
use teamsapps_store_sqlite::{migrations, SqliteStore, SCHEMA_VERSION};

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Arc<SqliteStore>,
}

fn fresh_db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("teamsapps.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    Db { _dir: dir, path, store }
}

#[async_trait]
impl TestDb for Db {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// A second store on the same file: another process would open it so.
    async fn another(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).unwrap())
    }
}

async fn fresh(_test: &'static str) -> Option<Arc<dyn TestDb>> {
    Some(Arc::new(fresh_db()))
}

teamsapps_store_conformance::conformance_tests!(fresh);

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

// --- persistence, migrations, modes ---------------------------------------------------------

#[tokio::test]
async fn data_survives_reopen() {
    let db = fresh_db();
    db.store.apply_seed(&seed()).await.unwrap();
    let key = SigningKey { kid: "k1".into(), private_pem: "PEM".into(), created_at: at(0, 1) };
    db.store.add_signing_key(&key).await.unwrap();
    db.store.upgrade_installation(T, &team_scope(), "a1", "1.1", None).await.unwrap();
    let apps = db.store.list_apps(T).await.unwrap();
    let Db { _dir, path, store } = db;
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.list_apps(T).await.unwrap(), apps);
    assert_eq!(store.signing_keys().await.unwrap(), vec![key]);
    assert_eq!(installed_version(&store).await, "1.1");
    assert!(store.user(T, "bob@contoso.onmicrosoft.com").await.unwrap().is_some());
}

#[tokio::test]
async fn delete_app_leaves_no_rows_behind() {
    let db = fresh_db();
    catalog_with_installation(db.store.as_ref()).await;
    assert!(db.store.delete_app(T, "a1").await.unwrap());
    let conn = raw(&db.path);
    for table in ["apps", "definitions", "installations"] {
        let col = if table == "apps" { "id" } else { "app_id" };
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table} WHERE {col} = 'a1'"), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
}

#[tokio::test]
async fn migrations_recorded_once() {
    let db = fresh_db();
    assert_eq!(db.store.schema_version().await.unwrap(), SCHEMA_VERSION);
    for _ in 0..3 {
        let again = SqliteStore::open(&db.path).unwrap();
        assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    }
    let conn = raw(&db.path);
    let mut stmt = conn
        .prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
        .unwrap();
    let recorded: Vec<(i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<(i64, String)> =
        migrations().iter().map(|(v, n, _)| (*v, n.to_string())).collect();
    assert_eq!(recorded.iter().map(|(v, n, _)| (*v, n.clone())).collect::<Vec<_>>(), expected);
    assert_eq!(recorded.last().map(|r| r.0), Some(SCHEMA_VERSION));
    assert!(recorded.iter().all(|(_, _, at)| DateTime::parse_from_rfc3339(at).is_ok()));
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn simultaneous_opens_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStore::open(&path).map(drop))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let n: i64 =
        raw(&path).query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(n, migrations().len() as i64);
}

#[test]
fn newer_schema_is_refused() {
    let db = fresh_db();
    raw(&db.path)
        .execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'future', 'now')",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
    let err = SqliteStore::open(&db.path).unwrap_err();
    assert!(format!("{err:#}").contains("newer"), "{err:#}");
}

#[tokio::test]
async fn in_memory_mode_works_and_is_private() {
    let a = SqliteStore::open_in_memory().unwrap();
    let b = SqliteStore::open_url("sqlite::memory:").unwrap();
    catalog_with_installation(&a).await;
    assert_eq!(a.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(
        a.upgrade_installation(T, &team_scope(), "a1", "1.2", None).await.unwrap(),
        UpgradeOutcome::Upgraded
    );
    assert_eq!(installed_version(&a).await, "1.2");
    assert!(a.delete_app(T, "a1").await.unwrap());
    assert_eq!(
        a.get_installation(T, &team_scope(), "a1").await.unwrap(),
        None,
        "cascades in memory too"
    );
    assert!(b.list_apps(T).await.unwrap().is_empty());
    b.apply_seed(&seed()).await.unwrap();
    assert_eq!(b.list_apps(T).await.unwrap().len(), 2);
}

#[tokio::test]
async fn open_url_forms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("url.db");
    let s = SqliteStore::open_url(&format!("sqlite://{}", path.display())).unwrap();
    s.apply_seed(&seed()).await.unwrap();
    drop(s);
    let s = SqliteStore::open_url(&format!("sqlite:{}", path.display())).unwrap();
    assert!(s.tenant(T).await.unwrap().is_some());
    assert!(SqliteStore::open_url("sqlite://:memory:").is_ok());

    let err = SqliteStore::open_url("postgres://localhost/db").unwrap_err();
    assert!(format!("{err:#}").contains("postgres://localhost/db"), "{err:#}");
    let bad = format!("sqlite://{}", dir.path().join("missing-dir").join("x.db").display());
    let err = SqliteStore::open_url(&bad).unwrap_err();
    assert!(format!("{err:#}").contains(&bad), "{err:#}");
}

#[tokio::test]
async fn corrupt_rows_are_backend_errors() {
    let db = fresh_db();
    db.store.apply_seed(&seed()).await.unwrap();
    let conn = raw(&db.path);
    conn.execute("UPDATE users SET roles = 'not json' WHERE id = 'u1'", []).unwrap();
    conn.execute("UPDATE definitions SET last_modified = 'yesterday' WHERE version = '1.1'", [])
        .unwrap();
    conn.execute("UPDATE installations SET consented = '[{\"bad\":1}]'", []).unwrap();
    assert!(matches!(db.store.user(T, "u1").await, Err(StoreError::Backend(_))));
    assert!(matches!(db.store.list_apps(T).await, Err(StoreError::Backend(_))));
    assert!(matches!(
        db.store.list_installations(T, &team_scope()).await,
        Err(StoreError::Backend(_))
    ));
    // Rows that are fine still read.
    assert!(db.store.user(T, "u2").await.unwrap().is_some());
    assert!(db.store.get_app(T, "store-1").await.unwrap().is_some());
}

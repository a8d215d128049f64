//! The PostgreSQL store against the `Store` contract: the whole conformance suite, each test on
//! a fresh database with a unique name (dropped afterwards, also when the test fails), created
//! with an ICU en-US locale so that nothing may depend on the database's collation; the whole
//! suite again with SERIALIZABLE as the default isolation, as distributed SQL engines run it
//! (serialization failures must be retried inside the store); then what only PostgreSQL has
//! (its migrations under an advisory lock, connection errors and timeouts, the pool).
//!
//! When PostgreSQL is not reachable the tests print `SKIPPED: …` and return, unless
//! `TEAMSAPPS_REQUIRE_POSTGRES=1`, which makes them fail.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use teamsapps_core::model::ScopeKind;
use teamsapps_core::{Store, StoreError};
use teamsapps_store_conformance::fixtures::*;
use teamsapps_store_conformance::TestDb;
use teamsapps_store_postgres::testing::{self, CreateOptions, TestDatabase};
use teamsapps_store_postgres::{migrations, PgOptions, PgStore, SCHEMA_VERSION};

const PREFIX: &str = "teamsapps_test_";

fn options() -> PgOptions {
    PgOptions { pool_size: 4, connect_timeout: Duration::from_secs(30), ..PgOptions::default() }
}

/// A fresh database and the stores opened on it. The database goes last (fields drop in
/// order), with every connection to it.
struct PgDb {
    store: Arc<PgStore>,
    others: Mutex<Vec<Arc<PgStore>>>,
    db: TestDatabase,
}

#[async_trait]
impl TestDb for PgDb {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// A second store with its own pool: another node.
    async fn another(&self) -> Arc<dyn Store> {
        let store = Arc::new(PgStore::connect(self.db.url(), options()).await.unwrap());
        self.others.lock().unwrap().push(Arc::clone(&store));
        store
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        self.store.close();
        for s in self.others.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            s.close();
        }
    }
}

/// A fresh database (None when PostgreSQL is unreachable and not required).
fn fresh_database(test: &str, options: &CreateOptions) -> Option<TestDatabase> {
    let admin = testing::server_or_skip(test)?;
    Some(TestDatabase::create(&admin, PREFIX, options).expect("creating a test database"))
}

async fn open(test: &str, create: CreateOptions) -> Option<PgDb> {
    let db = fresh_database(test, &create)?;
    let store = Arc::new(PgStore::connect(db.url(), options()).await.unwrap());
    Some(PgDb { store, others: Mutex::new(Vec::new()), db })
}

async fn fresh(test: &'static str) -> Option<Arc<dyn TestDb>> {
    let create = CreateOptions { hostile_locale: true, ..CreateOptions::default() };
    Some(Arc::new(open(test, create).await?))
}

teamsapps_store_conformance::conformance_tests!(fresh);

/// The suite again on databases whose default isolation is SERIALIZABLE.
mod serializable {
    use super::*;

    async fn fresh(test: &'static str) -> Option<Arc<dyn TestDb>> {
        let create = CreateOptions { serializable: true, ..CreateOptions::default() };
        Some(Arc::new(open(test, create).await?))
    }

    teamsapps_store_conformance::conformance_tests!(fresh);
}

fn rows(db: &TestDatabase, sql: &str) -> Vec<Vec<Option<String>>> {
    db.query_text(sql).unwrap()
}

fn count(db: &TestDatabase, sql: &str) -> i64 {
    rows(db, sql)[0][0].as_deref().unwrap().parse().unwrap()
}

// --- migrations -----------------------------------------------------------------------------

#[tokio::test]
async fn migrations_recorded_once() {
    let Some(pg) = open("migrations_recorded_once", CreateOptions::default()).await else {
        return;
    };
    assert_eq!(pg.store.schema_version().await.unwrap(), SCHEMA_VERSION);
    for _ in 0..3 {
        let again = PgStore::connect(pg.db.url(), options()).await.unwrap();
        assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    }
    let recorded = rows(
        &pg.db,
        "SELECT version::text, name, applied_at::text FROM schema_migrations ORDER BY version",
    );
    let expected: Vec<(String, String)> =
        migrations().iter().map(|(v, n, _)| (v.to_string(), n.to_string())).collect();
    let got: Vec<(String, String)> =
        recorded.iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect();
    assert_eq!(got, expected);
    assert!(recorded.iter().all(|r| r[2].is_some()));
}

/// Several nodes starting at once on an empty database: every one comes up, and each
/// migration is applied and recorded exactly once (the advisory lock queues them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_connects_migrate_once() {
    let Some(db) = fresh_database("simultaneous_connects_migrate_once", &CreateOptions::default())
    else {
        return;
    };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let url = db.url().to_owned();
            tokio::spawn(async move { PgStore::connect(&url, options()).await.map(|s| s.close()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("a node failed to start");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM schema_migrations"), migrations().len() as i64);
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let Some(pg) = open("newer_schema_is_refused", CreateOptions::default()).await else {
        return;
    };
    pg.db
        .execute(&format!(
            "INSERT INTO schema_migrations (version, name) VALUES ({}, 'future')",
            SCHEMA_VERSION + 1
        ))
        .unwrap();
    let err = PgStore::connect(pg.db.url(), options()).await.unwrap_err();
    assert!(format!("{err:#}").contains("newer"), "{err:#}");
}

// --- rows -----------------------------------------------------------------------------------

#[tokio::test]
async fn delete_app_leaves_no_rows_behind() {
    let Some(pg) = open("delete_app_leaves_no_rows_behind", CreateOptions::default()).await else {
        return;
    };
    catalog_with_installation(pg.store.as_ref()).await;
    assert!(pg.store.delete_app(T, "a1").await.unwrap());
    for (table, col) in [("apps", "id"), ("definitions", "app_id"), ("installations", "app_id")] {
        let n = count(&pg.db, &format!("SELECT count(*) FROM {table} WHERE {col} = 'a1'"));
        assert_eq!(n, 0, "{table}");
    }
}

#[tokio::test]
async fn corrupt_rows_are_backend_errors() {
    let Some(pg) = open("corrupt_rows_are_backend_errors", CreateOptions::default()).await else {
        return;
    };
    pg.store.apply_seed(&seed()).await.unwrap();
    pg.db
        .execute(
            "UPDATE users SET roles = '\"not a list\"' WHERE id = 'u1';
             UPDATE definitions SET last_modified = 'yesterday' WHERE version = '1.1';
             UPDATE installations SET consented = '[{\"bad\":1}]';",
        )
        .unwrap();
    assert!(matches!(pg.store.user(T, "u1").await, Err(StoreError::Backend(_))));
    assert!(matches!(pg.store.list_apps(T).await, Err(StoreError::Backend(_))));
    assert!(matches!(
        pg.store.list_installations(T, &team_scope()).await,
        Err(StoreError::Backend(_))
    ));
    // Rows that are fine still read.
    assert!(pg.store.user(T, "u2").await.unwrap().is_some());
    assert!(pg.store.get_app(T, "store-1").await.unwrap().is_some());
}

// --- connections ----------------------------------------------------------------------------

#[tokio::test]
async fn unreachable_server_fails_fast_and_names_it_without_the_password() {
    // Port 1 on the loopback: nothing listens, the connection is refused at once.
    let started = Instant::now();
    let err =
        PgStore::connect("postgres://alice:s3cret@127.0.0.1:1/apps", options()).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(
        text.contains("cannot connect to PostgreSQL at postgres://alice@127.0.0.1:1/apps"),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    let err = PgStore::connect("postgres://alice:s3cret@[bad", options()).await.unwrap_err();
    assert!(!format!("{err:#}").contains("s3cret"), "{err:#}");
}

/// A server that accepts the connection and then never answers: connect gives up after the
/// connect timeout instead of hanging.
#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            sockets.push(s);
        }
    });
    let opts = PgOptions { connect_timeout: Duration::from_secs(1), ..options() };
    let started = Instant::now();
    let url = format!("postgres://postgres@127.0.0.1:{port}/x");
    let connect = PgStore::connect(&url, opts);
    let err = tokio::time::timeout(Duration::from_secs(20), connect)
        .await
        .expect("connect hung past its timeout")
        .unwrap_err();
    let elapsed = started.elapsed();
    held.abort();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(format!("{err:#}").contains("no answer within 1 s"), "{err:#}");
}

#[tokio::test]
async fn unknown_database_is_named() {
    let Some(admin) = testing::server_or_skip("unknown_database_is_named") else { return };
    let url = testing::database_url(&admin, "teamsapps_no_such_database");
    let err = PgStore::connect(&url, options()).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("teamsapps_no_such_database") && text.contains("does not exist"),
        "{text}"
    );
}

/// A call blocked behind a lock fails after `statement_timeout` instead of holding its
/// connection (and its HTTP request) forever.
#[tokio::test]
async fn statement_timeout_bounds_a_blocked_call() {
    let Some(db) =
        fresh_database("statement_timeout_bounds_a_blocked_call", &CreateOptions::default())
    else {
        return;
    };
    let opts = PgOptions { statement_timeout: Some(Duration::from_millis(300)), ..options() };
    let store = PgStore::connect(db.url(), opts).await.unwrap();
    catalog_with_installation(&store).await;

    let (locker, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.unwrap();
    let conn = tokio::spawn(conn);
    locker.batch_execute("BEGIN; LOCK TABLE installations IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let started = Instant::now();
    let r =
        tokio::time::timeout(Duration::from_secs(20), store.list_installations(T, &team_scope()))
            .await
            .expect("the call hung past statement_timeout");
    assert!(matches!(r, Err(StoreError::Backend(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    locker.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(store.list_installations(T, &team_scope()).await.unwrap().len(), 1);
    drop(locker);
    let _ = conn.await;
    store.close();
}

/// The pool never opens more connections than its size, however many calls wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pool_caps_connections() {
    let Some(db) = fresh_database("the_pool_caps_connections", &CreateOptions::default()) else {
        return;
    };
    let opts = PgOptions { pool_size: 2, ..options() };
    let store = Arc::new(PgStore::connect(db.url(), opts).await.unwrap());
    catalog_with_installation(store.as_ref()).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let user = scope(ScopeKind::User, &format!("u{i}"));
                store.create_installation(&inst(&user, "a1", "1.0")).await.unwrap();
                store.upgrade_installation(T, &user, "a1", "1.2", None).await.unwrap();
                store.list_apps(T).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let open = count(
        &db,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' \
             AND application_name = 'teamsapps'",
            db.name()
        ),
    );
    assert!((1..=2).contains(&open), "{open} connections open");
    store.close();
}

// --- the hot paths' schema (migrations 0003 and 0004) ----------------------------------------

/// Upgrades are heap-only (HOT) updates: no column they change is indexed (0003), so each one
/// rewrites the row in its heap page and no index page. The statistics collector counts them;
/// a backend reports its counts when its connection closes.
#[tokio::test]
async fn upgrades_are_heap_only_updates() {
    let Some(pg) = open("upgrades_are_heap_only_updates", CreateOptions::default()).await else {
        return;
    };
    let indexes = rows(
        &pg.db,
        "SELECT indexname FROM pg_indexes WHERE tablename = 'installations' ORDER BY indexname",
    );
    assert_eq!(
        indexes,
        [[Some("installations_by_app".into())], [Some("installations_pkey".into())]]
    );
    let options =
        rows(&pg.db, "SELECT reloptions::text FROM pg_class WHERE relname = 'installations'");
    assert_eq!(options, [[Some("{fillfactor=90}".into())]]);

    catalog_with_installation(pg.store.as_ref()).await;
    const UPGRADES: i64 = 40;
    for n in 0..UPGRADES {
        pg.store.add_definition(T, &published("a1", &format!("2.{n}"))).await.unwrap();
    }
    let before = hot_counts(&pg.db);
    for n in 0..UPGRADES {
        let outcome = pg
            .store
            .upgrade_installation(T, &team_scope(), "a1", &format!("2.{n}"), None)
            .await
            .unwrap();
        assert_eq!(outcome, teamsapps_core::store::UpgradeOutcome::Upgraded, "2.{n}");
    }
    assert_eq!(installed_version(pg.store.as_ref()).await, format!("2.{}", UPGRADES - 1));
    pg.store.close();
    // Closed connections flush their counts; the view shows them shortly after.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (updates, hot) = loop {
        let (updates, hot) = hot_counts(&pg.db);
        if updates - before.0 >= UPGRADES || Instant::now() > deadline {
            break (updates - before.0, hot - before.1);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(updates, UPGRADES, "the statistics never showed the upgrades");
    assert_eq!(hot, UPGRADES, "{UPGRADES} upgrades, only {hot} heap-only");
}

/// `(n_tup_upd, n_tup_hot_upd)` of installations.
fn hot_counts(db: &TestDatabase) -> (i64, i64) {
    let r = rows(
        db,
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'installations'",
    );
    let n = |i: usize| r[0][i].as_deref().unwrap().parse::<i64>().unwrap();
    (n(0), n(1))
}

/// A catalog change made outside any store (another client of the database, an operator's
/// SQL, a bulk TRUNCATE) reaches every cached read: the triggers bump the generation whoever
/// writes, and a session that skips ordinary triggers (session_replication_role = replica)
/// still bumps it.
#[tokio::test]
async fn catalog_changes_by_other_clients_reach_cached_reads() {
    let Some(pg) =
        open("catalog_changes_by_other_clients_reach_cached_reads", CreateOptions::default()).await
    else {
        return;
    };
    let st = pg.store.as_ref();
    st.apply_seed(&seed()).await.unwrap();
    let name = |app: Option<teamsapps_core::model::CatalogApp>| {
        app.and_then(|a| a.definitions.last().map(|d| d.display_name.clone()))
    };
    let installed_name = || async {
        let found = st
            .scope_installation(T, teamsapps_core::store::ScopeKey::Team("team-1"), Some("a1"))
            .await
            .unwrap();
        found.installed.and_then(|(_, app)| app.definitions.last().map(|d| d.display_name.clone()))
    };
    // Read twice: the second is answered from the cache.
    let original = name(st.get_app(T, "a1").await.unwrap());
    assert_eq!(name(st.get_app(T, "a1").await.unwrap()), original);
    assert_eq!(installed_name().await, original);

    pg.db
        .execute("UPDATE definitions SET display_name = 'Renamed by SQL' WHERE app_id = 'a1'")
        .unwrap();
    assert_eq!(name(st.get_app(T, "a1").await.unwrap()).as_deref(), Some("Renamed by SQL"));
    assert_eq!(installed_name().await.as_deref(), Some("Renamed by SQL"));
    let many = st.get_apps(T, &["a1", "store-1"]).await.unwrap();
    assert_eq!(name(many.into_iter().next()).as_deref(), Some("Renamed by SQL"));

    pg.db
        .execute(
            "SET session_replication_role = replica;
             UPDATE definitions SET display_name = 'Renamed as a replica' WHERE app_id = 'a1';",
        )
        .unwrap();
    assert_eq!(name(st.get_app(T, "a1").await.unwrap()).as_deref(), Some("Renamed as a replica"));

    pg.db.execute("TRUNCATE installations, definition_icons, definitions, apps").unwrap();
    assert!(st.get_app(T, "a1").await.unwrap().is_none());
    assert!(st.get_apps(T, &["a1", "store-1"]).await.unwrap().is_empty());
}

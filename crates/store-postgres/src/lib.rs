//! The PostgreSQL implementation of [`teamsapps_core::Store`], so that several stateless API
//! nodes can serve one database (and so any Postgres-compatible distributed SQL engine).
//!
//! Connections come from a `deadpool-postgres` pool of `tokio-postgres` clients; statements are
//! prepared once per connection and cached. Every store method runs either one statement
//! (atomic by itself, in autocommit) or one explicit transaction, and returns after it
//! committed: with PostgreSQL's default `synchronous_commit = on` the commit is on disk on the
//! server before the method returns.
//!
//! Concurrency, under the default READ COMMITTED isolation (and equally under SERIALIZABLE,
//! which distributed engines impose):
//! - constraints decide races: the installations primary key lets exactly one of two racing
//!   installs in a scope win (`Conflict("installation")` for the other), foreign keys keep every
//!   installation pointing at an existing definition, unique indexes keep manifest ids and UPNs
//!   unique case-insensitively;
//! - an upgrade is one conditional `UPDATE` whose condition lives in the row it updates, so a
//!   racing second upgrade re-checks it against the first's committed row and never moves the
//!   version backwards;
//! - check-then-write sequences (`create_app`, `transition_definition`) run in one transaction
//!   that locks what it checked or lets a constraint refuse the write.
//!
//! Serialization failures (SQLSTATE 40001) and deadlocks (40P01) abort the attempt and are
//! retried inside the store, a bounded number of times with a short jittered backoff; the
//! caller sees them only when every attempt failed, as `StoreError::Backend`.

mod catalog_cache;
mod migrate;
mod rows;
mod store_impl;
pub mod testing;

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Context};
use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use teamsapps_core::store::StoreResult;
use teamsapps_core::StoreError;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

pub use migrate::{migrations, SCHEMA_VERSION};

/// How many times a store call is attempted when PostgreSQL aborts it with a serialization
/// failure or a deadlock.
const ATTEMPTS: u32 = 10;
/// How long a call waits for a free pooled connection before failing.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// Connection settings for [`PgStore::connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections kept open at most (per node).
    pub pool_size: usize,
    /// How long opening one connection (TCP connect and startup) may take.
    pub connect_timeout: Duration,
    /// `statement_timeout` of every pooled session; `None` keeps the server's setting.
    pub statement_timeout: Option<Duration>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: None,
        }
    }
}

/// Whether `url` names a PostgreSQL database (`postgres://…` or `postgresql://…`).
pub fn is_postgres_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// A [`teamsapps_core::Store`] on a PostgreSQL database.
///
/// Cheap to share behind an `Arc`; all methods take `&self`.
pub struct PgStore {
    pool: Pool,
    /// `postgres://user@host:port/db`, without the password, for messages.
    location: String,
    /// This node's decoded catalog apps, checked against the database's catalog generation.
    catalog: catalog_cache::CatalogCache,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("location", &self.location).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`, or libpq's
    /// `key=value` form), checks that it answers, and applies the migrations it has not seen.
    ///
    /// The error names the server (never the password) and says why: unreachable, refused,
    /// authentication, unknown database, or a schema newer than this build.
    pub async fn connect(url: &str, options: PgOptions) -> anyhow::Result<PgStore> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| anyhow!("invalid PostgreSQL URL {}: {e}", redact(url)))?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("teamsapps");
        }
        let location = describe(&config);
        if options.pool_size == 0 {
            return Err(anyhow!("the PostgreSQL pool size must be at least 1"));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let mut builder = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            // Opening a connection is bounded by connect_timeout per address; authentication
            // and the session setup below get as long again.
            .create_timeout(Some(options.connect_timeout * 2))
            .recycle_timeout(Some(options.connect_timeout));
        if let Some(timeout) = options.statement_timeout {
            let set = format!("SET statement_timeout = {}", timeout.as_millis().max(1));
            builder = builder.post_create(Hook::async_fn(move |client, _| {
                let set = set.clone();
                Box::pin(
                    async move { client.batch_execute(&set).await.map_err(HookError::Backend) },
                )
            }));
        }
        let pool = builder.build().context("building the PostgreSQL connection pool")?;
        let mut client = pool.get().await.map_err(|e| {
            anyhow!("cannot connect to PostgreSQL at {location}: {}", pool_error_text(&e, &options))
        })?;
        migrate::migrate(&mut client)
            .await
            .with_context(|| format!("migrating the PostgreSQL database at {location}"))?;
        drop(client);
        Ok(PgStore { pool, location, catalog: catalog_cache::CatalogCache::default() })
    }

    /// `postgres://user@host:port/database` (no password), for logs and messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The highest migration version recorded in the database.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        self.run("schema_version", |client| async move {
            let row = client
                .query_one("SELECT coalesce(max(version), 0)::bigint FROM schema_migrations", &[])
                .await?;
            Ok(row.try_get::<_, i64>(0)?)
        })
        .await
    }

    /// Closes the pool: idle connections are closed now, busy ones when they come back.
    pub fn close(&self) {
        self.pool.close();
    }

    /// Runs one attempt of a store call on a pooled connection, again (after a short backoff)
    /// when PostgreSQL aborted it with a serialization failure or deadlock, or when the attempt
    /// reports that it lost a race it can win on a second look.
    pub(crate) async fn run<T, F, Fut>(&self, what: &'static str, mut attempt: F) -> StoreResult<T>
    where
        F: FnMut(Object) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut n = 0;
        loop {
            n += 1;
            let client = self.pool.get().await.map_err(|e| {
                StoreError::Backend(anyhow!(
                    "postgres store: {what}: no connection to {}: {e}",
                    self.location
                ))
            })?;
            let failure = match attempt(client).await {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            match failure {
                Failure::Store(e) => return Err(e),
                Failure::Race(e) if n >= ATTEMPTS => return Err(e),
                Failure::Db(e) if !retryable(&e) || n >= ATTEMPTS => {
                    return Err(backend(e, what, n))
                }
                Failure::Race(_) | Failure::Db(_) => {
                    tracing::debug!(what, attempt = n, "postgres store: retrying");
                    tokio::time::sleep(backoff(n)).await;
                }
            }
        }
    }
}

/// Why one attempt of a store call failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The answer: returned as is.
    Store(StoreError),
    /// Lost a race that another attempt decides correctly (its checks then see the winner);
    /// the error is the answer when no attempt is left.
    Race(StoreError),
    /// A database error: retried when it is a serialization failure or deadlock, otherwise a
    /// backend error.
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// A backend failure that is not the database's (a row that does not decode).
pub(crate) fn corrupt(what: &'static str, msg: impl std::fmt::Display) -> Failure {
    Failure::Store(StoreError::Backend(anyhow!("postgres store: {what}: {msg}")))
}

fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
        || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

fn backend(e: tokio_postgres::Error, what: &'static str, attempts: u32) -> StoreError {
    let context = if attempts > 1 {
        format!("postgres store: {what} (after {attempts} attempts)")
    } else {
        format!("postgres store: {what}")
    };
    StoreError::Backend(anyhow::Error::new(e).context(context))
}

/// The constraint kinds the store turns into `StoreError::Conflict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    Unique,
    ForeignKey,
}

pub(crate) fn violation(e: &tokio_postgres::Error) -> Option<Violation> {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Some(Violation::Unique),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => Some(Violation::ForeignKey),
        _ => None,
    }
}

/// Maps a write's error: a uniqueness violation becomes `Conflict(on_unique)`, a foreign key
/// violation `Conflict(on_foreign_key)` (when given); anything else stays a database error.
pub(crate) fn conflict(
    e: tokio_postgres::Error,
    on_unique: Option<&'static str>,
    on_foreign_key: Option<&'static str>,
) -> Failure {
    match (violation(&e), on_unique, on_foreign_key) {
        (Some(Violation::Unique), Some(name), _) => Failure::Store(StoreError::Conflict(name)),
        (Some(Violation::ForeignKey), _, Some(name)) => Failure::Store(StoreError::Conflict(name)),
        _ => Failure::Db(e),
    }
}

/// 2, 4, 8 … ms up to 100 ms, plus up to as much again at random so that racers spread out.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = 1u64 << attempt.min(7);
    let base = base.min(100);
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    Duration::from_millis(base + random % (base + 1))
}

fn pool_error_text(e: &PoolError, options: &PgOptions) -> String {
    match e {
        PoolError::Timeout(_) => format!(
            "no answer within {} s (--db-connect-timeout)",
            options.connect_timeout.as_secs_f64()
        ),
        PoolError::Backend(e) => error_chain(e),
        PoolError::PostCreateHook(HookError::Backend(e)) => error_chain(e),
        other => other.to_string(),
    }
}

/// `error connecting to server: Connection refused (os error 111)`: the error with its causes.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text = format!("{text}: {s_text}");
        }
        source = s.source();
    }
    text
}

/// `postgres://user@host:port/database` from a parsed configuration: never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = config.get_ports().get(i).or(config.get_ports().first()).copied();
            let host = match h {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            match port {
                Some(p) => format!("{host}:{p}"),
                None => format!("{host}:5432"),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() { "localhost:5432".to_owned() } else { hosts.join(",") };
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = config.get_dbname().or(config.get_user()).unwrap_or("");
    format!("postgres://{user}{hosts}/{db}")
}

/// The URL with any password replaced by `***`, for a message about a URL that did not parse.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.into() };
            return format!("{scheme}://{masked}@{host}{tail}");
        }
        return url.to_owned();
    }
    // key=value form: mask password=…
    url.split_whitespace()
        .map(|kv| if kv.starts_with("password=") { "password=***" } else { kv })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_by_scheme() {
        assert!(is_postgres_url("postgres://localhost/db"));
        assert!(is_postgres_url("postgresql://u:p@h:5433/db"));
        assert!(is_postgres_url("PostgreSQL://h/db"));
        assert!(!is_postgres_url("sqlite://x.db"));
        assert!(!is_postgres_url("postgres:/x"));
    }

    #[test]
    fn messages_never_show_the_password() {
        let c: tokio_postgres::Config =
            "postgres://alice:s3cret@db.example:6543/apps".parse().unwrap();
        assert_eq!(describe(&c), "postgres://alice@db.example:6543/apps");
        let c: tokio_postgres::Config = "postgresql://h1,h2:5433/d".parse().unwrap();
        assert_eq!(describe(&c), "postgres://h1:5432,h2:5433/d");
        assert_eq!(redact("postgres://alice:s3cret@h/db?x=1"), "postgres://alice:***@h/db?x=1");
        assert_eq!(redact("postgres://alice@h/db"), "postgres://alice@h/db");
        assert_eq!(redact("host=h password=s3cret"), "host=h password=***");
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1) >= Duration::from_millis(2) && backoff(1) <= Duration::from_millis(5));
        for n in 1..20 {
            assert!(backoff(n) <= Duration::from_millis(201), "{n}: {:?}", backoff(n));
        }
    }
}

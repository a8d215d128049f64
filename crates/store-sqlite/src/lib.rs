//! The embedded SQLite implementation of [`teamsapps_core::Store`].
//!
//! rusqlite is synchronous. A file database has one writer connection, owned by a writer
//! thread that commits the writes of many calls together (group commit, see `writer.rs`), and
//! a small pool of reader connections; WAL mode lets the readers run while the writer writes.
//! Short reads (one row, one small list) run right on the calling task's thread on a pooled
//! reader: a hop to another thread costs more than such a read. Reads that may be large go to
//! tokio's blocking pool. When every reader is busy a read is queued to the writer thread. An
//! in-memory database is private to its connection, so it has only the writer, used for
//! everything.
//!
//! Every write method runs in a `BEGIN IMMEDIATE` transaction (in a savepoint of its own inside
//! it, shared with the other writes of its group) and returns after that transaction committed.
//! The immediate transaction takes SQLite's write lock up front, so check-then-write logic
//! inside it is race-free even against other processes using the same file (they wait up to
//! `busy_timeout` for the lock).
//!
//! Durability ([`Durability`]), in WAL mode:
//! - `Normal` (the default, `synchronous=NORMAL`): a commit appends the transaction to the
//!   write-ahead log with `write(2)` before the method returns, so a committed transaction
//!   survives the process being killed (`kill -9`, panic, OOM): the data is in the OS page
//!   cache and the next open replays the log. After an operating-system crash or power loss
//!   the last transactions before the crash may be rolled back (the database is never
//!   corrupted).
//! - `Full` (`synchronous=FULL`): the log is also fsynced at every commit before the method
//!   returns, so a committed transaction survives an operating-system crash or power loss too.
//!   Group commit shares one fsync among every write of a group.

mod catalog_cache;
mod checkpoint;
mod migrate;
mod rows;
mod store_impl;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::{anyhow, Context};
use rusqlite::{Connection, OpenFlags};
use teamsapps_core::store::StoreResult;
use teamsapps_core::StoreError;

pub use migrate::{migrations, SCHEMA_VERSION};

use crate::catalog_cache::{CatalogCache, CatalogReads};
use crate::checkpoint::{Checkpointer, WalLimits};
use crate::rows::backend;
use crate::writer::Writer;

/// When a commit counts as done; see the crate docs for the exact guarantee of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL`: survives a process kill; an OS crash may lose the last commits.
    #[default]
    Normal,
    /// `synchronous=FULL`: the log is fsynced before a commit returns; survives an OS crash.
    Full,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// Reader connections kept open for a file database.
const READERS: usize = 4;
/// Page cache per connection, KiB (SQLite's `cache_size`, negative = KiB).
const PAGE_CACHE_KIB: i64 = 8 * 1024;
/// How long a statement waits for another connection's (or process's) lock, in ms.
const BUSY_TIMEOUT_MS: u32 = 5000;
/// Prepared statements cached per connection (the store uses a few dozen distinct ones).
const STATEMENT_CACHE: usize = 64;

/// A [`teamsapps_core::Store`] on an SQLite database file (or in memory).
///
/// Cheap to share behind an `Arc`; all methods take `&self`.
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    /// Decoded catalog apps, for reads on the readers (see `catalog_cache.rs`).
    catalog: CatalogCache,
    /// The path or `:memory:`, for messages.
    location: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.inner.location)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs migrations.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_with(path, Durability::default())
    }

    /// [`open`](Self::open) with the given durability.
    pub fn open_with(path: &Path, durability: Durability) -> anyhow::Result<Self> {
        let location = path.display().to_string();
        Self::open_file(path, durability)
            .with_context(|| format!("opening SQLite database {location}"))
    }

    /// A private in-memory database (nothing kept).
    pub fn open_in_memory() -> anyhow::Result<Self> {
        let mut conn = Connection::open_in_memory().context("opening in-memory SQLite database")?;
        configure(&mut conn, Role::Writer(Durability::Normal))?;
        migrate::migrate(&mut conn)?;
        Self::from_parts(conn, Vec::new(), None, ":memory:".to_owned())
    }

    /// `sqlite://PATH` or `sqlite:PATH` (also `sqlite::memory:` and `sqlite://:memory:`):
    /// [`open`](Self::open) or [`open_in_memory`](Self::open_in_memory).
    /// The error names the URL.
    pub fn open_url(url: &str) -> anyhow::Result<Self> {
        Self::open_url_with(url, Durability::default())
    }

    /// [`open_url`](Self::open_url) with the given durability (meaningless in memory).
    pub fn open_url_with(url: &str, durability: Durability) -> anyhow::Result<Self> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).ok_or_else(
            || anyhow!("unsupported database URL {url:?}: expected sqlite://PATH, sqlite:PATH or sqlite::memory:"),
        )?;
        if rest.is_empty() {
            return Err(anyhow!("database URL {url:?} names no file"));
        }
        let opened = if rest == ":memory:" {
            Self::open_in_memory()
        } else {
            Self::open_file(Path::new(rest), durability)
        };
        opened.with_context(|| format!("opening database {url}"))
    }

    /// The highest migration version recorded in the database.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        self.read("schema_version", |c| {
            rows::first(
                c,
                "schema_version",
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )
            .map(|v| v.unwrap_or(0))
        })
        .await
    }

    fn open_file(path: &Path, durability: Durability) -> anyhow::Result<Self> {
        Self::open_file_with(path, durability, WalLimits::default())
    }

    fn open_file_with(
        path: &Path,
        durability: Durability,
        limits: WalLimits,
    ) -> anyhow::Result<Self> {
        // No SQLITE_OPEN_URI: a path is a path, even one that starts with `file:`.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut writer = Connection::open_with_flags(path, flags)?;
        configure(&mut writer, Role::Writer(durability))?;
        migrate::migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let mut conn = Connection::open_with_flags(path, flags)?;
                configure(&mut conn, Role::Reader)?;
                Ok(conn)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Checkpoints run on a connection of their own, off the writer thread (see
        // `checkpoint.rs`); the writer never checkpoints inside a commit.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .context("setting wal_autocheckpoint")?;
        writer
            .pragma_update(None, "journal_size_limit", limits.size_limit_bytes())
            .context("setting journal_size_limit")?;
        let checkpoints = Connection::open_with_flags(path, flags)?;
        checkpoints
            .busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))
            .context("setting busy_timeout")?;
        let checkpointer = Checkpointer::start(checkpoints, path.to_path_buf(), limits)
            .context("starting the checkpointer thread")?;
        Self::from_parts(writer, readers, Some(checkpointer), path.display().to_string())
    }

    fn from_parts(
        writer: Connection,
        readers: Vec<Connection>,
        checkpointer: Option<Checkpointer>,
        location: String,
    ) -> anyhow::Result<Self> {
        let writer = Writer::start(writer, checkpointer).context("starting the writer thread")?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer,
                readers: Mutex::new(readers),
                catalog: CatalogCache::default(),
                location,
            }),
        })
    }

    /// Runs `f` in the writer's next group transaction (see `writer.rs`): its changes are
    /// committed when this returns `Ok`, and rolled back when `f` returns `Err`.
    pub(crate) async fn write<T, F>(&self, what: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.inner.writer.grouped(what, f).await
    }

    /// Like [`Self::write`], in a transaction of its own with foreign-key checks off: for bulk
    /// copies of data that is consistent as a whole (restoring a snapshot), which the checks
    /// slow down by a third. The pragma cannot change inside a transaction, so it is set
    /// around it.
    pub(crate) async fn write_unchecked<T, F>(&self, what: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.inner
            .writer
            .alone(what, move |conn| {
                conn.pragma_update(None, "foreign_keys", "OFF")
                    .map_err(|e| backend(e, format_args!("{what}: foreign_keys off")))?;
                let run = |conn: &mut Connection| -> StoreResult<T> {
                    let tx = conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .map_err(|e| backend(e, format_args!("{what}: beginning transaction")))?;
                    let out = f(&tx)?;
                    tx.commit().map_err(|e| backend(e, format_args!("{what}: committing")))?;
                    Ok(out)
                };
                let out = run(conn);
                let on = conn
                    .pragma_update(None, "foreign_keys", "ON")
                    .map_err(|e| backend(e, format_args!("{what}: foreign_keys on")));
                let out = out?;
                on?;
                Ok(out)
            })
            .await
    }

    /// Runs a short read `f` in one read transaction (a consistent snapshot) on a pooled
    /// reader, right on this thread: for point lookups and small lists, where handing the work
    /// to another thread would cost more than the read. Queued to the writer thread when no
    /// reader is free (and always for an in-memory database).
    pub(crate) async fn read<T, F>(&self, what: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.read_catalog(what, move |c, _| f(c)).await
    }

    /// [`Self::read`] for reads that look up catalog apps: `f` gets them through the catalog
    /// cache when it runs on a reader, straight from the tables when it runs on the writer.
    pub(crate) async fn read_catalog<T, F>(&self, what: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &CatalogReads<'_>) -> StoreResult<T> + Send + 'static,
    {
        let pooled = lock(&self.inner.readers).pop();
        match pooled {
            Some(conn) => {
                let mut reader = Pooled { conn: Some(conn), pool: &self.inner.readers };
                let reads = CatalogReads::cached(&self.inner.catalog);
                match reader.conn.as_mut() {
                    Some(conn) => read_tx(conn, what, |c| f(c, &reads)),
                    None => {
                        Err(StoreError::Backend(anyhow!("sqlite store: {what}: reader vanished")))
                    }
                }
            }
            None => self.inner.writer.grouped(what, move |c| f(c, &CatalogReads::uncached())).await,
        }
    }

    /// Like [`Self::read`] for reads that may take long (whole catalogs): on tokio's blocking
    /// pool, so the calling task's thread keeps serving others meanwhile.
    pub(crate) async fn read_large<T, F>(&self, what: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let pooled = lock(&inner.readers).pop();
        let Some(conn) = pooled else {
            return self.inner.writer.grouped(what, f).await;
        };
        tokio::task::spawn_blocking(move || {
            let mut reader = Pooled { conn: Some(conn), pool: &inner.readers };
            match reader.conn.as_mut() {
                Some(conn) => read_tx(conn, what, f),
                None => Err(StoreError::Backend(anyhow!("sqlite store: {what}: reader vanished"))),
            }
        })
        .await
        .map_err(|e| {
            StoreError::Backend(anyhow!("sqlite store: {what}: database task failed: {e}"))
        })?
    }
}

fn read_tx<T>(
    conn: &Connection,
    what: &'static str,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    // Deferred: the snapshot starts at the first read; nothing is locked for writers. The
    // statements come from the statement cache: no parsing per read.
    let step = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(drop);
    step("BEGIN").map_err(|e| backend(e, format_args!("{what}: beginning read")))?;
    let out = f(conn);
    // A read changes nothing: ending it is the same whether it succeeded or not.
    let end = if conn.is_autocommit() { Ok(()) } else { step("COMMIT") };
    if end.is_err() && !conn.is_autocommit() {
        let _ = step("ROLLBACK");
    }
    let out = out?;
    end.map_err(|e| backend(e, format_args!("{what}: ending read")))?;
    Ok(out)
}

/// A reader taken from the pool; goes back on drop (also when the read failed or panicked,
/// by which time its transaction has been rolled back).
struct Pooled<'a> {
    conn: Option<Connection>,
    pool: &'a Mutex<Vec<Connection>>,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            lock(self.pool).push(conn);
        }
    }
}

/// A poisoned lock only means a call panicked while holding it; its transaction was rolled
/// back when it unwound, so the connection is fine to use.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer(Durability),
    Reader,
}

fn configure(conn: &mut Connection, role: Role) -> anyhow::Result<()> {
    // First, so that the pragmas below (journal_mode needs a lock) wait for other processes.
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))
        .context("setting busy_timeout")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON").context("enabling foreign keys")?;
    // SQLite's default (2 MiB) holds only the top of the b-trees of a large store, so lookups
    // in a 10-million-installation file go to the kernel for interior pages (profiled:
    // pread/copy_to_iter ~10% of a get). Bounded per connection: resident memory stays small.
    conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB).context("setting cache_size")?;
    if let Role::Writer(durability) = role {
        // Persistent in the file; in-memory databases answer "memory" and stay so.
        // Switching a fresh file to WAL needs an exclusive lock, and SQLite may answer BUSY at
        // once instead of calling the busy handler while another process opens the same file:
        // retry for as long as the busy timeout would have waited.
        let started = std::time::Instant::now();
        let mode: String = loop {
            match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
                Ok(mode) => break mode,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(
                        e.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) && started.elapsed().as_millis() < u128::from(BUSY_TIMEOUT_MS) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(e).context("enabling WAL"),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            tracing::warn!(mode, "SQLite refused WAL mode; concurrent reads will wait for writes");
        }
        // See the crate docs: with WAL, NORMAL keeps commits across a process kill, FULL
        // across an OS crash too.
        conn.pragma_update(None, "synchronous", durability.pragma())
            .context("setting synchronous")?;
        // Read back: what the connection really does is what gets logged.
        let level: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .context("reading synchronous")?;
        let durability = match level {
            2 | 3 => "full",
            1 => "normal",
            _ => "off",
        };
        tracing::info!(%durability, synchronous = level, "SQLite commit durability");
    } else {
        conn.pragma_update(None, "query_only", "ON").context("making a reader read-only")?;
    }
    Ok(())
}

//! WAL checkpoints off the writer thread.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that pushes the log past 1000 pages:
//! it copies the log into the database file and fsyncs both, on the writer thread, so every
//! write queued behind that commit waited for it (measured: 20–35 ms every ~150 ms under a
//! steady upgrade load, the whole of the writes' p99). Here the writer connection has
//! `wal_autocheckpoint=0`, and a checkpointer thread with a connection of its own runs
//! `PRAGMA wal_checkpoint(PASSIVE)` at most every [`WalLimits::interval`] after commits:
//! a passive checkpoint takes no lock a writer or reader needs, so the writer keeps committing
//! meanwhile.
//!
//! A checkpoint only copies committed frames into the database file (fsyncing the log before
//! and the file after, as SQLite always does), so durability is the same as with the automatic
//! checkpoint, and a kill at any point leaves a log that the next open replays.
//!
//! The log restarts from its beginning at the first write after a checkpoint that copied all
//! of it. Under sustained writes a concurrent checkpoint never ends with all of it copied
//! (frames keep arriving while it runs), so the log would grow without bound. When the log is
//! past [`WalLimits::cap_frames`], the checkpointer asks the writer thread to copy the few
//! frames written since, between two groups, in `RESTART` mode (which also waits for readers
//! on the old log, so the next write does restart it): one short stall per cap's worth of
//! writes instead of a long one per 1000 pages. `journal_size_limit` then truncates the file
//! back to the cap.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// When the checkpointer runs and how large the log may grow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalLimits {
    /// At least this long between two background checkpoints (each costs two fsyncs).
    pub(crate) interval: Duration,
    /// Log frames (pages) past which the writer thread finishes a checkpoint so that the log
    /// restarts.
    pub(crate) cap_frames: i64,
}

impl Default for WalLimits {
    fn default() -> Self {
        // 16384 frames of 4 KiB pages: a 64 MiB log at most (plus what arrives while the
        // writer catches up); at 10k writes/s about one catch-up every 2 s.
        WalLimits { interval: Duration::from_millis(100), cap_frames: 16384 }
    }
}

impl WalLimits {
    /// `journal_size_limit` for the writer: the log file is truncated back to about the cap
    /// when it restarts after a burst.
    pub(crate) fn size_limit_bytes(&self) -> i64 {
        self.cap_frames * (4096 + 24)
    }
}

/// What the writer thread and the checkpointer thread share.
struct Shared {
    /// Set by the writer after each commit; taken by the checkpointer.
    committed: AtomicBool,
    stop: AtomicBool,
    /// Set by the checkpointer when the log is past the cap; taken by the writer.
    catch_up: AtomicBool,
    /// Held by whoever runs a checkpoint in this process: the writer never waits behind a
    /// background checkpoint (it tries, and retries after its next group).
    running: Mutex<()>,
}

/// The checkpointer thread, owned by the writer thread.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the checkpointer thread on its own connection to the database file.
    pub(crate) fn start(
        conn: Connection,
        db_path: PathBuf,
        limits: WalLimits,
    ) -> std::io::Result<Checkpointer> {
        let shared = Arc::new(Shared {
            committed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            catch_up: AtomicBool::new(false),
            running: Mutex::new(()),
        });
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_string())
            .spawn(move || background(&conn, &db_path, &theirs, limits))?;
        Ok(Checkpointer { shared, thread: Some(thread) })
    }

    /// Called by the writer thread after a commit: wakes the checkpointer if it is idle, and
    /// finishes a checkpoint on `conn` if the checkpointer asked for it.
    pub(crate) fn after_commit(&self, conn: &Connection) {
        if !self.shared.committed.swap(true, Ordering::AcqRel) {
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
        if self.shared.catch_up.load(Ordering::Acquire) {
            let _running = match self.shared.running.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                // A background checkpoint is running: after the next group.
                Err(TryLockError::WouldBlock) => return,
            };
            self.shared.catch_up.store(false, Ordering::Release);
            if let Err(e) = checkpoint(conn, "RESTART") {
                tracing::warn!(error = %e, "SQLite checkpoint on the writer failed");
            }
        }
    }

    /// Stops the checkpointer thread, then copies what is left of the log into the database
    /// file on `conn` (clean shutdown: the file alone holds every commit; the last connection
    /// to close removes the log).
    pub(crate) fn stop(mut self, conn: &Connection) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        if let Err(e) = checkpoint(conn, "PASSIVE") {
            tracing::warn!(error = %e, "SQLite checkpoint at shutdown failed");
        }
    }
}

/// `PRAGMA wal_checkpoint(MODE)`: (busy, frames in the log, frames copied).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    conn.prepare_cached(&sql)?.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
}

fn background(conn: &Connection, db_path: &Path, shared: &Shared, limits: WalLimits) {
    let mut last = Instant::now();
    loop {
        // Until something was committed (unpark may be spurious or early: re-check).
        while !shared.committed.load(Ordering::Acquire) && !shared.stop.load(Ordering::Acquire) {
            std::thread::park();
        }
        // No more often than the interval: each checkpoint costs two fsyncs, and the frames of
        // pages written again meanwhile are copied once.
        let due = last + limits.interval;
        while !shared.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::park_timeout(due - now);
        }
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        shared.committed.store(false, Ordering::Release);
        let result = {
            let _running = shared.running.lock().unwrap_or_else(|p| p.into_inner());
            checkpoint(conn, "PASSIVE")
        };
        last = Instant::now();
        match result {
            // The counts are of the log as this checkpoint saw it, all copied but for what
            // readers still needed: a log at the cap means it has not restarted for a cap's
            // worth of frames, because writes kept arriving while checkpoints ran. (Busy:
            // another process's checkpoint ran; ours comes after the next commit.)
            Ok((_busy, log, _copied)) if log >= limits.cap_frames => {
                // Leave the writer as little as possible to do while it stalls: copy what
                // arrived during the first pass, and fsync the database file here (SQLite
                // fsyncs it only when a checkpoint copied the whole log, i.e. in the writer's
                // catch-up, which would then flush a cap's worth of pages).
                let _running = shared.running.lock().unwrap_or_else(|p| p.into_inner());
                let synced = checkpoint(conn, "PASSIVE")
                    .map_err(anyhow::Error::from)
                    .and_then(|_| Ok(std::fs::File::open(db_path)?.sync_data()?));
                if let Err(e) = synced {
                    tracing::warn!(error = %e, "SQLite background checkpoint failed");
                }
                shared.catch_up.store(true, Ordering::Release);
                last = Instant::now();
            }
            Ok(_) => shared.catch_up.store(false, Ordering::Release),
            Err(e) => tracing::warn!(error = %e, "SQLite background checkpoint failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use teamsapps_core::model::SigningKey;
    use teamsapps_core::Store;

    use super::WalLimits;
    use crate::{Durability, SqliteStore};

    const TASKS: usize = 8;
    const WRITES: usize = 500;

    fn file_len(path: &std::path::Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    /// Sustained concurrent writes keep every background checkpoint from copying the whole
    /// log, so without the writer's catch-up the log would only grow (to 4000+ frames here).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_log_stays_bounded_under_sustained_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teamsapps.db");
        let wal = dir.path().join("teamsapps.db-wal");
        let limits = WalLimits { interval: Duration::from_millis(2), cap_frames: 64 };
        let store =
            Arc::new(SqliteStore::open_file_with(&path, Durability::Normal, limits).unwrap());
        let writers: Vec<_> = (0..TASKS)
            .map(|t| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for i in 0..WRITES {
                        // A page-sized row: at least one new log frame per write.
                        let key = SigningKey {
                            kid: format!("k{t}-{i}"),
                            private_pem: "x".repeat(3000),
                            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
                        };
                        store.add_signing_key(&key).await.unwrap();
                    }
                })
            })
            .collect();
        let mut largest = 0;
        while !writers.iter().all(|w| w.is_finished()) {
            largest = largest.max(file_len(&wal));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for w in writers {
            w.await.unwrap();
        }
        let written = (TASKS * WRITES) as u64 * 4096;
        // The cap plus what arrives while the writer gets to its catch-up, far below what was
        // written (a log that never restarted holds all of it).
        assert!(
            largest < written / 4,
            "the log grew to {largest} bytes for {written} bytes of rows: it did not restart"
        );
        assert_eq!(store.signing_keys().await.unwrap().len(), TASKS * WRITES);
    }

    /// A clean shutdown leaves every commit in the database file itself, also while another
    /// connection keeps the file open (so that closing ours does not checkpoint it) and before
    /// the background checkpointer ever ran.
    #[tokio::test]
    async fn shutdown_leaves_every_commit_in_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teamsapps.db");
        let limits = WalLimits { interval: Duration::from_secs(3600), cap_frames: 64 };
        let store = SqliteStore::open_file_with(&path, Durability::Normal, limits).unwrap();
        let other = rusqlite::Connection::open(&path).unwrap();
        // A read opens its share of the log: from now on, closing ours is not the last close.
        let _: i64 =
            other.query_row("SELECT count(*) FROM signing_keys", [], |r| r.get(0)).unwrap();
        for i in 0..20 {
            let key = SigningKey {
                kid: format!("k{i}"),
                private_pem: "PEM".into(),
                created_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            };
            store.add_signing_key(&key).await.unwrap();
        }
        drop(store);
        // Only the database file, without the log: every key is in it.
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let keys: i64 = rusqlite::Connection::open(&copy)
            .unwrap()
            .query_row("SELECT count(*) FROM signing_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(keys, 20, "commits left only in the log at shutdown");
        drop(other);
    }
}

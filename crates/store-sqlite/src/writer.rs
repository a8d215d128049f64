//! Group commit: one thread owns the writer connection and drains a queue of write jobs into
//! shared transactions.
//!
//! Each job runs inside its own savepoint of the group's `BEGIN IMMEDIATE` transaction, so a job
//! that fails (a conflict, say) is rolled back alone and the others go on. Every job is answered
//! only after the group's `COMMIT` returned, so "the write was acknowledged" still means "the
//! write is committed" (with the durability of the connection's `synchronous` setting). One
//! commit (and, with `synchronous=FULL`, one fsync) serves every job that queued up while the
//! previous group was being written: the busier the server, the bigger the groups.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use anyhow::anyhow;
use rusqlite::Connection;
use teamsapps_core::store::StoreResult;
use teamsapps_core::StoreError;

use crate::checkpoint::Checkpointer;

/// Jobs committed together at most. Bounds the latency one group adds to its first job.
const MAX_GROUP: usize = 256;

/// Called once the group's transaction ended: `None` when it committed, else why it did not.
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;

/// A job of a group transaction.
trait GroupJob: Send {
    /// Runs inside a savepoint of the group transaction; returns how to answer after COMMIT.
    fn run(self: Box<Self>, conn: &Connection) -> Finish;
    /// Answers without running: the group transaction could not be (or is no longer) open.
    fn fail(self: Box<Self>, why: &str);
}

struct Grouped<T, F> {
    what: &'static str,
    f: F,
    reply: tokio::sync::oneshot::Sender<StoreResult<T>>,
}

impl<T, F> GroupJob for Grouped<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Finish {
        let Grouped { what, f, reply } = *self;
        let out = in_savepoint(conn, what, f);
        Box::new(move |failed: Option<&str>| {
            let out = match (out, failed) {
                (Ok(_), Some(why)) => Err(not_committed(what, why)),
                (out, _) => out,
            };
            let _ = reply.send(out);
        })
    }

    fn fail(self: Box<Self>, why: &str) {
        let _ = self.reply.send(Err(not_committed(self.what, why)));
    }
}

fn not_committed(what: &str, why: &str) -> StoreError {
    StoreError::Backend(anyhow!("sqlite store: {what}: the transaction did not commit: {why}"))
}

enum Job {
    Grouped(Box<dyn GroupJob>),
    /// Runs alone, between groups, with the connection to itself (it manages its own
    /// transaction, e.g. to change a pragma that cannot change inside one).
    Alone(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// The sending side of the writer thread's queue. Dropping the last handle stops the thread
/// once the queue is drained.
pub(crate) struct Writer {
    /// `None` only while dropping.
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    /// Closes the queue and waits for the thread to finish what was queued and close the
    /// connection: once the store is dropped, the database file is closed (a reopen, another
    /// process or a copy of the file sees a checkpointed database).
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Writer {
    /// Starts the writer thread on `conn`, with the checkpointer of a file database (none in
    /// memory), which it stops when it ends.
    pub(crate) fn start(
        conn: Connection,
        checkpoints: Option<Checkpointer>,
    ) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_string())
            .spawn(move || run(conn, &jobs, checkpoints))?;
        Ok(Writer { queue: Some(queue), thread: Some(thread) })
    }

    /// Runs `f` in the next group transaction; answers after that transaction committed (or
    /// with the error that kept it from committing).
    pub(crate) async fn grouped<T, F>(&self, what: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel::<StoreResult<T>>();
        self.send(what, Job::Grouped(Box::new(Grouped { what, f, reply })))?;
        rx.await.map_err(|_| stopped(what))?
    }

    /// Runs `f` alone on the connection, between groups.
    pub(crate) async fn alone<T, F>(&self, what: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<StoreResult<T>>();
        let job = Job::Alone(Box::new(move |conn: &mut Connection| {
            let out = catch_unwind(AssertUnwindSafe(|| f(conn))).unwrap_or_else(|_| {
                Err(StoreError::Backend(anyhow!("sqlite store: {what}: panicked")))
            });
            let _ = tx.send(out);
        }));
        self.send(what, job)?;
        rx.await.map_err(|_| stopped(what))?
    }

    fn send(&self, what: &'static str, job: Job) -> StoreResult<()> {
        match &self.queue {
            Some(queue) => queue.send(job).map_err(|_| stopped(what)),
            None => Err(stopped(what)),
        }
    }
}

fn stopped(what: &str) -> StoreError {
    StoreError::Backend(anyhow!("sqlite store: {what}: the writer thread stopped"))
}

/// `f` inside `SAVEPOINT job`: released when it returns `Ok`, rolled back when it returns
/// `Err` or panics, so a failed job leaves nothing behind in the group transaction.
fn in_savepoint<T>(
    conn: &Connection,
    what: &'static str,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    step(conn, "SAVEPOINT job")
        .map_err(|e| crate::rows::backend(e, format_args!("{what}: savepoint")))?;
    let out = catch_unwind(AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(StoreError::Backend(anyhow!("sqlite store: {what}: panicked"))));
    if out.is_err() && !conn.is_autocommit() {
        // The job's changes go; the group's earlier jobs stay.
        let _ = step(conn, "ROLLBACK TO job");
    }
    if !conn.is_autocommit() {
        let _ = step(conn, "RELEASE job");
    }
    out
}

/// Runs a statement without parameters through the statement cache (no re-parse per call).
fn step(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn run(mut conn: Connection, jobs: &mpsc::Receiver<Job>, checkpoints: Option<Checkpointer>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    // Blocks for the first job; then takes whatever else is already queued.
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        // Woken by the first write, give the threads that produce writes one turn before
        // draining: on a busy core the writes queued meanwhile join this group instead of each
        // waking this thread (and committing) on its own.
        std::thread::yield_now();
        while batch.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut group = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            match job {
                Job::Grouped(f) => group.push(f),
                Job::Alone(f) => {
                    commit_group(&conn, &mut group);
                    f(&mut conn);
                }
            }
        }
        commit_group(&conn, &mut group);
        if let Some(c) = &checkpoints {
            c.after_commit(&conn);
        }
    }
    if let Some(c) = checkpoints {
        c.stop(&conn);
    }
}

/// Runs the jobs of `group` in one transaction and answers each after it ended.
fn commit_group(conn: &Connection, group: &mut Vec<Box<dyn GroupJob>>) {
    if group.is_empty() {
        return;
    }
    if let Err(e) = step(conn, "BEGIN IMMEDIATE") {
        let why = format!("beginning the transaction: {e}");
        for job in group.drain(..) {
            job.fail(&why);
        }
        return;
    }
    let mut finishes: Vec<Finish> = Vec::with_capacity(group.len());
    let mut lost: Option<String> = None;
    for job in group.drain(..) {
        if let Some(why) = &lost {
            // Never run a job outside the group transaction (it would commit on its own).
            job.fail(why);
            continue;
        }
        finishes.push(job.run(conn));
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, full disk): every job of
            // the group so far is lost with it.
            lost = Some("SQLite rolled the transaction back after an error".to_string());
        }
    }
    let failed = match lost {
        Some(why) => Some(why),
        None => match step(conn, "COMMIT") {
            Ok(()) => None,
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = step(conn, "ROLLBACK");
                }
                Some(format!("committing: {e}"))
            }
        },
    };
    for finish in finishes {
        finish(failed.as_deref());
    }
}

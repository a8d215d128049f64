//! The journal: one SQLite file holding the rollout's options, its plan and the state of every
//! target. Each state change is its own transaction in WAL mode, so a `kill -9` at any moment
//! loses nothing that was recorded (SQLite's WAL with `synchronous=NORMAL` survives a crash of
//! the process; only a power loss may drop the last commits). The client secret is never
//! written here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS targets (
    id               INTEGER PRIMARY KEY,
    scope            TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    installation_id  TEXT NOT NULL,
    from_version     TEXT NOT NULL,
    to_version       TEXT NOT NULL,
    needs_consent    INTEGER NOT NULL,
    state            TEXT NOT NULL,
    reason           TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    repeats          INTEGER NOT NULL DEFAULT 0,
    error_class      TEXT,
    error_code       TEXT,
    error_message    TEXT,
    verified_version TEXT,
    UNIQUE (scope, resource_id, installation_id)
) STRICT;
";

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// To upgrade.
    Pending,
    /// Sent, no answer recorded yet (a crash here means it is sent again on resume).
    InFlight,
    Upgraded,
    /// Already at the target version when planned.
    Current,
    /// Predicted to be refused (the plan's reason); not attempted.
    Blocked,
    /// Refused for good, with Graph's code and message.
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::InFlight => "in_flight",
            State::Upgraded => "upgraded",
            State::Current => "current",
            State::Blocked => "blocked",
            State::Failed => "failed",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "in_flight" => State::InFlight,
            "upgraded" => State::Upgraded,
            "current" => State::Current,
            "blocked" => State::Blocked,
            "failed" => State::Failed,
            _ => State::Pending,
        }
    }
}

/// One installation to move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: i64,
    /// `user`, `chat` or `team`.
    pub scope: String,
    pub resource_id: String,
    pub installation_id: String,
    pub from_version: String,
    pub to_version: String,
    pub needs_consent: bool,
    pub state: State,
    pub reason: Option<String>,
    pub attempts: i64,
    pub repeats: i64,
    pub error_class: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub verified_version: Option<String>,
}

pub struct Journal {
    conn: Mutex<Connection>,
}

fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const COLS: &str = "id, scope, resource_id, installation_id, from_version, to_version, \
    needs_consent, state, reason, attempts, repeats, error_class, error_code, error_message, \
    verified_version";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Target> {
    Ok(Target {
        id: r.get(0)?,
        scope: r.get(1)?,
        resource_id: r.get(2)?,
        installation_id: r.get(3)?,
        from_version: r.get(4)?,
        to_version: r.get(5)?,
        needs_consent: r.get::<_, i64>(6)? != 0,
        state: State::parse(&r.get::<_, String>(7)?),
        reason: r.get(8)?,
        attempts: r.get(9)?,
        repeats: r.get(10)?,
        error_class: r.get(11)?,
        error_code: r.get(12)?,
        error_message: r.get(13)?,
        verified_version: r.get(14)?,
    })
}

impl Journal {
    /// Opens (or creates) the journal at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Journal> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the journal {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("{} is not a rollout journal", path.display()))?;
        Ok(Journal { conn: Mutex::new(conn) })
    }

    /// Opens a journal that must already hold a plan.
    pub fn open_existing(path: &Path) -> anyhow::Result<Journal> {
        if !path.exists() {
            anyhow::bail!(
                "there is no journal at {}: start with `teamsapps rollout plan` or `run`",
                path.display()
            );
        }
        let journal = Journal::open(path)?;
        if !journal.has_plan()? {
            anyhow::bail!(
                "the journal {} has no plan yet: run `teamsapps rollout plan`",
                path.display()
            );
        }
        Ok(journal)
    }

    pub fn meta(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(lock(&self.conn)
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> anyhow::Result<()> {
        lock(&self.conn).execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn has_plan(&self) -> anyhow::Result<bool> {
        Ok(self.meta("plan")?.is_some())
    }

    /// Writes the plan and its targets in one transaction: a journal has a whole plan or none.
    pub fn write_plan(&self, meta: &[(&str, String)], targets: &[Target]) -> anyhow::Result<()> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM targets", [])?;
        for (k, v) in meta {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![k, v],
            )?;
        }
        {
            let mut stmt = tx.prepare(
                "INSERT INTO targets (scope, resource_id, installation_id, from_version, \
                 to_version, needs_consent, state, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for t in targets {
                stmt.execute(params![
                    t.scope,
                    t.resource_id,
                    t.installation_id,
                    t.from_version,
                    t.to_version,
                    t.needs_consent as i64,
                    t.state.as_str(),
                    t.reason
                ])?;
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('plan', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1",
            [chrono::Utc::now().to_rfc3339()],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn targets(&self) -> anyhow::Result<Vec<Target>> {
        let conn = lock(&self.conn);
        let mut stmt = conn.prepare(&format!("SELECT {COLS} FROM targets ORDER BY id"))?;
        let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// What is left to send: pending targets, and those in flight when the last run stopped.
    pub fn remaining(&self) -> anyhow::Result<Vec<Target>> {
        Ok(self
            .targets()?
            .into_iter()
            .filter(|t| matches!(t.state, State::Pending | State::InFlight))
            .collect())
    }

    /// Marks a target sent; one sent again after a crash counts as a repeat.
    pub fn start(&self, id: i64) -> anyhow::Result<()> {
        lock(&self.conn).execute(
            "UPDATE targets SET repeats = repeats + (state = 'in_flight'), state = 'in_flight' WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    /// Records the answer of a target.
    pub fn finish(
        &self,
        id: i64,
        state: State,
        attempts: u32,
        error: Option<(&str, &str, &str)>,
    ) -> anyhow::Result<()> {
        let (class, code, message) = match error {
            Some((a, b, c)) => (Some(a), Some(b), Some(c)),
            None => (None, None, None),
        };
        lock(&self.conn).execute(
            "UPDATE targets SET state = ?2, attempts = attempts + ?3, error_class = ?4, \
             error_code = ?5, error_message = ?6 WHERE id = ?1",
            params![id, state.as_str(), attempts as i64, class, code, message],
        )?;
        Ok(())
    }

    pub fn set_verified(&self, id: i64, version: &str) -> anyhow::Result<()> {
        lock(&self.conn).execute(
            "UPDATE targets SET verified_version = ?2 WHERE id = ?1",
            params![id, version],
        )?;
        Ok(())
    }

    /// Targets per (scope, state).
    pub fn counts(&self) -> anyhow::Result<BTreeMap<(String, State), usize>> {
        let mut out = BTreeMap::new();
        for t in self.targets()? {
            *out.entry((t.scope, t.state)).or_insert(0) += 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(resource: &str) -> Target {
        Target {
            id: 0,
            scope: "user".into(),
            resource_id: resource.into(),
            installation_id: format!("inst-{resource}"),
            from_version: "1.0.0".into(),
            to_version: "2.0.0".into(),
            needs_consent: false,
            state: State::Pending,
            reason: None,
            attempts: 0,
            repeats: 0,
            error_class: None,
            error_code: None,
            error_message: None,
            verified_version: None,
        }
    }

    #[test]
    fn a_plan_survives_reopening_and_a_resent_target_counts_as_a_repeat() {
        let dir = tempfile_dir();
        let path = dir.join("j.db");
        {
            let j = Journal::open(&path).unwrap();
            assert!(!j.has_plan().unwrap());
            j.write_plan(&[("app", "a".into())], &[target("u1"), target("u2")]).unwrap();
            let first = j.targets().unwrap()[0].id;
            j.start(first).unwrap();
        }
        let j = Journal::open_existing(&path).unwrap();
        assert_eq!(j.meta("app").unwrap().as_deref(), Some("a"));
        let left = j.remaining().unwrap();
        assert_eq!(left.len(), 2);
        assert_eq!(left[0].state, State::InFlight);
        j.start(left[0].id).unwrap();
        j.finish(left[0].id, State::Upgraded, 2, None).unwrap();
        let t = &j.targets().unwrap()[0];
        assert_eq!((t.state, t.attempts, t.repeats), (State::Upgraded, 2, 1));
        assert_eq!(j.remaining().unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("journal-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

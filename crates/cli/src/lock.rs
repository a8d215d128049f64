//! One server per SQLite database: an OS file lock on a lock file beside it, held for the
//! server's life. The OS drops the lock when the process ends, `kill -9` included, so a crashed
//! server never leaves a stale lock behind (the file itself stays; it is only a handle).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Held while the server runs; dropping it (or the process ending) releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// The lock file of an SQLite store and what to call that store in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTarget {
    pub file: PathBuf,
    pub what: String,
}

impl LockTarget {
    /// The lock of a data directory: `DIR/teamsapps.lock`.
    pub fn data_dir(dir: &Path) -> LockTarget {
        LockTarget {
            file: dir.join("teamsapps.lock"),
            what: format!("the data directory {}", dir.display()),
        }
    }

    /// The lock of an SQLite file named by `sqlite://PATH`: `PATH.lock`. None for an in-memory
    /// database, which no other process can open.
    pub fn sqlite_url(url: &str) -> Option<LockTarget> {
        let lower = url.to_ascii_lowercase();
        let rest = if lower.starts_with("sqlite://") {
            &url["sqlite://".len()..]
        } else if lower.starts_with("sqlite:") {
            &url["sqlite:".len()..]
        } else {
            return None;
        };
        if rest.is_empty() || rest == ":memory:" {
            return None;
        }
        let mut file = PathBuf::from(rest).into_os_string();
        file.push(".lock");
        Some(LockTarget { file: file.into(), what: format!("the SQLite database {rest}") })
    }
}

/// Takes the lock or says who holds it. `holder` is recorded in the file for the next one to
/// name (the process id and where it listens).
pub fn acquire(target: &LockTarget, holder: &str) -> anyhow::Result<StoreLock> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&target.file)
        .with_context(|| format!("cannot open the lock file {}", target.file.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut recorded = String::new();
            let _ = file.read_to_string(&mut recorded);
            let recorded = recorded.trim();
            let who = if recorded.is_empty() {
                "another process".to_string()
            } else {
                recorded.to_string()
            };
            bail!(
                "{} is in use by another teamsapps server ({who}; lock file {}): stop that server, \
                 or give this one its own --data (or --in-memory for a throwaway store)",
                target.what,
                target.file.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e)
                .with_context(|| format!("cannot lock the lock file {}", target.file.display()))
        }
    }
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
        .and_then(|()| writeln!(file, "{holder}"))
        .and_then(|()| file.flush())
        .with_context(|| format!("cannot write the lock file {}", target.file.display()))?;
    Ok(StoreLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let target = LockTarget::data_dir(dir.path());
        let first = acquire(&target, "pid 42, listening on http://127.0.0.1:1").unwrap();
        let err = format!("{:#}", acquire(&target, "pid 43").unwrap_err());
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(err.contains("pid 42, listening on http://127.0.0.1:1"), "{err}");
        drop(first);
        let again = acquire(&target, "pid 43").unwrap();
        drop(again);
        assert_eq!(std::fs::read_to_string(&target.file).unwrap(), "pid 43\n");
    }

    #[test]
    fn sqlite_urls_lock_beside_the_file_and_memory_not_at_all() {
        let t = LockTarget::sqlite_url("sqlite:///tmp/x/db.sqlite").unwrap();
        assert_eq!(t.file, PathBuf::from("/tmp/x/db.sqlite.lock"));
        assert_eq!(LockTarget::sqlite_url("sqlite::memory:"), None);
        assert_eq!(LockTarget::sqlite_url("sqlite://:memory:"), None);
        assert_eq!(LockTarget::sqlite_url("postgres://h/db"), None);
    }
}

//! The data directory holds the token signing key and the fixture's secrets: it is created
//! for its owner only (0700), its database files are 0600, and a directory other users may
//! write to is refused (they could swap the database, and with it the key).

use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context};

/// Creates `dir` (and its parents) for its owner only, or checks and tightens an existing one.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("cannot read the data directory {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("the data directory {} is not a directory", dir.display());
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        bail!(
            "the data directory {} is writable by other users (mode {mode:03o}); it holds the token signing key. Run `chmod 700 {}` or choose another --data",
            dir.display(),
            dir.display()
        );
    }
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make the data directory {} private", dir.display()))?;
        tracing::warn!(dir = %dir.display(), was = format!("{mode:03o}"), "data directory made private (0700)");
    }
    Ok(())
}

/// Makes the SQLite database file `db` private before SQLite opens it: a new one is created
/// empty with 0600 (SQLite gives its -wal and -shm files the database's mode), an existing one
/// and its -wal and -shm are set to 0600.
pub fn private_database(db: &Path) -> anyhow::Result<()> {
    if !db.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(db)
            .with_context(|| format!("cannot create the database {}", db.display()))?;
        return Ok(());
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let p = Path::new(&p);
        if p.exists() {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} private", p.display()))?;
        }
    }
    Ok(())
}

//! The schema history every store follows.
//!
//! The SQLite and PostgreSQL stores each embed their own SQL for a migration (the dialects
//! differ), but a migration means the same change in both, under the same version and name:
//! a database of either kind at version N has the same model. [`HISTORY`] is that list, the
//! one place a new migration is named; each store checks in its tests, with
//! [`check_embedded`], that what it embeds is exactly this history, and asks [`pending`] which
//! of its migrations a database still needs.

use std::fmt;
use std::path::Path;

/// One step of the schema history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub version: i64,
    pub name: &'static str,
}

/// Every migration, ascending by version from 1 without gaps.
pub const HISTORY: &[Step] = &[
    Step { version: 1, name: "init" },
    Step { version: 2, name: "tenant_settings" },
    // The installation index without the version: an upgrade rewrites no index entry.
    Step { version: 3, name: "installations_by_app" },
    // The trigger-maintained catalog generation that catalog caches are checked against.
    Step { version: 4, name: "catalog_generation" },
    // Optional profile fields of the fixture's users, teams and chats.
    Step { version: 5, name: "directory_profile" },
    // The icon files of published packages (beta colorIcon/outlineIcon hostedContent).
    Step { version: 6, name: "definition_icons" },
];

/// The schema version this build creates and expects: the last step's version.
pub const SCHEMA_VERSION: i64 = HISTORY[HISTORY.len() - 1].version;

/// A migration as a store embeds it: `(version, name, sql)`.
pub type Embedded = (i64, &'static str, &'static str);

/// `0003_installations_by_app`: the migration's file stem under a store's `migrations/`.
pub fn label(version: i64, name: &str) -> String {
    format!("{version:04}_{name}")
}

/// Why a database cannot be migrated by this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooNew {
    /// The highest version the database records.
    pub found: i64,
}

impl fmt::Display for TooNew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the database has schema version {}, newer than this build supports \
             ({SCHEMA_VERSION}); use a newer teamsapps",
            self.found
        )
    }
}

impl std::error::Error for TooNew {}

/// The migrations of `embedded` that a database at version `current` has not applied, in
/// order; an error when `current` is newer than [`SCHEMA_VERSION`] (the database was written
/// by a newer build, whose schema this one does not know).
pub fn pending(embedded: &'static [Embedded], current: i64) -> Result<&'static [Embedded], TooNew> {
    if current > SCHEMA_VERSION {
        return Err(TooNew { found: current });
    }
    let first = embedded.iter().position(|m| m.0 > current).unwrap_or(embedded.len());
    Ok(&embedded[first..])
}

/// Checks that `embedded` is exactly [`HISTORY`]: the same versions with the same names, in
/// order. A store's unit test calls it, so a migration added to one store only (or numbered or
/// named differently) fails that store's tests.
pub fn check_embedded(embedded: &[Embedded]) -> Result<(), String> {
    let theirs: Vec<String> = embedded.iter().map(|(v, n, _)| label(*v, n)).collect();
    let ours: Vec<String> = HISTORY.iter().map(|s| label(s.version, s.name)).collect();
    if theirs != ours {
        return Err(format!(
            "the embedded migrations {theirs:?} are not the schema history {ours:?}"
        ));
    }
    if let Some((v, n, _)) = embedded.iter().find(|(_, _, sql)| sql.trim().is_empty()) {
        return Err(format!("migration {} has no SQL", label(*v, n)));
    }
    Ok(())
}

/// Checks that every embedded migration is the file `dir/<label>.sql`, byte for byte (so the
/// name in the list is the name of the file it embeds), and that `dir` holds no other `.sql`.
pub fn check_files(dir: &Path, embedded: &[Embedded]) -> Result<(), String> {
    for (version, name, sql) in embedded {
        let path = dir.join(format!("{}.sql", label(*version, name)));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if text != *sql {
            return Err(format!("{} is not what migration {version} embeds", path.display()));
        }
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let file = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?.file_name();
        let file = file.to_string_lossy();
        let Some(stem) = file.strip_suffix(".sql") else { continue };
        if !embedded.iter().any(|(v, n, _)| label(*v, n) == stem) {
            return Err(format!("{}/{file} is not embedded", dir.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    static LIST: &[Embedded] = &[
        (1, "init", "CREATE TABLE a (x int);"),
        (2, "tenant_settings", "CREATE TABLE b (x int);"),
        (3, "installations_by_app", "CREATE INDEX i ON a (x);"),
        (4, "catalog_generation", "CREATE TABLE c (x int);"),
        (5, "directory_profile", "ALTER TABLE a ADD COLUMN y int;"),
        (6, "definition_icons", "CREATE TABLE d (x int);"),
    ];

    #[test]
    fn history_ascends_from_one_without_gaps() {
        for (i, step) in HISTORY.iter().enumerate() {
            assert_eq!(step.version, i as i64 + 1, "{step:?}");
            assert!(
                !step.name.is_empty()
                    && step.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{step:?}"
            );
        }
        assert_eq!(SCHEMA_VERSION, HISTORY.len() as i64);
    }

    #[test]
    fn pending_is_what_the_database_has_not_seen() {
        assert_eq!(pending(LIST, 0).unwrap().len(), 6);
        assert_eq!(pending(LIST, 2).unwrap().iter().map(|m| m.0).collect::<Vec<_>>(), [3, 4, 5, 6]);
        assert!(pending(LIST, SCHEMA_VERSION).unwrap().is_empty());
        let err = pending(LIST, SCHEMA_VERSION + 1).unwrap_err();
        assert_eq!(err, TooNew { found: SCHEMA_VERSION + 1 });
        assert!(err.to_string().contains("newer than this build supports"), "{err}");
    }

    #[test]
    fn an_embedded_list_must_be_the_history() {
        check_embedded(LIST).unwrap();
        assert!(check_embedded(&LIST[..3]).unwrap_err().contains("not the schema history"));
        let renamed: Vec<Embedded> =
            LIST.iter().map(|&(v, n, s)| (v, if v == 3 { "by_app" } else { n }, s)).collect();
        assert!(check_embedded(&renamed).unwrap_err().contains("0003_by_app"));
        let empty: Vec<Embedded> =
            LIST.iter().map(|&(v, n, s)| (v, n, if v == 2 { " \n" } else { s })).collect();
        assert!(check_embedded(&empty).unwrap_err().contains("0002_tenant_settings has no SQL"));
    }

    #[test]
    fn files_must_match_what_is_embedded() {
        let dir = std::env::temp_dir().join(format!("store-migrations-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (v, n, sql) in &LIST[..2] {
            std::fs::write(dir.join(format!("{}.sql", label(*v, n))), sql).unwrap();
        }
        check_files(&dir, &LIST[..2]).unwrap();
        assert!(check_files(&dir, &LIST[..3]).unwrap_err().contains("cannot read"));
        assert!(check_files(&dir, &LIST[..1]).unwrap_err().contains("is not embedded"));
        std::fs::write(dir.join("0002_tenant_settings.sql"), "changed").unwrap();
        assert!(check_files(&dir, &LIST[..2]).unwrap_err().contains("is not what migration 2"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

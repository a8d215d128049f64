//! Embedded schema migrations.
//!
//! Each migration is an SQL file under `migrations/`, compiled into the binary. Applied
//! migrations are recorded in `schema_migrations`; opening a database applies, in order, the
//! ones it has not seen, all inside one `BEGIN IMMEDIATE` transaction. The immediate
//! transaction takes the database's write lock before reading what was applied, so two
//! processes opening the same file at once serialise: the second sees the first's rows and
//! applies nothing. The versions and names are the shared schema history
//! (`teamsapps_store_migrations::HISTORY`), the same as the PostgreSQL store's.

use anyhow::Context;
use chrono::{SecondsFormat, Utc};
use rusqlite::{Connection, TransactionBehavior};

/// `(version, name, sql)` of every migration, ascending by version.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (2, "tenant_settings", include_str!("../migrations/0002_tenant_settings.sql")),
    (3, "installations_by_app", include_str!("../migrations/0003_installations_by_app.sql")),
    (4, "catalog_generation", include_str!("../migrations/0004_catalog_generation.sql")),
    (5, "directory_profile", include_str!("../migrations/0005_directory_profile.sql")),
    (6, "definition_icons", include_str!("../migrations/0006_definition_icons.sql")),
];

/// The schema version this build creates and expects (the shared history's last version).
pub const SCHEMA_VERSION: i64 = teamsapps_store_migrations::SCHEMA_VERSION;

/// Every embedded migration as `(version, name, sql)`, ascending by version.
pub fn migrations() -> &'static [(i64, &'static str, &'static str)] {
    MIGRATIONS
}

/// Applies the migrations `conn` has not seen yet; returns the versions it applied.
///
/// Fails when the database records a version newer than [`SCHEMA_VERSION`] (it was written
/// by a newer build, whose schema this one does not know).
pub(crate) fn migrate(conn: &mut Connection) -> anyhow::Result<Vec<i64>> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("locking the database to migrate it")?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TEXT NOT NULL
         );",
    )
    .context("creating schema_migrations")?;
    let current: i64 = tx
        .query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| r.get(0))
        .context("reading the schema version")?;
    let mut applied = Vec::new();
    for &(version, name, sql) in teamsapps_store_migrations::pending(MIGRATIONS, current)? {
        tx.execute_batch(sql).with_context(|| format!("applying migration {version:04}_{name}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                version,
                name,
                Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
            ],
        )
        .with_context(|| format!("recording migration {version:04}_{name}"))?;
        tracing::info!(version, name, "applied database migration");
        applied.push(version);
    }
    tx.commit().context("committing migrations")?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_the_schema_history_from_its_files() {
        teamsapps_store_migrations::check_embedded(MIGRATIONS).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        teamsapps_store_migrations::check_files(&dir, MIGRATIONS).unwrap();
    }

    #[test]
    fn migrating_twice_applies_nothing_the_second_time() {
        let mut conn = Connection::open_in_memory().unwrap();
        let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.0).collect();
        assert_eq!(migrate(&mut conn).unwrap(), all);
        assert!(migrate(&mut conn).unwrap().is_empty());
    }
}

//! Embedded schema migrations.
//!
//! Each migration is an SQL file under `migrations/`, compiled into the binary; the versions
//! and names are the shared schema history (`teamsapps_store_migrations::HISTORY`), the same
//! as the SQLite store's. Applied migrations are recorded in `schema_migrations`.
//! Connecting applies, in order, the ones the database has not seen, all inside one
//! transaction that first takes a transaction-scoped advisory lock: when several nodes start at
//! once (or `teamsapps migrate` runs beside them) they queue on the lock, and each one after the
//! first reads the versions the first recorded and applies nothing. DDL is transactional in
//! PostgreSQL, so a migration that fails leaves nothing half-applied.

use anyhow::Context;
use deadpool_postgres::Object;

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

/// The advisory lock key that serialises migrations ("teamsapp" in ASCII).
pub(crate) const MIGRATION_LOCK: i64 = 0x7465_616d_7361_7070;

/// Every embedded migration as `(version, name, sql)`, ascending by version.
pub fn migrations() -> &'static [(i64, &'static str, &'static str)] {
    MIGRATIONS
}

/// Applies the migrations the database has not seen yet; returns the versions it applied.
///
/// Fails when the database records a version newer than [`SCHEMA_VERSION`] (it was written by a
/// newer build, whose schema this one does not know).
pub(crate) async fn migrate(client: &mut Object) -> anyhow::Result<Vec<i64>> {
    let tx = client.transaction().await.context("beginning the migration transaction")?;
    // A migration may take longer than the sessions' statement_timeout; it is bounded by the
    // lock and the DDL, not by traffic.
    // (And `CREATE … IF NOT EXISTS` need not tell every starting node that the table exists.)
    tx.batch_execute("SET LOCAL statement_timeout = 0; SET LOCAL client_min_messages = warning")
        .await
        .context("preparing the migration transaction")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("taking the migration lock (pg_advisory_xact_lock)")?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    bigint PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .context("creating schema_migrations")?;
    let current: i64 = tx
        .query_one("SELECT coalesce(max(version), 0)::bigint FROM schema_migrations", &[])
        .await
        .context("reading the schema version")?
        .try_get(0)?;
    let mut applied = Vec::new();
    for &(version, name, sql) in teamsapps_store_migrations::pending(MIGRATIONS, current)? {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("applying migration {version:04}_{name}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&version, &name],
        )
        .await
        .with_context(|| format!("recording migration {version:04}_{name}"))?;
        tracing::info!(version, name, "applied database migration");
        applied.push(version);
    }
    tx.commit().await.context("committing migrations")?;
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
}

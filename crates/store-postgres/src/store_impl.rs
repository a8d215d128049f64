//! The `Store` methods: SQL per use case.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use teamsapps_core::model::{
    AppDefinition, Application, CatalogApp, Chat, Installation, PublishingState,
    ResourceSpecificPermission, ScopeRef, SigningKey, Team, TeamsApp, Tenant, TenantSettings, User,
};
use teamsapps_core::model::{DefinitionIcon, IconKind};
use teamsapps_core::store::{
    ScopeEntity, ScopeKey, ScopedInstallation, Seed, StoreResult, Transition, UpgradeOutcome,
};
use teamsapps_core::version::sort_key;
use teamsapps_core::{Store, StoreError};
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;

use crate::rows::{
    self, app_with_definition_cols, application_cols, chat_cols, definition_cols,
    installation_cols, team_cols, time_text, user_cols, Decoded,
};
use crate::{catalog_cache, conflict, corrupt, Failure, PgStore};

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Every row of a statement (prepared once per connection).
async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, Failure> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query(&stmt, params).await?)
}

/// The row of a statement that returns at most one.
async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, Failure> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&stmt, params).await?)
}

/// Runs a write statement; the raw result, so callers can map constraint violations.
async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.execute(&stmt, params).await
}

/// PostgreSQL text cannot hold U+0000, so no stored key contains it: a lookup by such a key
/// finds nothing, without asking the server (which would refuse the parameter).
fn any_nul(keys: &[&str]) -> bool {
    keys.iter().any(|k| k.contains('\0'))
}

fn decode_all<T>(rows: &[Row], f: impl Fn(&Row) -> Decoded<T>) -> Decoded<Vec<T>> {
    rows.iter().map(f).collect()
}

macro_rules! insert_definition {
    ($tail:literal) => {
        concat!(
            "INSERT INTO definitions (tenant_id, app_id, version, version_key, state, display_name, \
             short_description, description, last_modified, created_by, client_app_id, \
             required_permissions, bot_id, allowed_team, allowed_group_chat, allowed_personal, etag) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            $tail
        )
    };
}

macro_rules! insert_installation {
    ($tail:literal) => {
        concat!(
            "INSERT INTO installations \
             (tenant_id, scope_kind, scope_id, app_id, version, version_key, consented) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            $tail
        )
    };
}

/// Runs one of the `insert_definition!` statements for `def` in `tenant_id`.
async fn put_definition<C: GenericClient>(
    c: &C,
    sql: &str,
    tenant_id: &str,
    def: &AppDefinition,
) -> Result<u64, tokio_postgres::Error> {
    let key = sort_key(&def.version);
    let last_modified = def.last_modified.as_ref().map(time_text);
    execute(
        c,
        sql,
        &[
            &tenant_id,
            &def.app_id,
            &def.version,
            &key,
            &def.publishing_state.as_str(),
            &def.display_name,
            &def.short_description,
            &def.description,
            &last_modified,
            &def.created_by,
            &def.client_app_id,
            &Json(&def.required_permissions),
            &def.bot_id,
            &def.allowed_scopes.team,
            &def.allowed_scopes.group_chat,
            &def.allowed_scopes.personal,
            &def.etag,
        ],
    )
    .await
}

async fn put_installation<C: GenericClient>(
    c: &C,
    sql: &str,
    i: &Installation,
) -> Result<u64, tokio_postgres::Error> {
    let key = sort_key(&i.version);
    let consented = i.consented.as_ref().map(Json);
    execute(
        c,
        sql,
        &[
            &i.tenant_id,
            &i.scope.kind.as_str(),
            &i.scope.id,
            &i.app_id,
            &i.version,
            &key,
            &consented,
        ],
    )
    .await
}

/// Folds `apps LEFT JOIN definitions` rows (ordered by app, then version) into catalog apps;
/// the app's columns start at `at`, its definition's right after. Rows without an app (an
/// outer join that found none) are skipped.
fn catalog_apps(rows: &[Row], at: usize, what: &'static str) -> Decoded<Vec<CatalogApp>> {
    let mut out: Vec<CatalogApp> = Vec::new();
    for row in rows {
        if !rows::is_present(row, at)? {
            continue;
        }
        let tenant: &str = row.try_get(at)?;
        let id: &str = row.try_get(at + 1)?;
        let same = out.last().is_some_and(|a| a.app.id == id && a.app.tenant_id == tenant);
        if !same {
            out.push(CatalogApp { app: rows::app(row, at, what)?, definitions: Vec::new() });
        }
        if rows::is_present(row, at + 4)? {
            let def = rows::definition(row, at + 4, what)?;
            if let Some(last) = out.last_mut() {
                last.definitions.push(def);
            }
        }
    }
    Ok(out)
}

/// Where the catalog generation is in a row of [`CACHED_APPS`] (after the app's 19 columns).
const GENERATION_COL: usize = 19;

/// The apps `$3` of tenant `$1` when the catalog generation is still `$2` (the ids the cache
/// lacks), all the asked ones `$4` when it moved on; with the generation in every row. One
/// statement, so the generation and the apps are of one snapshot; the one catalog_generation
/// row always answers, so the generation comes back even when no app does.
const CACHED_APPS: &str = concat!(
    "SELECT ",
    app_with_definition_cols!(),
    ", g.generation FROM catalog_generation g \
     LEFT JOIN apps a ON a.tenant_id = $1 \
       AND a.id = ANY(CASE WHEN g.generation = $2 THEN $3::text[] ELSE $4::text[] END) \
     LEFT JOIN definitions d ON d.tenant_id = a.tenant_id AND d.app_id = a.id \
     WHERE g.id = 1 ORDER BY a.id, d.version_key, d.version"
);

/// The generation of a row of [`CACHED_APPS`] (or of the scope read, at its offset).
fn generation(rows: &[Row], at: usize, what: &'static str) -> Result<i64, Failure> {
    match rows.first() {
        Some(row) => Ok(row.try_get::<_, i64>(at)?),
        None => Err(corrupt(what, "catalog_generation has no row (migration 0004 missing?)")),
    }
}

/// Where the generation is in a row of [`SCOPED_INSTALLATION`].
const SCOPED_GENERATION_COL: usize = 6 + GENERATION_COL;

/// The installation `$4` in scope `$2`/`$3` of tenant `$1` with the generation and, unless
/// the generation is `$5` (the cache holds the app at it), the app with its definitions. No row
/// when the app is not installed there. The CASE is in the apps index condition, so on a cache
/// hit the probe for a NULL id ends at once (a join filter would still read the app's rows).
const SCOPED_INSTALLATION: &str = concat!(
    "SELECT i.tenant_id, i.scope_kind, i.scope_id, i.app_id, i.version, i.consented, ",
    app_with_definition_cols!(),
    ", g.generation FROM catalog_generation g \
     JOIN installations i ON i.tenant_id = $1 AND i.scope_kind = $2 AND i.scope_id = $3 \
       AND i.app_id = $4 \
     LEFT JOIN apps a ON a.tenant_id = i.tenant_id \
       AND a.id = CASE WHEN g.generation = $5 THEN NULL ELSE i.app_id END \
     LEFT JOIN definitions d ON d.tenant_id = a.tenant_id AND d.app_id = a.id \
     WHERE g.id = 1 ORDER BY d.version_key, d.version"
);

impl PgStore {
    /// The apps among `ids` (sorted, unique, without NUL) of `tenant_id`, ordered by id: from
    /// this node's catalog cache where the statement's snapshot shows the cache's generation.
    async fn cached_apps<C: GenericClient>(
        &self,
        c: &C,
        tenant_id: &str,
        ids: &[&str],
        what: &'static str,
    ) -> Result<Vec<std::sync::Arc<CatalogApp>>, Failure> {
        let lookup = self.catalog.lookup(tenant_id, ids);
        let all: Vec<&str> = ids.to_vec();
        let rows =
            query(c, CACHED_APPS, &[&tenant_id, &lookup.generation, &lookup.missing, &all]).await?;
        let seen = generation(&rows, GENERATION_COL, what)?;
        let read = catalog_apps(&rows, 0, what)?;
        Ok(catalog_cache::settle(&self.catalog, lookup, seen, read))
    }
}

#[async_trait]
impl Store for PgStore {
    // --- signing keys -------------------------------------------------------------------

    #[tracing::instrument(name = "store.signing_keys", level = "debug", skip_all)]
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        const WHAT: &str = "signing_keys";
        self.run(WHAT, |c| async move {
            let rows = query(
                &c,
                "SELECT kid, private_pem, created_at FROM signing_keys \
                 ORDER BY created_at DESC, kid DESC",
                &[],
            )
            .await?;
            decode_all(&rows, |r| rows::signing_key(r, WHAT))
        })
        .await
    }

    #[tracing::instrument(name = "store.add_signing_key", level = "debug", skip_all)]
    async fn add_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        const WHAT: &str = "add_signing_key";
        let created_at = time_text(&key.created_at);
        let created_at = created_at.as_str();
        self.run(WHAT, |c| async move {
            execute(
                &c,
                "INSERT INTO signing_keys (kid, private_pem, created_at) VALUES ($1, $2, $3)",
                &[&key.kid, &key.private_pem, &created_at],
            )
            .await
            .map_err(|e| conflict(e, Some("signing_key"), None))?;
            Ok(())
        })
        .await
    }

    // --- directory ----------------------------------------------------------------------

    #[tracing::instrument(name = "store.apply_seed", level = "debug", skip_all)]
    async fn apply_seed(&self, seed: &Seed) -> StoreResult<()> {
        self.run("apply_seed", |mut c| async move {
            let tx = c.transaction().await?;
            apply_seed(&tx, seed).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(
        name = "store.tenant", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn tenant(&self, tenant_id: &str) -> StoreResult<Option<Tenant>> {
        if any_nul(&[tenant_id]) {
            return Ok(None);
        }
        self.run("tenant", |c| async move {
            query_opt(
                &c,
                "SELECT tenant_id, display_name FROM tenants WHERE tenant_id = $1",
                &[&tenant_id],
            )
            .await?
            .as_ref()
            .map(rows::tenant)
            .transpose()
        })
        .await
    }

    #[tracing::instrument(
        name = "store.tenant_settings", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn tenant_settings(&self, tenant_id: &str) -> StoreResult<TenantSettings> {
        if any_nul(&[tenant_id]) {
            return Ok(TenantSettings::default());
        }
        self.run("tenant_settings", |c| async move {
            let row = query_opt(
                &c,
                "SELECT settings FROM tenant_settings WHERE tenant_id = $1",
                &[&tenant_id],
            )
            .await?;
            match row {
                None => Ok(TenantSettings::default()),
                Some(r) => Ok(r.try_get::<_, Json<TenantSettings>>(0)?.0),
            }
        })
        .await
    }

    #[tracing::instrument(
        name = "store.set_tenant_settings", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn set_tenant_settings(
        &self,
        tenant_id: &str,
        settings: &TenantSettings,
    ) -> StoreResult<()> {
        self.run("set_tenant_settings", |c| async move {
            execute(
                &c,
                "INSERT INTO tenant_settings (tenant_id, settings) VALUES ($1, $2) \
                 ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings",
                &[&tenant_id, &Json(settings)],
            )
            .await?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(
        name = "store.user", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn user(&self, tenant_id: &str, id_or_upn: &str) -> StoreResult<Option<User>> {
        if any_nul(&[tenant_id, id_or_upn]) {
            return Ok(None);
        }
        self.run("user", |c| async move {
            // By id first, else by UPN with the users_upn index's expression (ASCII folding
            // under the "C" collation, as SQLite's lower()).
            query_opt(
                &c,
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users WHERE tenant_id = $1 \
                     AND (id = $2 OR lower(user_principal_name) = lower($2 COLLATE \"C\")) \
                     ORDER BY id = $2 DESC LIMIT 1"
                ),
                &[&tenant_id, &id_or_upn],
            )
            .await?
            .as_ref()
            .map(rows::user)
            .transpose()
        })
        .await
    }

    #[tracing::instrument(name = "store.list_users", level = "debug", skip_all, fields(tenant = %tenant_id))]
    async fn list_users(&self, tenant_id: &str) -> StoreResult<Vec<User>> {
        if any_nul(&[tenant_id]) {
            return Ok(Vec::new());
        }
        self.run("list_users", |c| async move {
            let rows = query(
                &c,
                concat!("SELECT ", user_cols!(), " FROM users WHERE tenant_id = $1 ORDER BY id"),
                &[&tenant_id],
            )
            .await?;
            decode_all(&rows, rows::user)
        })
        .await
    }

    #[tracing::instrument(name = "store.list_users_after", level = "debug", skip_all, fields(tenant = %tenant_id))]
    async fn list_users_after(
        &self,
        tenant_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        if any_nul(&[tenant_id, after.unwrap_or_default()]) {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The users_upn index (tenant_id, lower(user_principal_name)) under the column's "C"
        // collation serves the seek and the order; lower() there folds ASCII only, as the
        // API's keys do. Two statements: an OR of "no bound" would keep the planner from seeking.
        self.run("list_users_after", |c| async move {
            let rows = match after {
                Some(after) => {
                    query(
                        &c,
                        concat!(
                            "SELECT ",
                            user_cols!(),
                            " FROM users WHERE tenant_id = $1 AND lower(user_principal_name) > $2",
                            " ORDER BY lower(user_principal_name) LIMIT $3"
                        ),
                        &[&tenant_id, &after, &limit],
                    )
                    .await?
                }
                None => {
                    query(
                        &c,
                        concat!(
                            "SELECT ",
                            user_cols!(),
                            " FROM users WHERE tenant_id = $1",
                            " ORDER BY lower(user_principal_name) LIMIT $2"
                        ),
                        &[&tenant_id, &limit],
                    )
                    .await?
                }
            };
            decode_all(&rows, rows::user)
        })
        .await
    }

    #[tracing::instrument(name = "store.list_chats", level = "debug", skip_all, fields(tenant = %tenant_id))]
    async fn list_chats(&self, tenant_id: &str) -> StoreResult<Vec<Chat>> {
        if any_nul(&[tenant_id]) {
            return Ok(Vec::new());
        }
        self.run("list_chats", |c| async move {
            let rows = query(
                &c,
                concat!("SELECT ", chat_cols!(), " FROM chats WHERE tenant_id = $1 ORDER BY id"),
                &[&tenant_id],
            )
            .await?;
            decode_all(&rows, rows::chat)
        })
        .await
    }

    #[tracing::instrument(name = "store.list_teams", level = "debug", skip_all, fields(tenant = %tenant_id))]
    async fn list_teams(&self, tenant_id: &str) -> StoreResult<Vec<Team>> {
        if any_nul(&[tenant_id]) {
            return Ok(Vec::new());
        }
        self.run("list_teams", |c| async move {
            let rows = query(
                &c,
                concat!("SELECT ", team_cols!(), " FROM teams WHERE tenant_id = $1 ORDER BY id"),
                &[&tenant_id],
            )
            .await?;
            decode_all(&rows, rows::team)
        })
        .await
    }

    #[tracing::instrument(
        name = "store.chat", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn chat(&self, tenant_id: &str, chat_id: &str) -> StoreResult<Option<Chat>> {
        if any_nul(&[tenant_id, chat_id]) {
            return Ok(None);
        }
        self.run("chat", |c| async move {
            query_opt(
                &c,
                concat!("SELECT ", chat_cols!(), " FROM chats WHERE tenant_id = $1 AND id = $2"),
                &[&tenant_id, &chat_id],
            )
            .await?
            .as_ref()
            .map(rows::chat)
            .transpose()
        })
        .await
    }

    #[tracing::instrument(
        name = "store.team", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn team(&self, tenant_id: &str, team_id: &str) -> StoreResult<Option<Team>> {
        if any_nul(&[tenant_id, team_id]) {
            return Ok(None);
        }
        self.run("team", |c| async move {
            query_opt(
                &c,
                concat!("SELECT ", team_cols!(), " FROM teams WHERE tenant_id = $1 AND id = $2"),
                &[&tenant_id, &team_id],
            )
            .await?
            .as_ref()
            .map(rows::team)
            .transpose()
        })
        .await
    }

    #[tracing::instrument(
        name = "store.application", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id)
    )]
    async fn application(&self, tenant_id: &str, app_id: &str) -> StoreResult<Option<Application>> {
        if any_nul(&[tenant_id, app_id]) {
            return Ok(None);
        }
        self.run("application", |c| async move {
            query_opt(
                &c,
                concat!(
                    "SELECT ",
                    application_cols!(),
                    " FROM applications WHERE tenant_id = $1 AND app_id = $2"
                ),
                &[&tenant_id, &app_id],
            )
            .await?
            .as_ref()
            .map(rows::application)
            .transpose()
        })
        .await
    }

    // --- catalog ------------------------------------------------------------------------

    #[tracing::instrument(
        name = "store.list_apps", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn list_apps(&self, tenant_id: &str) -> StoreResult<Vec<CatalogApp>> {
        const WHAT: &str = "list_apps";
        if any_nul(&[tenant_id]) {
            return Ok(Vec::new());
        }
        self.run(WHAT, |c| async move {
            // One statement, so one snapshot: apps and their definitions agree.
            let rows = query(
                &c,
                concat!(
                    "SELECT ",
                    app_with_definition_cols!(),
                    " FROM apps a LEFT JOIN definitions d \
                       ON d.tenant_id = a.tenant_id AND d.app_id = a.id \
                     WHERE a.tenant_id = $1 ORDER BY a.id, d.version_key, d.version"
                ),
                &[&tenant_id],
            )
            .await?;
            catalog_apps(&rows, 0, WHAT)
        })
        .await
    }

    #[tracing::instrument(
        name = "store.get_app", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id)
    )]
    async fn get_app(&self, tenant_id: &str, app_id: &str) -> StoreResult<Option<CatalogApp>> {
        const WHAT: &str = "get_app";
        if any_nul(&[tenant_id, app_id]) {
            return Ok(None);
        }
        self.run(WHAT, |c| async move {
            let found = self.cached_apps(&c, tenant_id, &[app_id], WHAT).await?;
            Ok(found.into_iter().next().map(|app| (*app).clone()))
        })
        .await
    }

    #[tracing::instrument(
        name = "store.get_apps", level = "debug", skip_all,
        fields(tenant = %tenant_id, apps = app_ids.len())
    )]
    async fn get_apps(&self, tenant_id: &str, app_ids: &[&str]) -> StoreResult<Vec<CatalogApp>> {
        const WHAT: &str = "get_apps";
        // A NUL cannot be stored, so an id holding one names no app.
        let mut ids: Vec<&str> = app_ids.iter().copied().filter(|id| !any_nul(&[id])).collect();
        ids.sort_unstable();
        ids.dedup();
        if any_nul(&[tenant_id]) || ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = &ids;
        self.run(WHAT, |c| async move {
            // One statement for every app: one round trip, one snapshot.
            let found = self.cached_apps(&c, tenant_id, ids, WHAT).await?;
            Ok(found.into_iter().map(|app| (*app).clone()).collect())
        })
        .await
    }

    #[tracing::instrument(
        name = "store.get_app_by_external_id", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn get_app_by_external_id(
        &self,
        tenant_id: &str,
        external_id: &str,
    ) -> StoreResult<Option<CatalogApp>> {
        const WHAT: &str = "get_app_by_external_id";
        if any_nul(&[tenant_id, external_id]) {
            return Ok(None);
        }
        self.run(WHAT, |c| async move {
            let rows = query(
                &c,
                concat!(
                    "SELECT ",
                    app_with_definition_cols!(),
                    " FROM apps a LEFT JOIN definitions d \
                       ON d.tenant_id = a.tenant_id AND d.app_id = a.id \
                     WHERE a.tenant_id = $1 AND lower(a.external_id) = lower($2 COLLATE \"C\") \
                     ORDER BY d.version_key, d.version"
                ),
                &[&tenant_id, &external_id],
            )
            .await?;
            Ok(catalog_apps(&rows, 0, WHAT)?.pop())
        })
        .await
    }

    #[tracing::instrument(
        name = "store.create_app", level = "debug", skip_all,
        fields(tenant = %app.tenant_id, app = %app.id)
    )]
    async fn create_app(&self, app: &TeamsApp, definition: &AppDefinition) -> StoreResult<()> {
        const WHAT: &str = "create_app";
        if definition.app_id != app.id {
            return Err(StoreError::Backend(anyhow::anyhow!(
                "postgres store: {WHAT}: the definition belongs to app {:?}, not {:?}",
                definition.app_id,
                app.id
            )));
        }
        self.run(WHAT, |mut c| async move {
            let tx = c.transaction().await?;
            // Both checked in one statement (one snapshot), and the manifest id reported first,
            // so a re-upload of a known manifest reports external_id even if it also reuses the
            // id. A concurrent create that commits after this look makes the insert below
            // violate a unique index: this attempt lost a race, and the next one's look sees
            // the winner and names the conflict as here.
            let taken = query_opt(
                &tx,
                "SELECT EXISTS (SELECT 1 FROM apps WHERE tenant_id = $1 \
                                  AND lower(external_id) = lower($2::text COLLATE \"C\")), \
                        EXISTS (SELECT 1 FROM apps WHERE tenant_id = $1 AND id = $3)",
                &[&app.tenant_id, &app.external_id, &app.id],
            )
            .await?;
            let Some(taken) = taken else { return Err(corrupt(WHAT, "no answer")) };
            if taken.try_get::<_, bool>(0)? {
                return Err(StoreError::Conflict("external_id").into());
            }
            if taken.try_get::<_, bool>(1)? {
                return Err(StoreError::Conflict("app_id").into());
            }
            execute(
                &tx,
                "INSERT INTO apps (tenant_id, id, external_id, distribution_method) \
                 VALUES ($1, $2, $3, $4)",
                &[&app.tenant_id, &app.id, &app.external_id, &app.distribution_method.as_str()],
            )
            .await
            .map_err(|e| match e.as_db_error().and_then(|d| d.constraint()) {
                Some("apps_external_id") => Failure::Race(StoreError::Conflict("external_id")),
                Some(_) if crate::violation(&e) == Some(crate::Violation::Unique) => {
                    Failure::Race(StoreError::Conflict("app_id"))
                }
                _ => Failure::Db(e),
            })?;
            put_definition(&tx, insert_definition!(""), &app.tenant_id, definition)
                .await
                .map_err(|e| conflict(e, Some("version"), None))?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(
        name = "store.add_definition", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %definition.app_id)
    )]
    async fn add_definition(&self, tenant_id: &str, definition: &AppDefinition) -> StoreResult<()> {
        self.run("add_definition", |c| async move {
            // Insert, or overwrite in place a rejected definition of the same version (in
            // place, so nothing that references it is cascaded away). Any other existing
            // definition of that version makes the upsert a no-op: zero rows changed. A missing
            // app (in this tenant) fails the foreign key.
            let n = put_definition(
                &c,
                insert_definition!(
                    " ON CONFLICT (tenant_id, app_id, version) DO UPDATE SET \
                     version_key = excluded.version_key, state = excluded.state, \
                     display_name = excluded.display_name, \
                     short_description = excluded.short_description, \
                     description = excluded.description, last_modified = excluded.last_modified, \
                     created_by = excluded.created_by, client_app_id = excluded.client_app_id, \
                     required_permissions = excluded.required_permissions, \
                     bot_id = excluded.bot_id, allowed_team = excluded.allowed_team, \
                     allowed_group_chat = excluded.allowed_group_chat, \
                     allowed_personal = excluded.allowed_personal, etag = excluded.etag \
                     WHERE definitions.state = 'rejected'"
                ),
                tenant_id,
                definition,
            )
            .await
            .map_err(|e| conflict(e, Some("version"), Some("app")))?;
            match n {
                0 => Err(StoreError::Conflict("version").into()),
                _ => Ok(()),
            }
        })
        .await
    }

    #[tracing::instrument(
        name = "store.transition_definition", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id, version = %version)
    )]
    async fn transition_definition(
        &self,
        tenant_id: &str,
        app_id: &str,
        version: &str,
        from: PublishingState,
        to: PublishingState,
        if_match: Option<&str>,
        new_etag: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Transition> {
        const WHAT: &str = "transition_definition";
        if any_nul(&[tenant_id, app_id, version]) {
            return Ok(Transition::NotFound);
        }
        let at = time_text(&at);
        let at = at.as_str();
        self.run(WHAT, |mut c| async move {
            let tx = c.transaction().await?;
            // Lock the definition, then judge and change it: nothing moves in between.
            let current = query_opt(
                &tx,
                "SELECT state, etag FROM definitions \
                 WHERE tenant_id = $1 AND app_id = $2 AND version = $3 FOR UPDATE",
                &[&tenant_id, &app_id, &version],
            )
            .await?;
            let Some(current) = current else { return Ok(Transition::NotFound) };
            let (state, etag): (&str, &str) = (current.try_get(0)?, current.try_get(1)?);
            // A precondition (If-Match) is judged before the state rule, as in HTTP.
            if if_match.is_some_and(|m| m != etag) {
                return Ok(Transition::EtagMismatch);
            }
            let state = rows::state_from_text(state, WHAT)?;
            if state != from {
                return Ok(Transition::WrongState(state));
            }
            let updated = query_opt(
                &tx,
                concat!(
                    "UPDATE definitions SET state = $4, etag = $5, last_modified = $6 \
                     WHERE tenant_id = $1 AND app_id = $2 AND version = $3 RETURNING ",
                    definition_cols!()
                ),
                &[&tenant_id, &app_id, &version, &to.as_str(), &new_etag, &at],
            )
            .await?;
            let Some(row) = updated else {
                return Err(corrupt(WHAT, "the locked definition vanished"));
            };
            let def = rows::definition(&row, 0, WHAT)?;
            tx.commit().await?;
            Ok(Transition::Done(def))
        })
        .await
    }

    #[tracing::instrument(
        name = "store.delete_app", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id)
    )]
    async fn delete_app(&self, tenant_id: &str, app_id: &str) -> StoreResult<bool> {
        if any_nul(&[tenant_id, app_id]) {
            return Ok(false);
        }
        self.run("delete_app", |c| async move {
            // Definitions and, through them, installations go by ON DELETE CASCADE.
            let n = execute(
                &c,
                "DELETE FROM apps WHERE tenant_id = $1 AND id = $2",
                &[&tenant_id, &app_id],
            )
            .await?;
            Ok(n > 0)
        })
        .await
    }

    #[tracing::instrument(
        name = "store.put_definition_icons", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id, version = %version)
    )]
    async fn put_definition_icons(
        &self,
        tenant_id: &str,
        app_id: &str,
        version: &str,
        icons: &[DefinitionIcon],
    ) -> StoreResult<()> {
        if any_nul(&[tenant_id, app_id, version]) {
            return Ok(());
        }
        self.run("put_definition_icons", |c| async move {
            for icon in icons {
                execute(
                    &c,
                    "INSERT INTO definition_icons \
                     (tenant_id, app_id, version, kind, content_type, bytes) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (tenant_id, app_id, version, kind) DO UPDATE SET \
                     content_type = excluded.content_type, bytes = excluded.bytes",
                    &[
                        &tenant_id,
                        &app_id,
                        &version,
                        &icon.kind.as_str(),
                        &icon.content_type,
                        &icon.bytes,
                    ],
                )
                .await?;
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(
        name = "store.definition_icon", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id, version = %version)
    )]
    async fn definition_icon(
        &self,
        tenant_id: &str,
        app_id: &str,
        version: &str,
        kind: IconKind,
    ) -> StoreResult<Option<DefinitionIcon>> {
        if any_nul(&[tenant_id, app_id, version]) {
            return Ok(None);
        }
        self.run("definition_icon", |c| async move {
            let row = query_opt(
                &c,
                "SELECT content_type, bytes FROM definition_icons \
                 WHERE tenant_id = $1 AND app_id = $2 AND version = $3 AND kind = $4",
                &[&tenant_id, &app_id, &version, &kind.as_str()],
            )
            .await?;
            Ok(match row {
                Some(r) => {
                    Some(DefinitionIcon { kind, content_type: r.try_get(0)?, bytes: r.try_get(1)? })
                }
                None => None,
            })
        })
        .await
    }

    #[tracing::instrument(
        name = "store.delete_definition", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id, version = %version)
    )]
    async fn delete_definition(
        &self,
        tenant_id: &str,
        app_id: &str,
        version: &str,
        state: PublishingState,
    ) -> StoreResult<bool> {
        if any_nul(&[tenant_id, app_id, version]) {
            return Ok(false);
        }
        self.run("delete_definition", |c| async move {
            let n = execute(
                &c,
                "DELETE FROM definitions \
                 WHERE tenant_id = $1 AND app_id = $2 AND version = $3 AND state = $4",
                &[&tenant_id, &app_id, &version, &state.as_str()],
            )
            .await?;
            Ok(n > 0)
        })
        .await
    }

    // --- installations ------------------------------------------------------------------

    #[tracing::instrument(
        name = "store.list_installations", level = "debug", skip_all,
        fields(tenant = %tenant_id, scope = %scope.id)
    )]
    async fn list_installations(
        &self,
        tenant_id: &str,
        scope: &ScopeRef,
    ) -> StoreResult<Vec<Installation>> {
        const WHAT: &str = "list_installations";
        if any_nul(&[tenant_id, &scope.id]) {
            return Ok(Vec::new());
        }
        self.run(WHAT, |c| async move {
            let rows = query(
                &c,
                concat!(
                    "SELECT ",
                    installation_cols!(),
                    " FROM installations WHERE tenant_id = $1 AND scope_kind = $2 \
                     AND scope_id = $3 ORDER BY app_id"
                ),
                &[&tenant_id, &scope.kind.as_str(), &scope.id],
            )
            .await?;
            decode_all(&rows, |r| rows::installation(r, WHAT))
        })
        .await
    }

    #[tracing::instrument(
        name = "store.get_installation", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id, scope = %scope.id)
    )]
    async fn get_installation(
        &self,
        tenant_id: &str,
        scope: &ScopeRef,
        app_id: &str,
    ) -> StoreResult<Option<Installation>> {
        const WHAT: &str = "get_installation";
        if any_nul(&[tenant_id, &scope.id, app_id]) {
            return Ok(None);
        }
        self.run(WHAT, |c| async move {
            query_opt(
                &c,
                concat!(
                    "SELECT ",
                    installation_cols!(),
                    " FROM installations \
                     WHERE tenant_id = $1 AND scope_kind = $2 AND scope_id = $3 AND app_id = $4"
                ),
                &[&tenant_id, &scope.kind.as_str(), &scope.id, &app_id],
            )
            .await?
            .as_ref()
            .map(|r| rows::installation(r, WHAT))
            .transpose()
        })
        .await
    }

    #[tracing::instrument(
        name = "store.scope_installation", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = app_id.unwrap_or_default())
    )]
    async fn scope_installation(
        &self,
        tenant_id: &str,
        key: ScopeKey<'_>,
        app_id: Option<&str>,
    ) -> StoreResult<ScopedInstallation> {
        const WHAT: &str = "scope_installation";
        let scope = match key {
            ScopeKey::User(id) => self.user(tenant_id, id).await?.map(ScopeEntity::User),
            ScopeKey::Chat(id) => self.chat(tenant_id, id).await?.map(ScopeEntity::Chat),
            ScopeKey::Team(id) => self.team(tenant_id, id).await?.map(ScopeEntity::Team),
        };
        let (Some(entity), Some(app_id)) = (&scope, app_id) else {
            return Ok(ScopedInstallation { scope, installed: None });
        };
        if any_nul(&[app_id]) {
            return Ok(ScopedInstallation { scope, installed: None });
        }
        let scope_ref = entity.scope_ref();
        let scope_ref = &scope_ref;
        let installed = self
            .run(WHAT, |c| async move {
                // The installation and its app in one statement (one snapshot: the app has
                // the installed definition), the app only when the cache cannot answer.
                let lookup = self.catalog.lookup(tenant_id, &[app_id]);
                let cached_at = if lookup.hits.is_empty() { 0 } else { lookup.generation };
                let rows = query(
                    &c,
                    SCOPED_INSTALLATION,
                    &[&tenant_id, &scope_ref.kind.as_str(), &scope_ref.id, &app_id, &cached_at],
                )
                .await?;
                let Some(first) = rows.first() else { return Ok(None) };
                let installation = rows::installation(first, WHAT)?;
                let seen = generation(&rows, SCOPED_GENERATION_COL, WHAT)?;
                let read = catalog_apps(&rows, 6, WHAT)?;
                let app = catalog_cache::settle(&self.catalog, lookup, seen, read).pop();
                Ok(app.map(|app| (installation, (*app).clone())))
            })
            .await?;
        Ok(ScopedInstallation { scope, installed })
    }

    #[tracing::instrument(
        name = "store.create_installation", level = "debug", skip_all,
        fields(tenant = %installation.tenant_id, app = %installation.app_id)
    )]
    async fn create_installation(&self, installation: &Installation) -> StoreResult<()> {
        let i = installation;
        if any_nul(&[&i.tenant_id, &i.app_id, &i.version]) {
            // It names a definition that cannot exist here.
            return Err(StoreError::Conflict("definition"));
        }
        self.run("create_installation", |c| async move {
            // The primary key refuses a second installation of the app in the scope (a racing
            // insert waits for the first to commit, then fails), the foreign key an
            // installation of a definition that does not exist.
            put_installation(&c, insert_installation!(""), installation)
                .await
                .map_err(|e| conflict(e, Some("installation"), Some("definition")))?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(
        name = "store.upgrade_installation", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id, scope = %scope.id, version = %to_version)
    )]
    async fn upgrade_installation(
        &self,
        tenant_id: &str,
        scope: &ScopeRef,
        app_id: &str,
        to_version: &str,
        consented: Option<&[ResourceSpecificPermission]>,
    ) -> StoreResult<UpgradeOutcome> {
        if any_nul(&[tenant_id, &scope.id, app_id]) {
            return Ok(UpgradeOutcome::NotFound);
        }
        if any_nul(&[to_version]) {
            let installed = self.get_installation(tenant_id, scope, app_id).await?;
            return Ok(match installed {
                Some(_) => UpgradeOutcome::TargetMissing,
                None => UpgradeOutcome::NotFound,
            });
        }
        let to_key = sort_key(to_version);
        let to_key = to_key.as_str();
        let consented = consented.map(Json);
        let consented = &consented;
        let kind = scope.kind.as_str();
        let scope_id = scope.id.as_str();
        self.run("upgrade_installation", |c| async move {
            // One conditional UPDATE: it only moves forward (the condition is in the row, so a
            // racing upgrade that committed first is re-checked) to a published target.
            let changed = execute(
                &c,
                "UPDATE installations SET version = $5, version_key = $6, consented = $7 \
                 WHERE tenant_id = $1 AND scope_kind = $2 AND scope_id = $3 AND app_id = $4 \
                   AND version_key < $6 \
                   AND EXISTS (SELECT 1 FROM definitions t \
                               WHERE t.tenant_id = $1 AND t.app_id = $4 AND t.version = $5 \
                                 AND t.state = 'published')",
                &[&tenant_id, &kind, &scope_id, &app_id, &to_version, &to_key, consented],
            )
            .await;
            match changed {
                Ok(n) if n > 0 => return Ok(UpgradeOutcome::Upgraded),
                Ok(_) => {}
                // The target was deleted between the check and the foreign key's look.
                Err(e) if crate::violation(&e) == Some(crate::Violation::ForeignKey) => {}
                Err(e) => return Err(e.into()),
            }
            // Nothing changed: tell why.
            let row = query_opt(
                &c,
                "SELECT EXISTS (SELECT 1 FROM installations \
                                WHERE tenant_id = $1 AND scope_kind = $2 AND scope_id = $3 \
                                  AND app_id = $4), \
                        EXISTS (SELECT 1 FROM definitions \
                                WHERE tenant_id = $1 AND app_id = $4 AND version = $5 \
                                  AND state = 'published')",
                &[&tenant_id, &kind, &scope_id, &app_id, &to_version],
            )
            .await?;
            let Some(row) = row else { return Err(corrupt("upgrade_installation", "no answer")) };
            let (installed, target): (bool, bool) = (row.try_get(0)?, row.try_get(1)?);
            Ok(if !installed {
                UpgradeOutcome::NotFound
            } else if target {
                UpgradeOutcome::NotNewer
            } else {
                UpgradeOutcome::TargetMissing
            })
        })
        .await
    }

    #[tracing::instrument(
        name = "store.delete_installation", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id, scope = %scope.id)
    )]
    async fn delete_installation(
        &self,
        tenant_id: &str,
        scope: &ScopeRef,
        app_id: &str,
    ) -> StoreResult<bool> {
        if any_nul(&[tenant_id, &scope.id, app_id]) {
            return Ok(false);
        }
        self.run("delete_installation", |c| async move {
            let n = execute(
                &c,
                "DELETE FROM installations \
                 WHERE tenant_id = $1 AND scope_kind = $2 AND scope_id = $3 AND app_id = $4",
                &[&tenant_id, &scope.kind.as_str(), &scope.id, &app_id],
            )
            .await?;
            Ok(n > 0)
        })
        .await
    }

    #[tracing::instrument(
        name = "store.save_snapshot", level = "debug", skip_all,
        fields(snapshot = %name)
    )]
    async fn save_snapshot(&self, name: &str) -> StoreResult<()> {
        let key = teamsapps_core::store::snapshot_key(name);
        let key = &key;
        self.run("save_snapshot", |mut c| async move {
            let mut sql = format!(
                "DROP SCHEMA IF EXISTS \"_snap_{key}\" CASCADE; CREATE SCHEMA \"_snap_{key}\";"
            );
            for t in teamsapps_core::store::SNAPSHOT_TABLES {
                sql.push_str(&format!("CREATE TABLE \"_snap_{key}\".{t} AS SELECT * FROM {t};"));
            }
            let tx = c.transaction().await?;
            tx.batch_execute(&sql).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(
        name = "store.restore_snapshot", level = "debug", skip_all,
        fields(snapshot = %name)
    )]
    async fn restore_snapshot(&self, name: &str) -> StoreResult<bool> {
        let key = teamsapps_core::store::snapshot_key(name);
        let key = &key;
        self.run("restore_snapshot", |mut c| async move {
            let tx = c.transaction().await?;
            let schema = format!("_snap_{key}");
            let found = tx
                .query_opt(
                    "SELECT 1 FROM information_schema.schemata WHERE schema_name = $1",
                    &[&schema],
                )
                .await?;
            if found.is_none() {
                return Ok(false);
            }
            // The snapshot was consistent when taken and replaces everything: where the role
            // may (a superuser, or one granted SET on it), skip the foreign-key checks, a third
            // of the time. Otherwise they run.
            tx.batch_execute("SAVEPOINT snapshot_fk").await?;
            if tx.batch_execute("SET LOCAL session_replication_role = replica").await.is_err() {
                tx.batch_execute("ROLLBACK TO SAVEPOINT snapshot_fk").await?;
            }
            let tables = teamsapps_core::store::SNAPSHOT_TABLES;
            let mut sql = format!("TRUNCATE {};", tables.join(", "));
            for t in tables {
                sql.push_str(&format!("INSERT INTO {t} SELECT * FROM \"{schema}\".{t};"));
            }
            tx.batch_execute(&sql).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    #[tracing::instrument(name = "store.wipe", level = "debug", skip_all)]
    async fn wipe(&self) -> StoreResult<()> {
        self.run("wipe", |c| async move {
            let tables = teamsapps_core::store::SNAPSHOT_TABLES;
            c.batch_execute(&format!("TRUNCATE {};", tables.join(", "))).await?;
            Ok(())
        })
        .await
    }
}

/// The seed in the caller's transaction: directory objects upserted, catalog content and
/// installations inserted when absent. Two nodes seeding at once queue on the rows they both
/// write (in the same order, so they cannot deadlock each other); the second finds the first's
/// rows and changes nothing.
async fn apply_seed<C: GenericClient>(c: &C, seed: &Seed) -> Result<(), Failure> {
    for t in &seed.tenants {
        execute(
            c,
            "INSERT INTO tenants (tenant_id, display_name) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET display_name = excluded.display_name",
            &[&t.id, &t.display_name],
        )
        .await?;
    }
    for u in &seed.users {
        execute(
            c,
            concat!(
                "INSERT INTO users (",
                user_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET \
                 user_principal_name = excluded.user_principal_name, \
                 display_name = excluded.display_name, password = excluded.password, \
                 roles = excluded.roles, mail = excluded.mail, \
                 account_enabled = excluded.account_enabled, user_type = excluded.user_type"
            ),
            &[
                &u.tenant_id,
                &u.id,
                &u.user_principal_name,
                &u.display_name,
                &u.password,
                &Json(&u.roles),
                &u.mail,
                &u.account_enabled,
                &u.user_type,
            ],
        )
        .await
        // The only uniqueness left to violate is another user's UPN.
        .map_err(|e| conflict(e, Some("user_principal_name"), None))?;
    }
    for ch in &seed.chats {
        execute(
            c,
            concat!(
                "INSERT INTO chats (",
                chat_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET chat_type = excluded.chat_type, \
                 topic = excluded.topic, members = excluded.members, \
                 join_web_url = excluded.join_web_url, \
                 created_date_time = excluded.created_date_time"
            ),
            &[
                &ch.tenant_id,
                &ch.id,
                &ch.chat_type,
                &ch.topic,
                &Json(&ch.members),
                &ch.join_web_url,
                &ch.created_date_time.as_ref().map(time_text),
            ],
        )
        .await?;
    }
    for t in &seed.teams {
        execute(
            c,
            concat!(
                "INSERT INTO teams (",
                team_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name, \
                 owners = excluded.owners, members = excluded.members, \
                 description = excluded.description, visibility = excluded.visibility"
            ),
            &[
                &t.tenant_id,
                &t.id,
                &t.display_name,
                &Json(&t.owners),
                &Json(&t.members),
                &t.description,
                &t.visibility,
            ],
        )
        .await?;
    }
    for a in &seed.applications {
        execute(
            c,
            concat!(
                "INSERT INTO applications (",
                application_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (tenant_id, app_id) DO UPDATE SET \
                 display_name = excluded.display_name, client_secret = excluded.client_secret, \
                 application_permissions = excluded.application_permissions, \
                 delegated_permissions = excluded.delegated_permissions, \
                 selected_teams_apps = excluded.selected_teams_apps"
            ),
            &[
                &a.tenant_id,
                &a.app_id,
                &a.display_name,
                &a.client_secret,
                &Json(&a.application_permissions),
                &Json(&a.delegated_permissions),
                &Json(&a.selected_teams_apps),
            ],
        )
        .await?;
    }
    for catalog_app in &seed.apps {
        let app = &catalog_app.app;
        // Only an existing id is "already there"; another app holding the manifest id is a
        // conflict, not something to skip silently.
        execute(
            c,
            "INSERT INTO apps (tenant_id, id, external_id, distribution_method) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, id) DO NOTHING",
            &[&app.tenant_id, &app.id, &app.external_id, &app.distribution_method.as_str()],
        )
        .await
        .map_err(|e| conflict(e, Some("external_id"), None))?;
        for def in &catalog_app.definitions {
            put_definition(
                c,
                insert_definition!(" ON CONFLICT (tenant_id, app_id, version) DO NOTHING"),
                &app.tenant_id,
                def,
            )
            .await
            .map_err(|e| conflict(e, None, Some("app")))?;
        }
    }
    for i in &seed.installations {
        put_installation(
            c,
            insert_installation!(
                " ON CONFLICT (tenant_id, scope_kind, scope_id, app_id) DO NOTHING"
            ),
            i,
        )
        .await
        .map_err(|e| conflict(e, None, Some("definition")))?;
    }
    Ok(())
}

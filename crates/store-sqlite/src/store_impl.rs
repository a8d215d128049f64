//! The `Store` methods: SQL per use case.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use teamsapps_core::model::{
    AppDefinition, Application, CatalogApp, Chat, Installation, PublishingState,
    ResourceSpecificPermission, ScopeRef, SigningKey, Team, TeamsApp, Tenant, TenantSettings, User,
};
use teamsapps_core::model::{DefinitionIcon, IconKind, ScopeKind};
use teamsapps_core::store::{
    ScopeEntity, ScopeKey, ScopedInstallation, Seed, StoreResult, Transition, UpgradeOutcome,
};
use teamsapps_core::version::sort_key;
use teamsapps_core::{Store, StoreError};

use crate::catalog_cache::CatalogReads;
use crate::rows::{
    self, all, app_cols, application_cols, chat_cols, definition_cols, exec, exists, first,
    installation_cols, json, team_cols, time_text, user_cols, write_result,
};
use crate::SqliteStore;

macro_rules! insert_definition {
    ($tail:literal) => {
        concat!(
            "INSERT INTO definitions (tenant_id, app_id, version, version_key, state, display_name, \
             short_description, description, last_modified, created_by, client_app_id, \
             required_permissions, bot_id, allowed_team, allowed_group_chat, allowed_personal, etag) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            $tail
        )
    };
}

macro_rules! insert_installation {
    ($tail:literal) => {
        concat!(
            "INSERT INTO installations (tenant_id, scope_kind, scope_id, app_id, version, consented) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            $tail
        )
    };
}

/// Runs one of the `insert_definition!` statements for `def` in `tenant_id`.
fn put_definition(
    c: &Connection,
    sql: &str,
    tenant_id: &str,
    def: &AppDefinition,
    what: &'static str,
) -> StoreResult<rusqlite::Result<usize>> {
    let permissions = json(&def.required_permissions, what)?;
    Ok(exec(
        c,
        sql,
        params![
            tenant_id,
            def.app_id,
            def.version,
            sort_key(&def.version),
            def.publishing_state.as_str(),
            def.display_name,
            def.short_description,
            def.description,
            def.last_modified.as_ref().map(time_text),
            def.created_by,
            def.client_app_id,
            permissions,
            def.bot_id,
            def.allowed_scopes.team,
            def.allowed_scopes.group_chat,
            def.allowed_scopes.personal,
            def.etag,
        ],
    ))
}

fn consented_json(
    consented: Option<&[ResourceSpecificPermission]>,
    what: &'static str,
) -> StoreResult<Option<String>> {
    consented.map(|c| json(&c.to_vec(), what)).transpose()
}

fn put_installation(
    c: &Connection,
    sql: &str,
    i: &Installation,
    what: &'static str,
) -> StoreResult<rusqlite::Result<usize>> {
    let consented = consented_json(i.consented.as_deref(), what)?;
    Ok(exec(
        c,
        sql,
        params![i.tenant_id, i.scope.kind.as_str(), i.scope.id, i.app_id, i.version, consented],
    ))
}

/// The definitions of one app (or of every app when `app_id` is `None`), by app then version.
fn definitions_of(
    c: &Connection,
    tenant_id: &str,
    app_id: Option<&str>,
    what: &'static str,
) -> StoreResult<Vec<AppDefinition>> {
    match app_id {
        Some(app_id) => all(
            c,
            what,
            concat!(
                "SELECT ",
                definition_cols!(),
                " FROM definitions WHERE tenant_id = ?1 AND app_id = ?2 ORDER BY version_key, version"
            ),
            params![tenant_id, app_id],
            rows::definition,
        ),
        None => all(
            c,
            what,
            concat!(
                "SELECT ",
                definition_cols!(),
                " FROM definitions WHERE tenant_id = ?1 ORDER BY app_id, version_key, version"
            ),
            params![tenant_id],
            rows::definition,
        ),
    }
}

fn with_definitions(
    c: &Connection,
    app: Option<TeamsApp>,
    what: &'static str,
) -> StoreResult<Option<CatalogApp>> {
    let Some(app) = app else { return Ok(None) };
    let definitions = definitions_of(c, &app.tenant_id, Some(&app.id), what)?;
    Ok(Some(CatalogApp { app, definitions }))
}

fn definition(
    c: &Connection,
    tenant_id: &str,
    app_id: &str,
    version: &str,
    what: &'static str,
) -> StoreResult<Option<AppDefinition>> {
    first(
        c,
        what,
        concat!(
            "SELECT ",
            definition_cols!(),
            " FROM definitions WHERE tenant_id = ?1 AND app_id = ?2 AND version = ?3"
        ),
        params![tenant_id, app_id, version],
        rows::definition,
    )
}

/// By object id, or by user principal name (case-insensitive).
fn user(
    c: &Connection,
    tenant_id: &str,
    key: &str,
    what: &'static str,
) -> StoreResult<Option<User>> {
    let by_id = first(
        c,
        what,
        concat!("SELECT ", user_cols!(), " FROM users WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant_id, key],
        rows::user,
    )?;
    if by_id.is_some() {
        return Ok(by_id);
    }
    // The same expression as the users_upn index, so the lookup uses it.
    first(
        c,
        what,
        concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE tenant_id = ?1 AND lower(user_principal_name) = lower(?2)"
        ),
        params![tenant_id, key],
        rows::user,
    )
}

fn chat(
    c: &Connection,
    tenant_id: &str,
    id: &str,
    what: &'static str,
) -> StoreResult<Option<Chat>> {
    first(
        c,
        what,
        concat!("SELECT ", chat_cols!(), " FROM chats WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant_id, id],
        rows::chat,
    )
}

fn team(
    c: &Connection,
    tenant_id: &str,
    id: &str,
    what: &'static str,
) -> StoreResult<Option<Team>> {
    first(
        c,
        what,
        concat!("SELECT ", team_cols!(), " FROM teams WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant_id, id],
        rows::team,
    )
}

/// One app with its definitions.
fn app(
    c: &Connection,
    tenant_id: &str,
    app_id: &str,
    what: &'static str,
) -> StoreResult<Option<CatalogApp>> {
    let app = first(
        c,
        what,
        concat!("SELECT ", app_cols!(), " FROM apps WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant_id, app_id],
        rows::app,
    )?;
    with_definitions(c, app, what)
}

/// [`app`] through the catalog cache of this read.
fn cached_app(
    c: &Connection,
    reads: &CatalogReads<'_>,
    tenant_id: &str,
    app_id: &str,
    what: &'static str,
) -> StoreResult<Option<CatalogApp>> {
    let found = reads.app(c, tenant_id, app_id, what, || app(c, tenant_id, app_id, what))?;
    Ok(found.map(Arc::unwrap_or_clone))
}

fn installation(
    c: &Connection,
    tenant_id: &str,
    scope: &ScopeRef,
    app_id: &str,
    what: &'static str,
) -> StoreResult<Option<Installation>> {
    first(
        c,
        what,
        concat!(
            "SELECT ",
            installation_cols!(),
            " FROM installations \
             WHERE tenant_id = ?1 AND scope_kind = ?2 AND scope_id = ?3 AND app_id = ?4"
        ),
        params![tenant_id, scope.kind.as_str(), scope.id, app_id],
        rows::installation,
    )
}

#[async_trait]
impl Store for SqliteStore {
    // --- signing keys -------------------------------------------------------------------

    #[tracing::instrument(name = "store.signing_keys", level = "debug", skip_all)]
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        const WHAT: &str = "signing_keys";
        self.read(WHAT, |c| {
            all(
                c,
                WHAT,
                "SELECT kid, private_pem, created_at FROM signing_keys ORDER BY created_at DESC, kid DESC",
                [],
                rows::signing_key,
            )
        })
        .await
    }

    #[tracing::instrument(name = "store.add_signing_key", level = "debug", skip_all)]
    async fn add_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        const WHAT: &str = "add_signing_key";
        let key = key.clone();
        self.write(WHAT, move |c| {
            let r = exec(
                c,
                "INSERT INTO signing_keys (kid, private_pem, created_at) VALUES (?1, ?2, ?3)",
                params![key.kid, key.private_pem, time_text(&key.created_at)],
            );
            write_result(r, WHAT, Some("signing_key"), None).map(drop)
        })
        .await
    }

    // --- directory ----------------------------------------------------------------------

    #[tracing::instrument(name = "store.apply_seed", level = "debug", skip_all)]
    async fn apply_seed(&self, seed: &Seed) -> StoreResult<()> {
        const WHAT: &str = "apply_seed";
        let seed = seed.clone();
        self.write(WHAT, move |c| apply_seed(c, &seed)).await
    }

    #[tracing::instrument(
        name = "store.tenant", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn tenant(&self, tenant_id: &str) -> StoreResult<Option<Tenant>> {
        const WHAT: &str = "tenant";
        let tenant_id = tenant_id.to_owned();
        self.read(WHAT, move |c| {
            first(
                c,
                WHAT,
                "SELECT tenant_id, display_name FROM tenants WHERE tenant_id = ?1",
                [tenant_id],
                rows::tenant,
            )
        })
        .await
    }

    #[tracing::instrument(
        name = "store.tenant_settings", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn tenant_settings(&self, tenant_id: &str) -> StoreResult<TenantSettings> {
        const WHAT: &str = "tenant_settings";
        let tenant_id = tenant_id.to_owned();
        let text = self
            .read(WHAT, move |c| {
                first(
                    c,
                    WHAT,
                    "SELECT settings FROM tenant_settings WHERE tenant_id = ?1",
                    [tenant_id],
                    |r| r.get::<_, String>(0),
                )
            })
            .await?;
        match text {
            None => Ok(TenantSettings::default()),
            Some(t) => serde_json::from_str(&t).map_err(|e| {
                StoreError::Backend(anyhow::anyhow!("sqlite store: {WHAT}: corrupt settings: {e}"))
            }),
        }
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
        const WHAT: &str = "set_tenant_settings";
        let tenant_id = tenant_id.to_owned();
        let text = serde_json::to_string(settings)
            .map_err(|e| StoreError::Backend(anyhow::anyhow!("sqlite store: {WHAT}: {e}")))?;
        self.write(WHAT, move |c| {
            let r = exec(
                c,
                "INSERT INTO tenant_settings (tenant_id, settings) VALUES (?1, ?2) \
                 ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings",
                params![tenant_id, text],
            );
            write_result(r, WHAT, None, None).map(drop)
        })
        .await
    }

    #[tracing::instrument(
        name = "store.user", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn user(&self, tenant_id: &str, id_or_upn: &str) -> StoreResult<Option<User>> {
        const WHAT: &str = "user";
        let (tenant_id, key) = (tenant_id.to_owned(), id_or_upn.to_owned());
        self.read(WHAT, move |c| user(c, &tenant_id, &key, WHAT)).await
    }

    #[tracing::instrument(name = "store.list_users", level = "debug", skip_all, fields(tenant = %tenant_id))]
    async fn list_users(&self, tenant_id: &str) -> StoreResult<Vec<User>> {
        const WHAT: &str = "list_users";
        let tenant_id = tenant_id.to_owned();
        self.read_large(WHAT, move |c| {
            all(
                c,
                WHAT,
                concat!("SELECT ", user_cols!(), " FROM users WHERE tenant_id = ?1 ORDER BY id"),
                params![tenant_id],
                rows::user,
            )
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
        const WHAT: &str = "list_users_after";
        let (tenant_id, after) = (tenant_id.to_owned(), after.map(str::to_owned));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The users_upn index (tenant_id, lower(user_principal_name)) serves both the seek and
        // the order; lower() folds ASCII only, as the API's keys do.
        // An OR of "no bound" would keep the planner from seeking, hence two statements.
        self.read(WHAT, move |c| match after {
            Some(after) => all(
                c,
                WHAT,
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users WHERE tenant_id = ?1 AND lower(user_principal_name) > ?2",
                    " ORDER BY lower(user_principal_name) LIMIT ?3"
                ),
                params![tenant_id, after, limit],
                rows::user,
            ),
            None => all(
                c,
                WHAT,
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users WHERE tenant_id = ?1",
                    " ORDER BY lower(user_principal_name) LIMIT ?2"
                ),
                params![tenant_id, limit],
                rows::user,
            ),
        })
        .await
    }

    #[tracing::instrument(name = "store.list_chats", level = "debug", skip_all, fields(tenant = %tenant_id))]
    async fn list_chats(&self, tenant_id: &str) -> StoreResult<Vec<Chat>> {
        const WHAT: &str = "list_chats";
        let tenant_id = tenant_id.to_owned();
        self.read_large(WHAT, move |c| {
            all(
                c,
                WHAT,
                concat!("SELECT ", chat_cols!(), " FROM chats WHERE tenant_id = ?1 ORDER BY id"),
                params![tenant_id],
                rows::chat,
            )
        })
        .await
    }

    #[tracing::instrument(name = "store.list_teams", level = "debug", skip_all, fields(tenant = %tenant_id))]
    async fn list_teams(&self, tenant_id: &str) -> StoreResult<Vec<Team>> {
        const WHAT: &str = "list_teams";
        let tenant_id = tenant_id.to_owned();
        self.read_large(WHAT, move |c| {
            all(
                c,
                WHAT,
                concat!("SELECT ", team_cols!(), " FROM teams WHERE tenant_id = ?1 ORDER BY id"),
                params![tenant_id],
                rows::team,
            )
        })
        .await
    }

    #[tracing::instrument(
        name = "store.chat", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn chat(&self, tenant_id: &str, chat_id: &str) -> StoreResult<Option<Chat>> {
        const WHAT: &str = "chat";
        let (tenant_id, id) = (tenant_id.to_owned(), chat_id.to_owned());
        self.read(WHAT, move |c| chat(c, &tenant_id, &id, WHAT)).await
    }

    #[tracing::instrument(
        name = "store.team", level = "debug", skip_all,
        fields(tenant = %tenant_id)
    )]
    async fn team(&self, tenant_id: &str, team_id: &str) -> StoreResult<Option<Team>> {
        const WHAT: &str = "team";
        let (tenant_id, id) = (tenant_id.to_owned(), team_id.to_owned());
        self.read(WHAT, move |c| team(c, &tenant_id, &id, WHAT)).await
    }

    #[tracing::instrument(
        name = "store.application", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id)
    )]
    async fn application(&self, tenant_id: &str, app_id: &str) -> StoreResult<Option<Application>> {
        const WHAT: &str = "application";
        let (tenant_id, id) = (tenant_id.to_owned(), app_id.to_owned());
        self.read(WHAT, move |c| {
            first(
                c,
                WHAT,
                concat!(
                    "SELECT ",
                    application_cols!(),
                    " FROM applications WHERE tenant_id = ?1 AND app_id = ?2"
                ),
                params![tenant_id, id],
                rows::application,
            )
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
        let tenant_id = tenant_id.to_owned();
        self.read_large(WHAT, move |c| {
            // Two queries in one snapshot: the apps, then every definition of the tenant.
            let apps = all(
                c,
                WHAT,
                concat!("SELECT ", app_cols!(), " FROM apps WHERE tenant_id = ?1 ORDER BY id"),
                [&tenant_id],
                rows::app,
            )?;
            let mut by_app: HashMap<String, Vec<AppDefinition>> =
                HashMap::with_capacity(apps.len());
            for def in definitions_of(c, &tenant_id, None, WHAT)? {
                by_app.entry(def.app_id.clone()).or_default().push(def);
            }
            Ok(apps
                .into_iter()
                .map(|app| {
                    let definitions = by_app.remove(&app.id).unwrap_or_default();
                    CatalogApp { app, definitions }
                })
                .collect())
        })
        .await
    }

    #[tracing::instrument(
        name = "store.get_app", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id)
    )]
    async fn get_app(&self, tenant_id: &str, app_id: &str) -> StoreResult<Option<CatalogApp>> {
        const WHAT: &str = "get_app";
        let (tenant_id, app_id) = (tenant_id.to_owned(), app_id.to_owned());
        self.read_catalog(WHAT, move |c, reads| cached_app(c, reads, &tenant_id, &app_id, WHAT))
            .await
    }

    #[tracing::instrument(
        name = "store.get_apps", level = "debug", skip_all,
        fields(tenant = %tenant_id, apps = app_ids.len())
    )]
    async fn get_apps(&self, tenant_id: &str, app_ids: &[&str]) -> StoreResult<Vec<CatalogApp>> {
        const WHAT: &str = "get_apps";
        let tenant_id = tenant_id.to_owned();
        let mut ids: Vec<String> = app_ids.iter().map(|s| (*s).to_owned()).collect();
        ids.sort_unstable();
        ids.dedup();
        // Point lookups through cached statements in one snapshot: cheaper than one IN query
        // for the few apps of a scope, and each uses the primary key.
        self.read_catalog(WHAT, move |c, reads| {
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(found) = cached_app(c, reads, &tenant_id, id, WHAT)? {
                    out.push(found);
                }
            }
            Ok(out)
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
        let (tenant_id, external_id) = (tenant_id.to_owned(), external_id.to_owned());
        self.read(WHAT, move |c| {
            let app = first(
                c,
                WHAT,
                concat!(
                    "SELECT ",
                    app_cols!(),
                    " FROM apps WHERE tenant_id = ?1 AND lower(external_id) = lower(?2)"
                ),
                params![tenant_id, external_id],
                rows::app,
            )?;
            with_definitions(c, app, WHAT)
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
                "sqlite store: {WHAT}: the definition belongs to app {:?}, not {:?}",
                definition.app_id,
                app.id
            )));
        }
        let (app, def) = (app.clone(), definition.clone());
        self.write(WHAT, move |c| {
            // Checked in this order so a re-upload of a known manifest reports external_id
            // even if it also reuses the id. The immediate transaction makes this race-free;
            // the constraint mapping below is the backstop.
            if let Some(external_id) = &app.external_id {
                if exists(
                    c,
                    WHAT,
                    "SELECT 1 FROM apps WHERE tenant_id = ?1 AND lower(external_id) = lower(?2)",
                    params![app.tenant_id, external_id],
                )? {
                    return Err(StoreError::Conflict("external_id"));
                }
            }
            if exists(c, WHAT, "SELECT 1 FROM apps WHERE tenant_id = ?1 AND id = ?2", params![app.tenant_id, app.id])? {
                return Err(StoreError::Conflict("app_id"));
            }
            let r = exec(
                c,
                "INSERT INTO apps (tenant_id, id, external_id, distribution_method) VALUES (?1, ?2, ?3, ?4)",
                params![app.tenant_id, app.id, app.external_id, app.distribution_method.as_str()],
            );
            write_result(r, WHAT, Some("app_id"), None)?;
            let r = put_definition(c, insert_definition!(""), &app.tenant_id, &def, WHAT)?;
            write_result(r, WHAT, Some("version"), None).map(drop)
        })
        .await
    }

    #[tracing::instrument(
        name = "store.add_definition", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %definition.app_id)
    )]
    async fn add_definition(&self, tenant_id: &str, definition: &AppDefinition) -> StoreResult<()> {
        const WHAT: &str = "add_definition";
        let (tenant_id, def) = (tenant_id.to_owned(), definition.clone());
        self.write(WHAT, move |c| {
            if !exists(c, WHAT, "SELECT 1 FROM apps WHERE tenant_id = ?1 AND id = ?2", params![tenant_id, def.app_id])? {
                return Err(StoreError::Conflict("app"));
            }
            // Insert, or overwrite in place a rejected definition of the same version (in
            // place, so nothing that references it is cascaded away). Any other existing
            // definition of that version makes the upsert a no-op: zero rows changed.
            let r = put_definition(
                c,
                insert_definition!(
                    " ON CONFLICT (tenant_id, app_id, version) DO UPDATE SET \
                     version_key = excluded.version_key, state = excluded.state, \
                     display_name = excluded.display_name, \
                     short_description = excluded.short_description, \
                     description = excluded.description, last_modified = excluded.last_modified, \
                     created_by = excluded.created_by, client_app_id = excluded.client_app_id, \
                     required_permissions = excluded.required_permissions, bot_id = excluded.bot_id, \
                     allowed_team = excluded.allowed_team, \
                     allowed_group_chat = excluded.allowed_group_chat, \
                     allowed_personal = excluded.allowed_personal, etag = excluded.etag \
                     WHERE definitions.state = 'rejected'"
                ),
                &tenant_id,
                &def,
                WHAT,
            )?;
            match write_result(r, WHAT, Some("version"), Some("app"))? {
                0 => Err(StoreError::Conflict("version")),
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
        let (tenant_id, app_id, version) =
            (tenant_id.to_owned(), app_id.to_owned(), version.to_owned());
        let (if_match, new_etag) = (if_match.map(str::to_owned), new_etag.to_owned());
        self.write(WHAT, move |c| {
            let changed = exec(
                c,
                "UPDATE definitions SET state = ?5, etag = ?6, last_modified = ?7 \
                 WHERE tenant_id = ?1 AND app_id = ?2 AND version = ?3 AND state = ?4 \
                   AND (?8 IS NULL OR etag = ?8)",
                params![
                    tenant_id,
                    app_id,
                    version,
                    from.as_str(),
                    to.as_str(),
                    new_etag,
                    time_text(&at),
                    if_match
                ],
            )
            .map_err(|e| rows::backend(e, WHAT))?;
            if changed > 0 {
                return match definition(c, &tenant_id, &app_id, &version, WHAT)? {
                    Some(def) => Ok(Transition::Done(def)),
                    None => Err(StoreError::Backend(anyhow::anyhow!(
                        "sqlite store: {WHAT}: updated definition not found"
                    ))),
                };
            }
            // Nothing changed: tell why, from the same transaction.
            let current = first(
                c,
                WHAT,
                "SELECT state, etag FROM definitions WHERE tenant_id = ?1 AND app_id = ?2 AND version = ?3",
                params![tenant_id, app_id, version],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )?;
            let Some((state, etag)) = current else { return Ok(Transition::NotFound) };
            // A precondition (If-Match) is judged before the state rule, as in HTTP.
            if if_match.as_deref().is_some_and(|m| m != etag) {
                return Ok(Transition::EtagMismatch);
            }
            Ok(Transition::WrongState(rows::state_from_text(&state, WHAT)?))
        })
        .await
    }

    #[tracing::instrument(
        name = "store.delete_app", level = "debug", skip_all,
        fields(tenant = %tenant_id, app = %app_id)
    )]
    async fn delete_app(&self, tenant_id: &str, app_id: &str) -> StoreResult<bool> {
        const WHAT: &str = "delete_app";
        let (tenant_id, app_id) = (tenant_id.to_owned(), app_id.to_owned());
        self.write(WHAT, move |c| {
            // Definitions and, through them, installations go by ON DELETE CASCADE.
            let n = exec(
                c,
                "DELETE FROM apps WHERE tenant_id = ?1 AND id = ?2",
                params![tenant_id, app_id],
            )
            .map_err(|e| rows::backend(e, WHAT))?;
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
        const WHAT: &str = "put_definition_icons";
        let (tenant_id, app_id, version, icons) =
            (tenant_id.to_owned(), app_id.to_owned(), version.to_owned(), icons.to_vec());
        self.write(WHAT, move |c| {
            for icon in &icons {
                let r = exec(
                    c,
                    "INSERT INTO definition_icons \
                     (tenant_id, app_id, version, kind, content_type, bytes) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (tenant_id, app_id, version, kind) DO UPDATE SET \
                     content_type = excluded.content_type, bytes = excluded.bytes",
                    params![
                        tenant_id,
                        app_id,
                        version,
                        icon.kind.as_str(),
                        icon.content_type,
                        icon.bytes
                    ],
                );
                write_result(r, WHAT, None, Some("definition"))?;
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
        const WHAT: &str = "definition_icon";
        let (tenant_id, app_id, version) =
            (tenant_id.to_owned(), app_id.to_owned(), version.to_owned());
        self.read(WHAT, move |c| {
            first(
                c,
                WHAT,
                "SELECT content_type, bytes FROM definition_icons \
                 WHERE tenant_id = ?1 AND app_id = ?2 AND version = ?3 AND kind = ?4",
                params![tenant_id, app_id, version, kind.as_str()],
                |r| Ok(DefinitionIcon { kind, content_type: r.get(0)?, bytes: r.get(1)? }),
            )
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
        const WHAT: &str = "delete_definition";
        let (tenant_id, app_id, version) =
            (tenant_id.to_owned(), app_id.to_owned(), version.to_owned());
        self.write(WHAT, move |c| {
            let n = exec(
                c,
                "DELETE FROM definitions WHERE tenant_id = ?1 AND app_id = ?2 AND version = ?3 AND state = ?4",
                params![tenant_id, app_id, version, state.as_str()],
            )
            .map_err(|e| rows::backend(e, WHAT))?;
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
        let (tenant_id, scope) = (tenant_id.to_owned(), scope.clone());
        self.read(WHAT, move |c| {
            all(
                c,
                WHAT,
                concat!(
                    "SELECT ",
                    installation_cols!(),
                    " FROM installations WHERE tenant_id = ?1 AND scope_kind = ?2 AND scope_id = ?3 \
                     ORDER BY app_id"
                ),
                params![tenant_id, scope.kind.as_str(), scope.id],
                rows::installation,
            )
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
        let (tenant_id, scope, app_id) = (tenant_id.to_owned(), scope.clone(), app_id.to_owned());
        self.read(WHAT, move |c| installation(c, &tenant_id, &scope, &app_id, WHAT)).await
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
        let tenant_id = tenant_id.to_owned();
        let (kind, id) = match key {
            ScopeKey::User(id) => (ScopeKind::User, id.to_owned()),
            ScopeKey::Chat(id) => (ScopeKind::Chat, id.to_owned()),
            ScopeKey::Team(id) => (ScopeKind::Team, id.to_owned()),
        };
        let app_id = app_id.map(str::to_owned);
        self.read_catalog(WHAT, move |c, reads| {
            let t = &tenant_id;
            let scope = match kind {
                ScopeKind::User => user(c, t, &id, WHAT)?.map(ScopeEntity::User),
                ScopeKind::Chat => chat(c, t, &id, WHAT)?.map(ScopeEntity::Chat),
                ScopeKind::Team => team(c, t, &id, WHAT)?.map(ScopeEntity::Team),
            };
            let (Some(entity), Some(app_id)) = (&scope, &app_id) else {
                return Ok(ScopedInstallation { scope, installed: None });
            };
            let scope_ref = entity.scope_ref();
            let installed = match installation(c, t, &scope_ref, app_id, WHAT)? {
                Some(i) => cached_app(c, reads, t, app_id, WHAT)?.map(|a| (i, a)),
                None => None,
            };
            Ok(ScopedInstallation { scope, installed })
        })
        .await
    }

    #[tracing::instrument(
        name = "store.create_installation", level = "debug", skip_all,
        fields(tenant = %installation.tenant_id, app = %installation.app_id)
    )]
    async fn create_installation(&self, installation: &Installation) -> StoreResult<()> {
        const WHAT: &str = "create_installation";
        let installation = installation.clone();
        self.write(WHAT, move |c| {
            // The primary key refuses a second installation of the app in the scope, the
            // foreign key an installation of a definition that does not exist.
            let r = put_installation(c, insert_installation!(""), &installation, WHAT)?;
            write_result(r, WHAT, Some("installation"), Some("definition")).map(drop)
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
        const WHAT: &str = "upgrade_installation";
        let consented = consented_json(consented, WHAT)?;
        let (tenant_id, scope, app_id, to_version) =
            (tenant_id.to_owned(), scope.clone(), app_id.to_owned(), to_version.to_owned());
        self.write(WHAT, move |c| {
            // One conditional UPDATE: it only moves forward to a published target, whatever
            // else commits before or after it.
            let changed = exec(
                c,
                "UPDATE installations SET version = ?5, consented = ?6 \
                 WHERE tenant_id = ?1 AND scope_kind = ?2 AND scope_id = ?3 AND app_id = ?4 \
                   AND (SELECT t.version_key FROM definitions t \
                        WHERE t.tenant_id = ?1 AND t.app_id = ?4 AND t.version = ?5 \
                          AND t.state = 'published') \
                     > (SELECT d.version_key FROM definitions d \
                        WHERE d.tenant_id = ?1 AND d.app_id = ?4 AND d.version = installations.version)",
                params![tenant_id, scope.kind.as_str(), scope.id, app_id, to_version, consented],
            )
            .map_err(|e| rows::backend(e, WHAT))?;
            if changed > 0 {
                return Ok(UpgradeOutcome::Upgraded);
            }
            let installed = exists(
                c,
                WHAT,
                "SELECT 1 FROM installations \
                 WHERE tenant_id = ?1 AND scope_kind = ?2 AND scope_id = ?3 AND app_id = ?4",
                params![tenant_id, scope.kind.as_str(), scope.id, app_id],
            )?;
            if !installed {
                return Ok(UpgradeOutcome::NotFound);
            }
            let target = exists(
                c,
                WHAT,
                "SELECT 1 FROM definitions \
                 WHERE tenant_id = ?1 AND app_id = ?2 AND version = ?3 AND state = 'published'",
                params![tenant_id, app_id, to_version],
            )?;
            Ok(if target { UpgradeOutcome::NotNewer } else { UpgradeOutcome::TargetMissing })
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
        const WHAT: &str = "delete_installation";
        let (tenant_id, scope, app_id) = (tenant_id.to_owned(), scope.clone(), app_id.to_owned());
        self.write(WHAT, move |c| {
            let n = exec(
                c,
                "DELETE FROM installations \
                 WHERE tenant_id = ?1 AND scope_kind = ?2 AND scope_id = ?3 AND app_id = ?4",
                params![tenant_id, scope.kind.as_str(), scope.id, app_id],
            )
            .map_err(|e| rows::backend(e, WHAT))?;
            Ok(n > 0)
        })
        .await
    }

    #[tracing::instrument(
        name = "store.save_snapshot", level = "debug", skip_all,
        fields(snapshot = %name)
    )]
    async fn save_snapshot(&self, name: &str) -> StoreResult<()> {
        const WHAT: &str = "save_snapshot";
        let key = teamsapps_core::store::snapshot_key(name);
        self.write(WHAT, move |c| {
            let mut sql = String::new();
            for t in teamsapps_core::store::SNAPSHOT_TABLES {
                sql.push_str(&format!(
                    "DROP TABLE IF EXISTS \"_snap_{key}_{t}\"; \
                     CREATE TABLE \"_snap_{key}_{t}\" AS SELECT * FROM {t};"
                ));
            }
            c.execute_batch(&sql).map_err(|e| rows::backend(e, WHAT))
        })
        .await
    }

    #[tracing::instrument(
        name = "store.restore_snapshot", level = "debug", skip_all,
        fields(snapshot = %name)
    )]
    async fn restore_snapshot(&self, name: &str) -> StoreResult<bool> {
        const WHAT: &str = "restore_snapshot";
        let key = teamsapps_core::store::snapshot_key(name);
        self.write_unchecked(WHAT, move |c| {
            let found: i64 = c
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    params![format!("_snap_{key}_installations")],
                    |r| r.get(0),
                )
                .map_err(|e| rows::backend(e, WHAT))?;
            if found == 0 {
                return Ok(false);
            }
            let tables = teamsapps_core::store::SNAPSHOT_TABLES;
            let mut sql = String::new();
            for t in tables.iter().rev() {
                sql.push_str(&format!("DELETE FROM {t};"));
            }
            for t in tables {
                sql.push_str(&format!("INSERT INTO {t} SELECT * FROM \"_snap_{key}_{t}\";"));
            }
            c.execute_batch(&sql).map_err(|e| rows::backend(e, WHAT))?;
            Ok(true)
        })
        .await
    }

    #[tracing::instrument(name = "store.wipe", level = "debug", skip_all)]
    async fn wipe(&self) -> StoreResult<()> {
        const WHAT: &str = "wipe";
        self.write_unchecked(WHAT, move |c| {
            let mut sql = String::new();
            for t in teamsapps_core::store::SNAPSHOT_TABLES.iter().rev() {
                sql.push_str(&format!("DELETE FROM {t};"));
            }
            c.execute_batch(&sql).map_err(|e| rows::backend(e, WHAT))
        })
        .await
    }
}

/// The seed in the caller's transaction: directory objects upserted, catalog content and
/// installations inserted when absent.
fn apply_seed(c: &Connection, seed: &Seed) -> StoreResult<()> {
    const WHAT: &str = "apply_seed";
    for t in &seed.tenants {
        let r = exec(
            c,
            "INSERT INTO tenants (tenant_id, display_name) VALUES (?1, ?2) \
             ON CONFLICT (tenant_id) DO UPDATE SET display_name = excluded.display_name",
            params![t.id, t.display_name],
        );
        write_result(r, WHAT, None, None)?;
    }
    for u in &seed.users {
        let r = exec(
            c,
            concat!(
                "INSERT INTO users (",
                user_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET \
                 user_principal_name = excluded.user_principal_name, \
                 display_name = excluded.display_name, password = excluded.password, \
                 roles = excluded.roles, mail = excluded.mail, \
                 account_enabled = excluded.account_enabled, user_type = excluded.user_type"
            ),
            params![
                u.tenant_id,
                u.id,
                u.user_principal_name,
                u.display_name,
                u.password,
                json(&u.roles, WHAT)?,
                u.mail,
                u.account_enabled,
                u.user_type
            ],
        );
        // The only uniqueness left to violate is another user's UPN.
        write_result(r, WHAT, Some("user_principal_name"), None)?;
    }
    for ch in &seed.chats {
        let r = exec(
            c,
            concat!(
                "INSERT INTO chats (",
                chat_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET chat_type = excluded.chat_type, \
                 topic = excluded.topic, members = excluded.members, \
                 join_web_url = excluded.join_web_url, \
                 created_date_time = excluded.created_date_time"
            ),
            params![
                ch.tenant_id,
                ch.id,
                ch.chat_type,
                ch.topic,
                json(&ch.members, WHAT)?,
                ch.join_web_url,
                ch.created_date_time.as_ref().map(time_text)
            ],
        );
        write_result(r, WHAT, None, None)?;
    }
    for t in &seed.teams {
        let r = exec(
            c,
            concat!(
                "INSERT INTO teams (",
                team_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name, \
                 owners = excluded.owners, members = excluded.members, \
                 description = excluded.description, visibility = excluded.visibility"
            ),
            params![
                t.tenant_id,
                t.id,
                t.display_name,
                json(&t.owners, WHAT)?,
                json(&t.members, WHAT)?,
                t.description,
                t.visibility
            ],
        );
        write_result(r, WHAT, None, None)?;
    }
    for a in &seed.applications {
        let r = exec(
            c,
            concat!(
                "INSERT INTO applications (",
                application_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (tenant_id, app_id) DO UPDATE SET display_name = excluded.display_name, \
                 client_secret = excluded.client_secret, \
                 application_permissions = excluded.application_permissions, \
                 delegated_permissions = excluded.delegated_permissions, \
                 selected_teams_apps = excluded.selected_teams_apps"
            ),
            params![
                a.tenant_id,
                a.app_id,
                a.display_name,
                a.client_secret,
                json(&a.application_permissions, WHAT)?,
                json(&a.delegated_permissions, WHAT)?,
                json(&a.selected_teams_apps, WHAT)?,
            ],
        );
        write_result(r, WHAT, None, None)?;
    }
    for catalog_app in &seed.apps {
        let app = &catalog_app.app;
        // Only an existing id is "already there"; another app holding the manifest id is a
        // conflict, not something to skip silently.
        let r = exec(
            c,
            "INSERT INTO apps (tenant_id, id, external_id, distribution_method) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (tenant_id, id) DO NOTHING",
            params![app.tenant_id, app.id, app.external_id, app.distribution_method.as_str()],
        );
        write_result(r, WHAT, Some("external_id"), None)?;
        for def in &catalog_app.definitions {
            let r = put_definition(
                c,
                insert_definition!(" ON CONFLICT (tenant_id, app_id, version) DO NOTHING"),
                &app.tenant_id,
                def,
                WHAT,
            )?;
            write_result(r, WHAT, None, Some("app"))?;
        }
    }
    for i in &seed.installations {
        let r = put_installation(
            c,
            insert_installation!(
                " ON CONFLICT (tenant_id, scope_kind, scope_id, app_id) DO NOTHING"
            ),
            i,
            WHAT,
        )?;
        write_result(r, WHAT, None, Some("definition"))?;
    }
    Ok(())
}

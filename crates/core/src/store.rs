//! The storage contract. Shaped around use cases (not tables): each method is one atomic
//! change or one read, and implementations own their transactions. Every write is durable
//! when the method returns.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{
    AppDefinition, Application, CatalogApp, Chat, DefinitionIcon, IconKind, Installation,
    PublishingState, ResourceSpecificPermission, ScopeKind, ScopeRef, SigningKey, Team, TeamsApp,
    Tenant, TenantSettings, User,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or reference rule refused the write; the name says which.
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The backend failed (I/O, corruption, lost connection).
    #[error(transparent)]
    Backend(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Directory objects and catalog content from a fixture, applied in one transaction.
/// Applying the same seed twice changes nothing: directory objects are upserted, apps,
/// definitions and installations that already exist are left alone.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub tenants: Vec<Tenant>,
    pub users: Vec<User>,
    pub chats: Vec<Chat>,
    pub teams: Vec<Team>,
    pub applications: Vec<Application>,
    pub apps: Vec<CatalogApp>,
    pub installations: Vec<Installation>,
}

/// A scope as a URL names it, before it is resolved: a user id or UPN, a chat id, a team id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKey<'a> {
    User(&'a str),
    Chat(&'a str),
    Team(&'a str),
}

/// The directory object a [`ScopeKey`] resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeEntity {
    User(User),
    Chat(Chat),
    Team(Team),
}

/// What [`Store::scope_installation`] found, read in one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopedInstallation {
    /// `None` when the scope does not exist.
    pub scope: Option<ScopeEntity>,
    /// The app's installation in the resolved scope with its catalog app; `None` when no app
    /// was asked for, the scope does not exist, or the app is not installed there.
    pub installed: Option<(Installation, CatalogApp)>,
}

/// Outcome of a conditional publishing-state change.
// Rare path: a large variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Done(AppDefinition),
    NotFound,
    /// The definition is not in the expected state; carries the state it is in.
    WrongState(PublishingState),
    /// `If-Match` did not match the current etag.
    EtagMismatch,
}

impl ScopeEntity {
    /// The resolved scope (kind and canonical id).
    pub fn scope_ref(&self) -> ScopeRef {
        let (kind, id) = match self {
            ScopeEntity::User(u) => (ScopeKind::User, &u.id),
            ScopeEntity::Chat(c) => (ScopeKind::Chat, &c.id),
            ScopeEntity::Team(t) => (ScopeKind::Team, &t.id),
        };
        ScopeRef { kind, id: id.clone() }
    }
}

/// Outcome of an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeOutcome {
    Upgraded,
    /// No such installation.
    NotFound,
    /// The installation is already at that version or newer: nothing changed.
    NotNewer,
    /// The target definition is gone or not published: nothing changed.
    TargetMissing,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- signing keys -------------------------------------------------------------------
    /// All signing keys, newest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
    async fn add_signing_key(&self, key: &SigningKey) -> StoreResult<()>;

    // --- directory ----------------------------------------------------------------------
    async fn apply_seed(&self, seed: &Seed) -> StoreResult<()>;
    async fn tenant(&self, tenant_id: &str) -> StoreResult<Option<Tenant>>;
    /// By object id, or by user principal name (case-insensitive).
    async fn user(&self, tenant_id: &str, id_or_upn: &str) -> StoreResult<Option<User>>;
    async fn chat(&self, tenant_id: &str, chat_id: &str) -> StoreResult<Option<Chat>>;
    async fn team(&self, tenant_id: &str, team_id: &str) -> StoreResult<Option<Team>>;
    async fn application(&self, tenant_id: &str, app_id: &str) -> StoreResult<Option<Application>>;
    /// Every user of the tenant (the directory reads page and filter them).
    async fn list_users(&self, tenant_id: &str) -> StoreResult<Vec<User>>;
    /// At most `limit` of the tenant's users in user principal name order (ASCII case-folded,
    /// then byte order: the order `GET /users` lists them in), those after `after` when given.
    /// A page of a large directory costs its own rows, not the whole directory's.
    async fn list_users_after(
        &self,
        tenant_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        let mut users: Vec<(String, User)> = self
            .list_users(tenant_id)
            .await?
            .into_iter()
            .map(|u| (u.user_principal_name.to_ascii_lowercase(), u))
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .collect();
        users.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(users.into_iter().take(limit).map(|(_, u)| u).collect())
    }
    /// Every chat of the tenant.
    async fn list_chats(&self, tenant_id: &str) -> StoreResult<Vec<Chat>>;
    /// Every team of the tenant.
    async fn list_teams(&self, tenant_id: &str) -> StoreResult<Vec<Team>>;
    /// The tenant's `teamsAppSettings`; the defaults when none were set.
    async fn tenant_settings(&self, tenant_id: &str) -> StoreResult<TenantSettings> {
        let _ = tenant_id;
        Ok(TenantSettings::default())
    }
    /// Replaces the tenant's `teamsAppSettings`.
    async fn set_tenant_settings(
        &self,
        tenant_id: &str,
        settings: &TenantSettings,
    ) -> StoreResult<()> {
        let _ = (tenant_id, settings);
        Err(StoreError::Backend(anyhow::anyhow!("this store does not keep tenant settings yet")))
    }

    // --- catalog ------------------------------------------------------------------------
    /// Every app of the tenant with its definitions (ascending version), ordered by app id.
    async fn list_apps(&self, tenant_id: &str) -> StoreResult<Vec<CatalogApp>>;
    async fn get_app(&self, tenant_id: &str, app_id: &str) -> StoreResult<Option<CatalogApp>>;
    async fn get_app_by_external_id(
        &self,
        tenant_id: &str,
        external_id: &str,
    ) -> StoreResult<Option<CatalogApp>>;
    /// `Conflict("external_id")` when the manifest id is in the catalog already,
    /// `Conflict("app_id")` when the id is taken.
    async fn create_app(&self, app: &TeamsApp, definition: &AppDefinition) -> StoreResult<()>;
    /// Adds a version. A rejected definition of the same version is replaced;
    /// any other definition of that version is `Conflict("version")`; a missing app is
    /// `Conflict("app")`.
    async fn add_definition(&self, tenant_id: &str, definition: &AppDefinition) -> StoreResult<()>;
    /// Stores (replacing) the icon files of an existing definition; they go with it when it is
    /// deleted or replaced. The default keeps nothing (test doubles without icons).
    async fn put_definition_icons(
        &self,
        _tenant_id: &str,
        _app_id: &str,
        _version: &str,
        _icons: &[DefinitionIcon],
    ) -> StoreResult<()> {
        Ok(())
    }
    /// One icon file of a definition, if its package had it.
    async fn definition_icon(
        &self,
        _tenant_id: &str,
        _app_id: &str,
        _version: &str,
        _kind: IconKind,
    ) -> StoreResult<Option<DefinitionIcon>> {
        Ok(None)
    }
    /// Moves a definition from `from` to `to` when it is in `from` and (if given) its etag
    /// matches, setting the new etag and modification time.
    #[allow(clippy::too_many_arguments)]
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
    ) -> StoreResult<Transition>;
    /// Removes the app, its definitions and its installations. False when there was none.
    async fn delete_app(&self, tenant_id: &str, app_id: &str) -> StoreResult<bool>;
    /// Removes one definition if it is in `state`. False when there was none in that state.
    async fn delete_definition(
        &self,
        tenant_id: &str,
        app_id: &str,
        version: &str,
        state: PublishingState,
    ) -> StoreResult<bool>;

    // --- installations ------------------------------------------------------------------
    /// The scope's installations ordered by app id.
    async fn list_installations(
        &self,
        tenant_id: &str,
        scope: &ScopeRef,
    ) -> StoreResult<Vec<Installation>>;
    async fn get_installation(
        &self,
        tenant_id: &str,
        scope: &ScopeRef,
        app_id: &str,
    ) -> StoreResult<Option<Installation>>;
    /// Resolves `key` and, when `app_id` is given, reads that app's installation in the
    /// resolved scope together with its catalog app: the reads of a request about one
    /// installation, in one round trip where the backend can (the default makes the separate
    /// calls).
    async fn scope_installation(
        &self,
        tenant_id: &str,
        key: ScopeKey<'_>,
        app_id: Option<&str>,
    ) -> StoreResult<ScopedInstallation> {
        let scope = match key {
            ScopeKey::User(id) => self.user(tenant_id, id).await?.map(ScopeEntity::User),
            ScopeKey::Chat(id) => self.chat(tenant_id, id).await?.map(ScopeEntity::Chat),
            ScopeKey::Team(id) => self.team(tenant_id, id).await?.map(ScopeEntity::Team),
        };
        let (Some(entity), Some(app_id)) = (&scope, app_id) else {
            return Ok(ScopedInstallation { scope, installed: None });
        };
        let scope_ref = entity.scope_ref();
        let installed = match self.get_installation(tenant_id, &scope_ref, app_id).await? {
            Some(i) => self.get_app(tenant_id, app_id).await?.map(|app| (i, app)),
            None => None,
        };
        Ok(ScopedInstallation { scope, installed })
    }
    /// The apps among `app_ids` that exist, with their definitions, ordered by app id (ids
    /// given twice are answered once): one round trip where the default makes one per app.
    async fn get_apps(&self, tenant_id: &str, app_ids: &[&str]) -> StoreResult<Vec<CatalogApp>> {
        let mut ids: Vec<&str> = app_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(app) = self.get_app(tenant_id, id).await? {
                out.push(app);
            }
        }
        Ok(out)
    }
    /// `Conflict("installation")` when the app is installed in the scope already,
    /// `Conflict("definition")` when the definition does not exist (any more).
    async fn create_installation(&self, installation: &Installation) -> StoreResult<()>;
    /// Points the installation at `to_version` (which must exist and be published) and
    /// replaces the consented set, only when `to_version` is newer than the installed one:
    /// an upgrade never moves backwards, even when two race.
    async fn upgrade_installation(
        &self,
        tenant_id: &str,
        scope: &ScopeRef,
        app_id: &str,
        to_version: &str,
        consented: Option<&[ResourceSpecificPermission]>,
    ) -> StoreResult<UpgradeOutcome>;
    /// False when there was none.
    async fn delete_installation(
        &self,
        tenant_id: &str,
        scope: &ScopeRef,
        app_id: &str,
    ) -> StoreResult<bool>;

    // --- test controls (snapshots) -------------------------------------------------------
    /// Saves every tenant's data (directory, settings, catalog, installations; not the signing
    /// keys) as the snapshot `name`, replacing a snapshot of that name.
    async fn save_snapshot(&self, name: &str) -> StoreResult<()> {
        let _ = name;
        Err(StoreError::Backend(anyhow::anyhow!("this store does not keep snapshots")))
    }
    /// Replaces every tenant's data with the snapshot `name`, exactly as it was saved. False
    /// (and nothing changed) when there is no such snapshot.
    async fn restore_snapshot(&self, name: &str) -> StoreResult<bool> {
        let _ = name;
        Err(StoreError::Backend(anyhow::anyhow!("this store does not keep snapshots")))
    }
    /// Removes every tenant's data (not the signing keys, not the snapshots).
    async fn wipe(&self) -> StoreResult<()> {
        Err(StoreError::Backend(anyhow::anyhow!("this store cannot wipe its data")))
    }
}

/// The tables a snapshot holds, parents before children (restore inserts in this order and
/// deletes in the reverse one).
pub const SNAPSHOT_TABLES: &[&str] = &[
    "tenants",
    "tenant_settings",
    "users",
    "chats",
    "teams",
    "applications",
    "apps",
    "definitions",
    "definition_icons",
    "installations",
];

/// A short identifier-safe key for a snapshot name (FNV-1a, 64 bits, hex): stores name the
/// tables or schema of a snapshot with it.
pub fn snapshot_key(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

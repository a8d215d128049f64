//! Installation use cases in the three scopes (spec section 4): list, get, install, upgrade,
//! uninstall, and the user-scope chat. The check order is spec 5.7.

use std::collections::{BTreeSet, HashMap};

use crate::error::{CoreError, CoreResult};
use crate::ids;
use crate::model::{
    AppDefinition, CatalogApp, Installation, PermissionType, PublishingState,
    ResourceSpecificPermission, ScopeKind, ScopeRef,
};
use crate::permissions::{Access, Authorized, Operation, Reach, TargetFacts};
use crate::principal::Principal;
use crate::store::{ScopeEntity, ScopeKey, Store, StoreError, UpgradeOutcome};

/// The scope named by the URL, before it is resolved: a user id or UPN, a chat id, a team id.
#[derive(Debug, Clone)]
pub enum ScopePath {
    User(String),
    Chat(String),
    Team(String),
}

impl ScopePath {
    /// The caller of `auth`, when it was authorized for this scope's operation among
    /// `[user, chat, team]`.
    fn caller<'a>(&self, auth: &'a Authorized, ops: [Operation; 3]) -> CoreResult<&'a Principal> {
        let [user, chat, team] = ops;
        auth.principal_for(&[match self {
            ScopePath::User(_) => user,
            ScopePath::Chat(_) => chat,
            ScopePath::Team(_) => team,
        }])
    }

    fn kind(&self) -> ScopeKind {
        match self {
            ScopePath::User(_) => ScopeKind::User,
            ScopePath::Chat(_) => ScopeKind::Chat,
            ScopePath::Team(_) => ScopeKind::Team,
        }
    }
}

/// An installation with its catalog app, for rendering expansions.
#[derive(Debug, Clone)]
pub struct InstalledApp {
    pub installation: Installation,
    pub app: CatalogApp,
}

impl InstalledApp {
    pub fn definition(&self) -> Option<&AppDefinition> {
        self.app.definition(&self.installation.version)
    }
}

/// The user-scope 1:1 chat between the user and the app's bot.
#[derive(Debug, Clone)]
pub struct AppChat {
    pub id: String,
    pub tenant_id: String,
}

/// What an upgrade did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgraded {
    Moved,
    /// Already at the newest published version: nothing changed (spec 6.3).
    AlreadyCurrent,
}

/// Resolves the URL's scope (spec 5.7 step 3) and applies the delegated-context rule (step 4).
pub(crate) async fn resolve_scope(
    store: &dyn Store,
    principal: &Principal,
    path: &ScopePath,
) -> CoreResult<ScopeRef> {
    Ok(resolve(store, principal, path, None).await?.0)
}

/// [`resolve_scope`], and with an installation id also the installation (with its catalog app)
/// in that scope, read together with the scope in one store call. An installation id that
/// does not parse, names another scope or names nothing installed is `None`.
async fn resolve(
    store: &dyn Store,
    principal: &Principal,
    path: &ScopePath,
    installation_id: Option<&str>,
) -> CoreResult<(ScopeRef, Option<InstalledApp>)> {
    let tenant = &principal.tenant_id;
    let parsed = installation_id.and_then(ids::parse_installation_id);
    let key = match path {
        ScopePath::User(id) => ScopeKey::User(id),
        ScopePath::Chat(id) => ScopeKey::Chat(id),
        ScopePath::Team(id) => ScopeKey::Team(id),
    };
    let app_id = parsed.as_ref().map(|(_, app_id)| app_id.as_str());
    let found = store.scope_installation(tenant, key, app_id).await?;
    let (id, allowed) = match (path, found.scope) {
        (ScopePath::User(_), Some(ScopeEntity::User(user))) => {
            let allowed = principal.user_id().is_none_or(|u| u.eq_ignore_ascii_case(&user.id));
            (user.id, allowed)
        }
        (ScopePath::Chat(_), Some(ScopeEntity::Chat(chat))) => {
            let allowed = principal
                .user_id()
                .is_none_or(|u| chat.members.iter().any(|m| m.eq_ignore_ascii_case(u)));
            (chat.id, allowed)
        }
        (ScopePath::Team(_), Some(ScopeEntity::Team(team))) => {
            let allowed = principal.user_id().is_none_or(|u| {
                team.members.iter().chain(&team.owners).any(|m| m.eq_ignore_ascii_case(u))
            });
            (team.id, allowed)
        }
        (ScopePath::User(id_or_upn), _) => {
            return Err(CoreError::NotFound(format!("User Id '{id_or_upn}' not found.")))
        }
        (ScopePath::Chat(chat_id), _) => {
            return Err(CoreError::NotFound(format!("Chat '{chat_id}' not found.")))
        }
        (ScopePath::Team(team_id), _) => {
            return Err(CoreError::NotFound(format!("Team '{team_id}' not found.")))
        }
    };
    if !allowed {
        let what = match path {
            ScopePath::User(_) => "the signed-in user's own personal scope",
            ScopePath::Chat(_) => "chats the signed-in user is a member of",
            ScopePath::Team(_) => "teams the signed-in user belongs to",
        };
        let op_apps: Vec<&'static str> = match path {
            ScopePath::User(_) => Operation::ListUserInstalledApps,
            ScopePath::Chat(_) => Operation::ListChatInstalledApps,
            ScopePath::Team(_) => Operation::ListTeamInstalledApps,
        }
        .application()
        .iter()
        .filter(|g| g.reach == Reach::Any)
        .map(|g| g.permission)
        .collect();
        return Err(crate::error::denied(
            format!("A delegated token can only manage apps in {what}."),
            "membership (delegated calls act only where the signed-in user belongs; application permissions are not bound to membership)",
            op_apps,
            &principal.permissions,
        ));
    }
    let scope = ScopeRef { kind: path.kind(), id };
    // An id of another scope is not found here, even when that installation exists.
    let installed = match (parsed, found.installed) {
        (Some((scope_id, _)), Some((installation, app)))
            if scope_id.eq_ignore_ascii_case(&scope.id) =>
        {
            Some(InstalledApp { installation, app })
        }
        _ => None,
    };
    Ok((scope, installed))
}

/// The signed-in user of a `/me/…` alias (lifecycle spec 1.2, 2.2): an application token has no
/// user, and gets Graph's 400.
pub fn signed_in_user(auth: &Authorized) -> CoreResult<String> {
    crate::directory::signed_in(auth.principal()).map(str::to_string)
}

/// The aliases that reach a chat or a team through a user (`/users/{user}/chats/{chat}/…`,
/// `/users/{user}/joinedTeams/{team}/…` and their `/me` forms; lifecycle spec 2.2): a delegated
/// caller may go only through itself (403), and the chat or team must be one of that user's
/// (a member of the chat; an owner or member of the team), else it is not found there (404).
/// Checked after the operation's permissions and before the operation itself.
pub async fn require_path_user_in_scope(
    store: &dyn Store,
    auth: &Authorized,
    user: &str,
    path: &ScopePath,
) -> CoreResult<()> {
    let principal = auth.principal();
    let tenant = &principal.tenant_id;
    let found = store
        .user(tenant, user)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("User Id '{user}' not found.")))?;
    if principal.user_id().is_some_and(|me| !me.eq_ignore_ascii_case(&found.id)) {
        return Err(crate::error::denied(
            "A delegated token can only reach chats and teams through the signed-in user.",
            "membership (delegated calls act only for the signed-in user)",
            Vec::new(),
            &principal.permissions,
        ));
    }
    let has = |ids: &[String]| ids.iter().any(|m| m.eq_ignore_ascii_case(&found.id));
    match path {
        ScopePath::User(_) => Ok(()),
        ScopePath::Chat(chat_id) => {
            let chat = store
                .chat(tenant, chat_id)
                .await?
                .ok_or_else(|| CoreError::NotFound(format!("Chat '{chat_id}' not found.")))?;
            if has(&chat.members) {
                Ok(())
            } else {
                Err(CoreError::NotFound(format!(
                    "Chat '{chat_id}' is not one of the chats of user '{user}'."
                )))
            }
        }
        ScopePath::Team(team_id) => {
            let team = store
                .team(tenant, team_id)
                .await?
                .ok_or_else(|| CoreError::NotFound(format!("Team '{team_id}' not found.")))?;
            if has(&team.members) || has(&team.owners) {
                Ok(())
            } else {
                Err(CoreError::NotFound(format!(
                    "Team '{team_id}' is not one of the joined teams of user '{user}'."
                )))
            }
        }
    }
}

fn installation_not_found(id: &str) -> CoreError {
    CoreError::NotFound(format!("The app installation '{id}' was not found."))
}

fn app_not_found(app_id: &str) -> CoreError {
    CoreError::NotFound(format!("The Teams app '{app_id}' was not found in the app catalog."))
}

/// Everything needed to decide whether the caller's grants reach a given app.
struct Reacher<'a> {
    principal: &'a Principal,
    access: &'a Access,
    selected: Vec<String>,
    /// RSC application permissions consented to the caller's app in this resource.
    resource_rsc: BTreeSet<String>,
}

impl<'a> Reacher<'a> {
    async fn new(
        store: &dyn Store,
        auth: &'a Authorized,
        scope: &ScopeRef,
    ) -> CoreResult<Reacher<'a>> {
        let (principal, access) = (auth.principal(), auth.access());
        let tenant = &principal.tenant_id;
        let selected = if access.holds_reach(Reach::Selected) {
            store
                .application(tenant, &principal.app_id)
                .await?
                .map(|a| a.selected_teams_apps)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut resource_rsc = BTreeSet::new();
        if access.holds_reach(Reach::Resource) {
            let installations = store.list_installations(tenant, scope).await?;
            let apps = load_apps(store, tenant, &installations).await?;
            for inst in installations {
                let Some(app) = apps.get(&inst.app_id) else {
                    continue;
                };
                let own = app
                    .definition(&inst.version)
                    .and_then(|d| d.client_app_id.as_deref())
                    .is_some_and(|c| c.eq_ignore_ascii_case(&principal.app_id));
                if own {
                    for p in inst.consented.iter().flatten() {
                        if p.permission_type == PermissionType::Application {
                            resource_rsc.insert(p.permission_value.to_ascii_lowercase());
                        }
                    }
                }
            }
        }
        let reacher = Reacher { principal, access, selected, resource_rsc };
        reacher.check_resource_bound()?;
        Ok(reacher)
    }

    /// Step 4 of spec 5.7: a caller whose only grants are resource-specific permissions must
    /// have one of them consented in this very resource, or is refused outright (5.5).
    fn check_resource_bound(&self) -> CoreResult<()> {
        let only_rsc = self.access.held().iter().all(|g| g.reach == Reach::Resource);
        let consented_here = self
            .access
            .held()
            .iter()
            .any(|g| self.resource_rsc.contains(&g.permission.to_ascii_lowercase()));
        if !only_rsc || consented_here {
            return Ok(());
        }
        let held: Vec<&str> = self.access.held().iter().map(|g| g.permission).collect();
        Err(crate::error::denied(
            format!(
                "The resource-specific permission '{}' is not granted to the application '{}' in this resource: the app must be installed here with it consented.",
                held.join(", "),
                self.principal.app_id
            ),
            "resource-specific permission (the calling app must be installed here with it consented)",
            self.access.reaching_any(self.principal),
            &self.principal.permissions,
        ))
    }

    /// The Self tie uses the installed definition when there is one, else the current one (5.2).
    fn facts(&self, app: &CatalogApp, def: Option<&AppDefinition>) -> TargetFacts {
        let def = def.or_else(|| app.current());
        let is_own_app = def
            .and_then(|d| d.client_app_id.as_deref())
            .is_some_and(|c| c.eq_ignore_ascii_case(&self.principal.app_id));
        let is_selected = self.selected.iter().any(|s| {
            s.eq_ignore_ascii_case(&app.app.id)
                || app.app.external_id.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(s))
        });
        TargetFacts { is_own_app, is_selected }
    }

    fn reaches(&self, facts: TargetFacts) -> bool {
        self.access.reaches(facts, &|perm| self.resource_rsc.contains(&perm.to_ascii_lowercase()))
    }

    /// The 403 for an app the caller's grants do not reach (spec E4, E5).
    fn refusal(&self, app: &CatalogApp) -> CoreError {
        let would_allow = self.access.reaching_any(self.principal);
        let held = &self.principal.permissions;
        if self.access.holds_reach(Reach::OwnApp) && !self.access.holds_reach(Reach::Selected) {
            crate::error::denied(
                format!(
                    "AAD App Id '{}' is not allowed to manage the Teams App '{}'",
                    self.principal.app_id, app.app.id
                ),
                "Self (the Teams app's webApplicationInfo.id must be the calling app's id)",
                would_allow,
                held,
            )
        } else if self.access.holds_reach(Reach::Selected) {
            crate::error::denied(
                format!(
                    "The Teams app '{}' is not among the apps selected for the calling application '{}'.",
                    app.app.id, self.principal.app_id
                ),
                "Selected (the Teams app must be in the app registration's selectedTeamsApps)",
                would_allow,
                held,
            )
        } else {
            crate::error::denied(
                "Caller is not authorized.",
                "resource-specific permission (the calling app must be installed here with it consented)",
                would_allow,
                held,
            )
        }
    }
}

/// Spec 5.5 for any operation on a chat, team or user: a caller whose only grants are RSC
/// permissions must have one of them consented to its app in `scope`.
pub(crate) async fn require_rsc_consented_here(
    store: &dyn Store,
    auth: &Authorized,
    scope: &ScopeRef,
) -> CoreResult<()> {
    if auth.access().holds_reach(Reach::Resource) {
        Reacher::new(store, auth, scope).await?;
    }
    Ok(())
}

async fn load_apps(
    store: &dyn Store,
    tenant: &str,
    installations: &[Installation],
) -> CoreResult<HashMap<String, CatalogApp>> {
    if installations.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<&str> = installations.iter().map(|i| i.app_id.as_str()).collect();
    let apps = store.get_apps(tenant, &ids).await?;
    Ok(apps.into_iter().map(|app| (app.app.id.clone(), app)).collect())
}

pub async fn list_installed_apps(
    store: &dyn Store,
    auth: &Authorized,
    path: &ScopePath,
) -> CoreResult<Vec<InstalledApp>> {
    use Operation::*;
    let principal =
        path.caller(auth, [ListUserInstalledApps, ListChatInstalledApps, ListTeamInstalledApps])?;
    let scope = resolve_scope(store, principal, path).await?;
    let tenant = &principal.tenant_id;
    let installations = store.list_installations(tenant, &scope).await?;
    let mut apps = load_apps(store, tenant, &installations).await?;
    let reacher = Reacher::new(store, auth, &scope).await?;
    let mut out = Vec::with_capacity(installations.len());
    for installation in installations {
        let Some(app) = apps.get(&installation.app_id) else {
            continue;
        };
        // Only-Self or only-Selected callers see just the apps they reach (spec 5.2, 5.6).
        if !reacher.reaches(reacher.facts(app, app.definition(&installation.version))) {
            continue;
        }
        // A scope has one installation per app: each app is handed out once, so moved.
        let Some(app) = apps.remove(&installation.app_id) else { continue };
        out.push(InstalledApp { installation, app });
    }
    Ok(out)
}

pub async fn get_installed_app(
    store: &dyn Store,
    auth: &Authorized,
    path: &ScopePath,
    installation_id: &str,
) -> CoreResult<InstalledApp> {
    use Operation::*;
    // The user-scope chat reads the installation the same way.
    let principal = match auth.operation() {
        GetUserInstalledAppChat => auth.principal_for(&[GetUserInstalledAppChat])?,
        _ => path.caller(auth, [GetUserInstalledApp, GetChatInstalledApp, GetTeamInstalledApp])?,
    };
    let (scope, found) = resolve(store, principal, path, Some(installation_id)).await?;
    let found = found.ok_or_else(|| installation_not_found(installation_id))?;
    let reacher = Reacher::new(store, auth, &scope).await?;
    // A foreign installation is invisible to a Self/Selected caller: 404, not 403 (spec 5.2).
    if !reacher.reaches(reacher.facts(&found.app, found.definition())) {
        return Err(installation_not_found(installation_id));
    }
    Ok(found)
}

/// The user-scope chat (spec 4.1 "Get chat"): the 1:1 chat between the user and the app's bot.
pub async fn get_installed_app_chat(
    store: &dyn Store,
    auth: &Authorized,
    path: &ScopePath,
    installation_id: &str,
) -> CoreResult<AppChat> {
    let principal = auth.principal_for(&[Operation::GetUserInstalledAppChat])?;
    let found = get_installed_app(store, auth, path, installation_id).await?;
    let bot = found.definition().and_then(|d| d.bot_id.clone()).ok_or_else(|| {
        CoreError::NotFound(format!(
            "The app installation '{installation_id}' has no chat: the app has no bot."
        ))
    })?;
    Ok(AppChat {
        id: format!("19:{bot}_{}@unq.gbl.spaces", found.installation.scope.id),
        tenant_id: principal.tenant_id.clone(),
    })
}

/// Spec 5.4: what `consentedPermissionSet` must be for `required`, and what is stored.
/// Returns the set to store and whether application RSC consent is being granted.
pub fn resolve_consent(
    required: &[ResourceSpecificPermission],
    given: Option<&[ResourceSpecificPermission]>,
) -> CoreResult<(Option<Vec<ResourceSpecificPermission>>, bool)> {
    let req: BTreeSet<&ResourceSpecificPermission> = required.iter().collect();
    let needs_app_consent =
        required.iter().any(|p| p.permission_type == PermissionType::Application);
    let describe = |set: &BTreeSet<&ResourceSpecificPermission>| {
        if set.is_empty() {
            "none".to_string()
        } else {
            set.iter()
                .map(|p| format!("{} ({})", p.permission_value, p.permission_type.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    match given {
        None if needs_app_consent => Err(CoreError::BadRequest(format!(
            "The app requires consent to resource-specific application permissions; consentedPermissionSet must list exactly: {}.",
            describe(&req)
        ))),
        None if required.is_empty() => Ok((None, false)),
        None => Ok((Some(canonical(required)), false)),
        Some(given) => {
            let got: BTreeSet<&ResourceSpecificPermission> = given.iter().collect();
            if required.is_empty() {
                if got.is_empty() {
                    return Ok((None, false));
                }
                return Err(CoreError::BadRequest(
                    "consentedPermissionSet must be empty: the app requires no resource-specific permissions.".into(),
                ));
            }
            if got != req {
                return Err(CoreError::BadRequest(format!(
                    "consentedPermissionSet does not match the resource-specific permissions the app definition requires. Required: {}. Given: {}.",
                    describe(&req),
                    describe(&got)
                )));
            }
            Ok((Some(canonical(required)), needs_app_consent))
        }
    }
}

fn canonical(set: &[ResourceSpecificPermission]) -> Vec<ResourceSpecificPermission> {
    let unique: BTreeSet<ResourceSpecificPermission> = set.iter().cloned().collect();
    // Keep the definition's order for display; drop duplicates.
    let mut seen = BTreeSet::new();
    set.iter().filter(|p| unique.contains(p) && seen.insert((*p).clone())).cloned().collect()
}

/// A user may consent only where the tenant's `teamsAppSettings` let users consent (spec 5.4
/// rule 4): personal scope and chats have switches; application tokens are not users.
async fn check_user_consent_allowed(
    store: &dyn Store,
    principal: &Principal,
    kind: ScopeKind,
) -> CoreResult<()> {
    if !principal.is_delegated() {
        return Ok(());
    }
    let settings = store.tenant_settings(&principal.tenant_id).await?;
    let (allowed, switch) = match kind {
        ScopeKind::User => (
            settings.is_user_personal_scope_resource_specific_consent_enabled,
            "isUserPersonalScopeResourceSpecificConsentEnabled",
        ),
        ScopeKind::Chat => (
            settings.is_chat_resource_specific_consent_enabled,
            "isChatResourceSpecificConsentEnabled",
        ),
        ScopeKind::Team => (true, ""),
    };
    if allowed {
        return Ok(());
    }
    Err(crate::error::denied(
        format!(
            "User consent to resource-specific permissions is turned off for this tenant (teamsAppSettings.{switch} is false); an application token with a consent permission, or an admin changing the setting, is needed."
        ),
        "tenant consent settings (teamsAppSettings)",
        Vec::new(),
        &principal.permissions,
    ))
}

fn consent_refusal(reacher: &Reacher<'_>, facts: TargetFacts, app_id: &str) -> CoreError {
    let principal = reacher.principal;
    crate::error::denied(
        format!(
            "The app '{app_id}' requires consent to resource-specific application permissions, which the permissions on the request cannot grant. Use a ReadWriteAndConsent, ReadWriteAndConsentSelf (own app) or ManageSelected (selected apps) permission. Permissions on the request '{}'",
            principal.permissions.join(", ")
        ),
        "consent (the app's definition requires application RSC permissions)",
        reacher.access.consenting(principal, facts),
        &principal.permissions,
    )
}

fn scope_word(kind: ScopeKind) -> &'static str {
    match kind {
        ScopeKind::User => "personal",
        ScopeKind::Chat => "groupChat",
        ScopeKind::Team => "team",
    }
}

pub async fn install_app(
    store: &dyn Store,
    auth: &Authorized,
    path: &ScopePath,
    app_id: &str,
    consented: Option<&[ResourceSpecificPermission]>,
) -> CoreResult<InstalledApp> {
    use Operation::*;
    let principal = path.caller(auth, [InstallAppForUser, InstallAppInChat, InstallAppInTeam])?;
    let scope = resolve_scope(store, principal, path).await?;
    let tenant = &principal.tenant_id;
    let app = store.get_app(tenant, app_id).await?.ok_or_else(|| app_not_found(app_id))?;
    let reacher = Reacher::new(store, auth, &scope).await?;
    let facts = reacher.facts(&app, None);
    if !reacher.reaches(facts) {
        return Err(reacher.refusal(&app));
    }
    let def = app.current().cloned().ok_or_else(|| {
        CoreError::BadRequest(format!(
            "The Teams app '{app_id}' has no published definition and cannot be installed."
        ))
    })?;
    if !def.allowed_scopes.allows(scope.kind) {
        return Err(CoreError::BadRequest(format!(
            "The Teams app '{app_id}' cannot be installed in the {} scope; its manifest allows: {}.",
            scope_word(scope.kind),
            def.allowed_scopes.to_flags()
        )));
    }
    let (stored, needs_consent) = resolve_consent(&def.required_permissions, consented)?;
    if needs_consent && !reacher.access.may_consent(facts) {
        return Err(consent_refusal(&reacher, facts, app_id));
    }
    if needs_consent {
        check_user_consent_allowed(store, principal, scope.kind).await?;
    }
    let installation = Installation {
        tenant_id: tenant.clone(),
        scope: scope.clone(),
        app_id: app.app.id.clone(),
        version: def.version.clone(),
        consented: stored,
    };
    match store.create_installation(&installation).await {
        Ok(()) => {}
        Err(StoreError::Conflict("installation")) => {
            return Err(CoreError::Conflict(format!(
                "The Teams app '{app_id}' is already installed in this {}.",
                scope.kind.as_str()
            )))
        }
        Err(StoreError::Conflict("definition")) => return Err(app_not_found(app_id)),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(tenant, scope = scope.kind.as_str(), scope_id = %scope.id, app_id,
        version = %def.version, caller = %principal.app_id, "installed app");
    Ok(InstalledApp { installation, app })
}

pub async fn upgrade_app(
    store: &dyn Store,
    auth: &Authorized,
    path: &ScopePath,
    installation_id: &str,
    consented: Option<&[ResourceSpecificPermission]>,
) -> CoreResult<Upgraded> {
    use Operation::*;
    let principal = path.caller(auth, [UpgradeAppForUser, UpgradeAppInChat, UpgradeAppInTeam])?;
    let (scope, found) = resolve(store, principal, path, Some(installation_id)).await?;
    let found = found.ok_or_else(|| installation_not_found(installation_id))?;
    let tenant = &principal.tenant_id;
    let reacher = Reacher::new(store, auth, &scope).await?;
    let facts = reacher.facts(&found.app, found.definition());
    if !reacher.reaches(facts) {
        return Err(reacher.refusal(&found.app));
    }
    let target = found.app.current().cloned().ok_or_else(|| {
        CoreError::BadRequest(format!(
            "The Teams app '{}' has no published definition to upgrade to.",
            found.app.app.id
        ))
    })?;
    let (stored, needs_consent) = resolve_consent(&target.required_permissions, consented)?;
    if needs_consent && !reacher.access.may_consent(facts) {
        return Err(consent_refusal(&reacher, facts, &found.app.app.id));
    }
    if needs_consent {
        check_user_consent_allowed(store, principal, scope.kind).await?;
    }
    if crate::version::compare(&target.version, &found.installation.version)
        != std::cmp::Ordering::Greater
    {
        return Ok(Upgraded::AlreadyCurrent);
    }
    debug_assert_eq!(target.publishing_state, PublishingState::Published);
    let outcome = store
        .upgrade_installation(tenant, &scope, &found.app.app.id, &target.version, stored.as_deref())
        .await?;
    match outcome {
        UpgradeOutcome::Upgraded => {
            tracing::info!(tenant, scope = scope.kind.as_str(), scope_id = %scope.id,
                app_id = %found.app.app.id, from = %found.installation.version, to = %target.version,
                caller = %principal.app_id, "upgraded app");
            Ok(Upgraded::Moved)
        }
        // Someone else upgraded it meanwhile: the installation is at least this new.
        UpgradeOutcome::NotNewer => Ok(Upgraded::AlreadyCurrent),
        UpgradeOutcome::NotFound => Err(installation_not_found(installation_id)),
        UpgradeOutcome::TargetMissing => Err(CoreError::Conflict(format!(
            "The definition {} of the Teams app '{}' changed while upgrading; retry.",
            target.version, found.app.app.id
        ))),
    }
}

pub async fn uninstall_app(
    store: &dyn Store,
    auth: &Authorized,
    path: &ScopePath,
    installation_id: &str,
) -> CoreResult<()> {
    use Operation::*;
    let principal =
        path.caller(auth, [UninstallAppForUser, UninstallAppInChat, UninstallAppInTeam])?;
    let (scope, found) = resolve(store, principal, path, Some(installation_id)).await?;
    let found = found.ok_or_else(|| installation_not_found(installation_id))?;
    let tenant = &principal.tenant_id;
    let reacher = Reacher::new(store, auth, &scope).await?;
    if !reacher.reaches(reacher.facts(&found.app, found.definition())) {
        return Err(reacher.refusal(&found.app));
    }
    if !store.delete_installation(tenant, &scope, &found.app.app.id).await? {
        return Err(installation_not_found(installation_id));
    }
    tracing::info!(tenant, scope = scope.kind.as_str(), scope_id = %scope.id,
        app_id = %found.app.app.id, caller = %principal.app_id, "uninstalled app");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str, t: PermissionType) -> ResourceSpecificPermission {
        ResourceSpecificPermission { permission_value: v.into(), permission_type: t }
    }

    #[test]
    fn consent_rules_of_section_5_4() {
        use PermissionType::*;
        // 1. nothing required
        assert_eq!(resolve_consent(&[], None).unwrap(), (None, false));
        assert_eq!(resolve_consent(&[], Some(&[])).unwrap(), (None, false));
        assert!(resolve_consent(&[], Some(&[p("X.Chat", Application)])).is_err());
        // 2. delegated only: may omit, stored = required
        let req = [p("ChatMember.Read.Chat", Delegated)];
        assert_eq!(resolve_consent(&req, None).unwrap(), (Some(req.to_vec()), false));
        assert!(resolve_consent(&req, Some(&[p("Other.Chat", Delegated)])).is_err());
        // 3. application: exact set required, order and duplicates ignored
        let req = [p("A.Group", Application), p("B.Group", Delegated)];
        assert!(resolve_consent(&req, None).is_err());
        assert!(resolve_consent(&req, Some(&[p("A.Group", Application)])).is_err());
        let given = [p("B.Group", Delegated), p("A.Group", Application), p("A.Group", Application)];
        assert_eq!(resolve_consent(&req, Some(&given)).unwrap(), (Some(req.to_vec()), true));
        // permissionValue is compared exactly
        assert!(resolve_consent(&req, Some(&[p("a.group", Application), p("B.Group", Delegated)]))
            .is_err());
    }
}

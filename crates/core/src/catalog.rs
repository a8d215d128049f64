//! Catalog use cases (spec section 3): list/get apps and definitions, publish, update,
//! review, delete, get bot. Each checks permissions first (spec 5.7), then resources, then
//! the body, then state.

use chrono::{DateTime, Utc};

use crate::error::{CoreError, CoreResult};
use crate::ids::{self, parse_definition_id};
use crate::manifest::{self, AppPackage};
use crate::model::{
    AppDefinition, CatalogApp, DefinitionIcon, DistributionMethod, IconKind, PublishingState,
    TeamsApp,
};
use crate::permissions::{Authorized, Operation};
use crate::principal::Principal;
use crate::store::{Store, StoreError, Transition};
use crate::version;

/// Definitions a caller may see: admins and application tokens see every state; other users see
/// published definitions and their own submissions (spec 3.1 visibility).
fn visible(principal: &Principal, def: &AppDefinition) -> bool {
    if principal.is_admin || !principal.is_delegated() {
        return true;
    }
    def.publishing_state == PublishingState::Published
        || def.created_by.as_deref() == principal.user_id()
}

fn restrict(principal: &Principal, mut app: CatalogApp) -> Option<CatalogApp> {
    app.definitions.retain(|d| visible(principal, d));
    (!app.definitions.is_empty()).then_some(app)
}

fn app_not_found(app_id: &str) -> CoreError {
    CoreError::NotFound(format!("The Teams app '{app_id}' was not found in the app catalog."))
}

fn definition_not_found(def_id: &str) -> CoreError {
    CoreError::NotFound(format!("The app definition '{def_id}' was not found."))
}

fn require_admin(principal: &Principal, what: &str) -> CoreResult<()> {
    if principal.is_admin {
        return Ok(());
    }
    Err(crate::error::denied(
        format!("Only a Teams Service Administrator or Global Administrator can {what}."),
        "admin (the signed-in user must be a Teams Service or Global Administrator)",
        Vec::new(),
        &principal.permissions,
    ))
}

pub async fn list_apps(store: &dyn Store, auth: &Authorized) -> CoreResult<Vec<CatalogApp>> {
    let principal = auth.principal_for(&[Operation::ListTeamsApps])?;
    let apps = store.list_apps(&principal.tenant_id).await?;
    // Sideloaded apps show in installation expansions, not in the catalog list (spec 3.1 [U]).
    Ok(apps
        .into_iter()
        .filter(|a| a.app.distribution_method != DistributionMethod::Sideloaded)
        .filter_map(|a| restrict(principal, a))
        .collect())
}

/// Get app, list definitions, get definition and get bot share this lookup.
pub async fn get_app(store: &dyn Store, auth: &Authorized, app_id: &str) -> CoreResult<CatalogApp> {
    use Operation::*;
    let principal = auth.principal_for(&[
        GetTeamsApp,
        ListAppDefinitions,
        GetAppDefinition,
        GetTeamworkBot,
        GetTeamsAppIcon,
        GetTeamworkHostedContent,
        GetTeamworkHostedContentBytes,
    ])?;
    let app =
        store.get_app(&principal.tenant_id, app_id).await?.ok_or_else(|| app_not_found(app_id))?;
    restrict(principal, app).ok_or_else(|| app_not_found(app_id))
}

/// Resolves a definition id within an app; the state part of a 3-part id must be current.
pub fn find_definition<'a>(app: &'a CatalogApp, def_id: &str) -> CoreResult<&'a AppDefinition> {
    let key = parse_definition_id(def_id).ok_or_else(|| definition_not_found(def_id))?;
    if key.app_id != app.app.id {
        return Err(definition_not_found(def_id));
    }
    let def = app.definition(&key.version).ok_or_else(|| definition_not_found(def_id))?;
    if key.state.is_some_and(|s| s != def.publishing_state) {
        return Err(definition_not_found(def_id));
    }
    Ok(def)
}

pub async fn get_definition(
    store: &dyn Store,
    auth: &Authorized,
    app_id: &str,
    def_id: &str,
) -> CoreResult<(CatalogApp, AppDefinition)> {
    let app = get_app(store, auth, app_id).await?;
    let def = find_definition(&app, def_id)?.clone();
    Ok((app, def))
}

pub async fn get_bot(
    store: &dyn Store,
    auth: &Authorized,
    app_id: &str,
    def_id: &str,
) -> CoreResult<String> {
    auth.principal_for(&[Operation::GetTeamworkBot])?;
    let (_, def) = get_definition(store, auth, app_id, def_id).await?;
    def.bot_id
        .ok_or_else(|| CoreError::NotFound(format!("The app definition '{def_id}' has no bot.")))
}

/// The definition an icon operation names (beta, lifecycle spec 5) and the icon file its
/// package had: none for store apps (their icons are on Microsoft's CDN) and for definitions
/// that came without a package (tenant fixtures).
pub async fn get_icon(
    store: &dyn Store,
    auth: &Authorized,
    app_id: &str,
    def_id: &str,
    kind: IconKind,
) -> CoreResult<(CatalogApp, AppDefinition, Option<DefinitionIcon>)> {
    use Operation::*;
    let principal = auth.principal_for(&[
        GetTeamsAppIcon,
        GetTeamworkHostedContent,
        GetTeamworkHostedContentBytes,
    ])?;
    let (app, def) = get_definition(store, auth, app_id, def_id).await?;
    let icon = match app.app.distribution_method {
        DistributionMethod::Store => None,
        _ => store.definition_icon(&principal.tenant_id, &app.app.id, &def.version, kind).await?,
    };
    Ok((app, def, icon))
}

/// A new etag: opaque, changes on every write (`@odata.etag` is a quoted base64 string).
pub fn new_etag() -> String {
    etag_of(uuid::Uuid::new_v4().as_bytes())
}

/// The etag shape Graph uses, of the given bytes (fixtures pass stable ones so a re-seed keeps
/// them).
pub fn etag_of(bytes: &[u8]) -> String {
    use base64::Engine;
    let raw = format!("\"{}\"", base64::engine::general_purpose::STANDARD.encode(bytes));
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn definition_from(
    app_id: &str,
    package: &AppPackage,
    state: PublishingState,
    principal: &Principal,
    now: DateTime<Utc>,
) -> AppDefinition {
    let c = &package.content;
    AppDefinition {
        app_id: app_id.to_string(),
        version: package.version.clone(),
        publishing_state: state,
        display_name: c.display_name.clone(),
        short_description: c.short_description.clone(),
        description: c.description.clone(),
        last_modified: Some(now),
        created_by: principal.user_id().map(str::to_string),
        client_app_id: c.client_app_id.clone(),
        required_permissions: c.required_permissions.clone(),
        bot_id: c.bot_id.clone(),
        allowed_scopes: c.allowed_scopes,
        etag: new_etag(),
    }
}

/// Publishing state for a publish or update: non-admins must ask for review (spec 3.3).
fn state_for(principal: &Principal, requires_review: bool) -> CoreResult<PublishingState> {
    if requires_review {
        Ok(PublishingState::Submitted)
    } else if principal.is_admin {
        Ok(PublishingState::Published)
    } else {
        Err(crate::error::denied(
            "Only a Teams Service Administrator or Global Administrator can publish without review; \
             set requiresReview=true to submit the app for review.",
            "admin (non-admins must set requiresReview=true)",
            Vec::new(),
            &principal.permissions,
        ))
    }
}

pub struct PublishOptions {
    pub requires_review: bool,
    /// Refuse a second app with the same Entra app id (spec 5.2, configurable).
    pub unique_client_app_id: bool,
}

pub async fn publish_app(
    store: &dyn Store,
    auth: &Authorized,
    package: &[u8],
    options: PublishOptions,
    now: DateTime<Utc>,
) -> CoreResult<CatalogApp> {
    let principal = auth.principal_for(&[Operation::PublishTeamsApp])?;
    let state = state_for(principal, options.requires_review)?;
    let parsed = manifest::parse_package(package)?;
    // After validation, so a bad package is refused as before.
    let icons = manifest::package_icons(package)?;
    let package = parsed;
    let tenant = &principal.tenant_id;
    if store.get_app_by_external_id(tenant, &package.manifest_id).await?.is_some() {
        return Err(duplicate_manifest_id(&package.manifest_id));
    }
    if options.unique_client_app_id {
        if let Some(client) = &package.content.client_app_id {
            check_client_app_id_unused(store, tenant, client, None).await?;
        }
    }
    let app = TeamsApp {
        tenant_id: tenant.clone(),
        id: uuid::Uuid::new_v4().to_string(),
        external_id: Some(package.manifest_id.clone()),
        distribution_method: DistributionMethod::Organization,
    };
    let def = definition_from(&app.id, &package, state, principal, now);
    match store.create_app(&app, &def).await {
        Ok(()) => {}
        Err(StoreError::Conflict("external_id")) => {
            return Err(duplicate_manifest_id(&package.manifest_id))
        }
        Err(e) => return Err(e.into()),
    }
    store.put_definition_icons(tenant, &app.id, &def.version, &icons).await?;
    tracing::info!(tenant, app_id = %app.id, manifest_id = %package.manifest_id,
        version = %def.version, state = def.publishing_state.as_str(), "published app");
    Ok(CatalogApp { app, definitions: vec![def] })
}

fn duplicate_manifest_id(manifest_id: &str) -> CoreError {
    CoreError::Conflict(format!(
        "An app with the manifest id '{manifest_id}' already exists in the tenant app catalog."
    ))
}

async fn check_client_app_id_unused(
    store: &dyn Store,
    tenant: &str,
    client_app_id: &str,
    except_app: Option<&str>,
) -> CoreResult<()> {
    for app in store.list_apps(tenant).await? {
        if Some(app.app.id.as_str()) == except_app {
            continue;
        }
        let used = app.definitions.iter().any(|d| {
            d.publishing_state != PublishingState::Rejected
                && d.client_app_id.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(client_app_id))
        });
        if used {
            return Err(CoreError::Conflict(format!(
                "The Microsoft Entra app id '{client_app_id}' (webApplicationInfo.id) is already used by the Teams app '{}'. One Entra app maps to one Teams app.",
                app.app.id
            )));
        }
    }
    Ok(())
}

/// Update: a new definition (spec 3.4). Returns the definition and whether it was created in
/// review (201 with body) or published at once (204).
pub async fn update_app(
    store: &dyn Store,
    auth: &Authorized,
    app_id: &str,
    package: &[u8],
    options: PublishOptions,
    now: DateTime<Utc>,
) -> CoreResult<AppDefinition> {
    let principal = auth.principal_for(&[Operation::UpdateTeamsApp])?;
    let tenant = &principal.tenant_id;
    let app = store.get_app(tenant, app_id).await?.ok_or_else(|| app_not_found(app_id))?;
    if app.app.distribution_method != DistributionMethod::Organization {
        return Err(CoreError::BadRequest(format!(
            "Only apps with distributionMethod 'organization' can be updated; '{app_id}' is a {} app.",
            app.app.distribution_method.as_str()
        )));
    }
    let state = state_for(principal, options.requires_review)?;
    let parsed = manifest::parse_package(package)?;
    let icons = manifest::package_icons(package)?;
    let package = parsed;
    if !app.app.external_id.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&package.manifest_id))
    {
        return Err(CoreError::BadRequest(format!(
            "The manifest id '{}' does not match the app's manifest id '{}'. The manifest id must not change across updates.",
            package.manifest_id,
            app.app.external_id.as_deref().unwrap_or_default()
        )));
    }
    let highest = app
        .definitions
        .iter()
        .filter(|d| d.publishing_state != PublishingState::Rejected)
        .map(|d| d.version.as_str())
        .max_by(|a, b| version::compare(a, b));
    if let Some(highest) = highest {
        if version::compare(&package.version, highest) != std::cmp::Ordering::Greater {
            return Err(version_not_greater(&package.version, highest));
        }
    }
    if options.unique_client_app_id {
        if let Some(client) = &package.content.client_app_id {
            check_client_app_id_unused(store, tenant, client, Some(app_id)).await?;
        }
    }
    let def = definition_from(app_id, &package, state, principal, now);
    match store.add_definition(tenant, &def).await {
        Ok(()) => {}
        Err(StoreError::Conflict("version")) => {
            return Err(version_not_greater(&package.version, &package.version))
        }
        Err(StoreError::Conflict("app")) => return Err(app_not_found(app_id)),
        Err(e) => return Err(e.into()),
    }
    store.put_definition_icons(tenant, app_id, &def.version, &icons).await?;
    tracing::info!(tenant, app_id, version = %def.version, state = def.publishing_state.as_str(), "updated app");
    Ok(def)
}

fn version_not_greater(new: &str, current: &str) -> CoreError {
    let message = format!(
        "The manifest version '{new}' must be greater than the app's current version '{current}'."
    );
    CoreError::InvalidManifest(vec![teamsapps_wire::error::ErrorDetail {
        code: "VersionNotGreaterThanCurrent".into(),
        message,
        target: "version".into(),
    }])
}

/// Approve or reject a submitted definition (spec 3.5). The definition id changes with the state.
pub async fn review_definition(
    store: &dyn Store,
    auth: &Authorized,
    app_id: &str,
    def_id: &str,
    if_match: Option<&str>,
    new_state: PublishingState,
    now: DateTime<Utc>,
) -> CoreResult<(CatalogApp, AppDefinition)> {
    let principal = auth.principal_for(&[Operation::ReviewAppDefinition])?;
    require_admin(principal, "approve or reject app submissions")?;
    let tenant = &principal.tenant_id;
    let app = store.get_app(tenant, app_id).await?.ok_or_else(|| app_not_found(app_id))?;
    let def = find_definition(&app, def_id)?.clone();
    if new_state == PublishingState::Submitted {
        return Err(CoreError::BadRequest(
            "publishingState can only be set to 'published' or 'rejected'.".into(),
        ));
    }
    let outcome = store
        .transition_definition(
            tenant,
            app_id,
            &def.version,
            PublishingState::Submitted,
            new_state,
            if_match,
            &new_etag(),
            now,
        )
        .await?;
    match outcome {
        Transition::Done(updated) => {
            tracing::info!(tenant, app_id, version = %updated.version, state = new_state.as_str(), "reviewed definition");
            Ok((app, updated))
        }
        Transition::NotFound => Err(definition_not_found(def_id)),
        Transition::WrongState(s) => Err(CoreError::BadRequest(format!(
            "Only definitions in the 'submitted' state can be reviewed; this definition is '{}'.",
            s.as_str()
        ))),
        Transition::EtagMismatch => Err(CoreError::PreconditionFailed(
            "The If-Match value does not match the definition's current @odata.etag.".into(),
        )),
    }
}

pub async fn delete_app(store: &dyn Store, auth: &Authorized, app_id: &str) -> CoreResult<()> {
    let principal = auth.principal_for(&[Operation::DeleteTeamsApp])?;
    require_admin(principal, "delete apps from the tenant app catalog")?;
    let tenant = &principal.tenant_id;
    let app = store.get_app(tenant, app_id).await?.ok_or_else(|| app_not_found(app_id))?;
    if app.app.distribution_method != DistributionMethod::Organization {
        return Err(CoreError::BadRequest(format!(
            "Only apps with distributionMethod 'organization' can be deleted; '{app_id}' is a {} app.",
            app.app.distribution_method.as_str()
        )));
    }
    if !store.delete_app(tenant, app_id).await? {
        return Err(app_not_found(app_id));
    }
    tracing::info!(tenant, app_id, "deleted app and its installations");
    Ok(())
}

/// Cancels a submission (spec 3.6): only `submitted` definitions; `AppCatalog.Submit` without
/// admin rights only the caller's own.
pub async fn delete_definition(
    store: &dyn Store,
    auth: &Authorized,
    app_id: &str,
    def_id: &str,
) -> CoreResult<()> {
    let principal = auth.principal_for(&[Operation::DeleteAppDefinition])?;
    let tenant = &principal.tenant_id;
    let app = store.get_app(tenant, app_id).await?.ok_or_else(|| app_not_found(app_id))?;
    let def = find_definition(&app, def_id)?;
    if def.publishing_state != PublishingState::Submitted {
        return Err(CoreError::BadRequest(format!(
            "Only definitions in the 'submitted' state can be deleted; this definition is '{}'. Delete the app instead.",
            def.publishing_state.as_str()
        )));
    }
    let own = def.created_by.is_some() && def.created_by.as_deref() == principal.user_id();
    // Others' submissions need an admin holding more than AppCatalog.Submit (spec 3.6).
    let beyond_submit = auth.access().held().iter().any(|g| g.permission != "AppCatalog.Submit");
    let may_cancel = own || (principal.is_admin && beyond_submit);
    if !may_cancel {
        return Err(crate::error::denied(
            "AppCatalog.Submit cancels only the caller's own pending submissions; cancelling another user's needs an administrator with AppCatalog.ReadWrite.All.",
            "own submissions (AppCatalog.Submit)",
            vec!["AppCatalog.ReadWrite.All", "Directory.ReadWrite.All"],
            &principal.permissions,
        ));
    }
    // Cancelling the only definition of a never-published app removes the app, so its
    // manifest id is free again.
    let removed = if app.definitions.len() == 1 {
        store.delete_app(tenant, app_id).await?
    } else {
        store.delete_definition(tenant, app_id, &def.version, PublishingState::Submitted).await?
    };
    if !removed {
        return Err(definition_not_found(def_id));
    }
    tracing::info!(tenant, app_id, version = %def.version, "cancelled submission");
    Ok(())
}

/// The definition id as Graph shows it.
pub fn definition_id(app: &TeamsApp, def: &AppDefinition) -> String {
    ids::definition_id(&app.id, &def.version, def.publishing_state, app.distribution_method)
}

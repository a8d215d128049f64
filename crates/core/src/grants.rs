//! Resource-specific permission grants (lifecycle spec section 3): derived, never stored, from
//! the consented permission sets of the installations in a chat, team or user's personal scope,
//! so an install, upgrade or uninstall changes them in the same write.

use crate::error::CoreResult;
use crate::installations::{require_rsc_consented_here, resolve_scope, ScopePath};
use crate::model::PermissionType;
use crate::permissions::{Authorized, Operation};
use crate::store::Store;

/// One grant: a consented RSC permission of an installed app in the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionGrant {
    /// The Entra app id (`webApplicationInfo.id`) of the installed definition, if it has one.
    pub client_app_id: Option<String>,
    pub permission: String,
    pub permission_type: PermissionType,
}

/// `GET /chats/{id}/permissionGrants`, `/teams/{id}/…`, `/groups/{id}/…`, `/users/{id}/…`.
pub async fn list_permission_grants(
    store: &dyn Store,
    auth: &Authorized,
    path: &ScopePath,
) -> CoreResult<Vec<PermissionGrant>> {
    use Operation::*;
    let principal = auth.principal_for(&[
        ListChatPermissionGrants,
        ListTeamPermissionGrants,
        ListGroupPermissionGrants,
        ListUserPermissionGrants,
    ])?;
    let scope = resolve_scope(store, principal, path).await?;
    require_rsc_consented_here(store, auth, &scope).await?;
    let tenant = &principal.tenant_id;
    let installations = store.list_installations(tenant, &scope).await?;
    let ids: Vec<&str> = installations.iter().map(|i| i.app_id.as_str()).collect();
    let apps = if ids.is_empty() { Vec::new() } else { store.get_apps(tenant, &ids).await? };
    let mut out = Vec::new();
    for inst in &installations {
        let client_app_id = apps
            .iter()
            .find(|a| a.app.id == inst.app_id)
            .and_then(|a| a.definition(&inst.version))
            .and_then(|d| d.client_app_id.clone());
        for p in inst.consented.iter().flatten() {
            out.push(PermissionGrant {
                client_app_id: client_app_id.clone(),
                permission: p.permission_value.clone(),
                permission_type: p.permission_type,
            });
        }
    }
    Ok(out)
}

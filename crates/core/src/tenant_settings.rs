//! The tenant's `teamsAppSettings` (lifecycle spec section 4): read by anyone holding the read
//! permission, changed by Teams or Global administrators; the consent rules of the installation
//! use cases read the same record, so a change takes effect on the next install or upgrade.

use crate::error::{CoreError, CoreResult};
use crate::model::TenantSettings;
use crate::permissions::{Authorized, Operation};
use crate::store::Store;

/// A PATCH: the switches to change; `None` keeps a switch as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    pub allow_user_requests_for_app_access: Option<bool>,
    pub is_user_personal_scope_resource_specific_consent_enabled: Option<bool>,
    pub is_chat_resource_specific_consent_enabled: Option<bool>,
}

/// `GET /teamwork/teamsAppSettings`.
pub async fn get_teams_app_settings(
    store: &dyn Store,
    auth: &Authorized,
) -> CoreResult<TenantSettings> {
    let principal = auth.principal_for(&[Operation::GetTeamsAppSettings])?;
    Ok(store.tenant_settings(&principal.tenant_id).await?)
}

/// `PATCH /teamwork/teamsAppSettings`: only Teams and Global administrators (spec 4.3).
pub async fn update_teams_app_settings(
    store: &dyn Store,
    auth: &Authorized,
    patch: SettingsPatch,
) -> CoreResult<TenantSettings> {
    let principal = auth.principal_for(&[Operation::UpdateTeamsAppSettings])?;
    if !principal.is_admin {
        return Err(crate::error::denied(
            "Only a Teams Administrator or Global Administrator can change teamsAppSettings.",
            "admin (the signed-in user must be a Teams Service or Global Administrator)",
            Vec::new(),
            &principal.permissions,
        ));
    }
    let tenant = &principal.tenant_id;
    let mut settings = store.tenant_settings(tenant).await?;
    let SettingsPatch {
        allow_user_requests_for_app_access: allow,
        is_user_personal_scope_resource_specific_consent_enabled: personal,
        is_chat_resource_specific_consent_enabled: chat,
    } = patch;
    if let Some(v) = allow {
        settings.allow_user_requests_for_app_access = v;
    }
    if let Some(v) = personal {
        settings.is_user_personal_scope_resource_specific_consent_enabled = v;
    }
    if let Some(v) = chat {
        settings.is_chat_resource_specific_consent_enabled = v;
    }
    store.set_tenant_settings(tenant, &settings).await.map_err(CoreError::from)?;
    tracing::info!(tenant, ?settings, caller = %principal.app_id, "changed teamsAppSettings");
    Ok(settings)
}

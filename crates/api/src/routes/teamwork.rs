//! `/teamwork/teamsAppSettings` (lifecycle spec section 4): the tenant's consent switches.
//! Handlers are named after Graph's operations.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};
use teamsapps_core::model::TenantSettings;
use teamsapps_core::tenant_settings::{self, SettingsPatch};
use teamsapps_wire::metadata;
use teamsapps_wire::odata::ApiVersion;
use teamsapps_wire::query::ODataQuery;

use crate::error::{query_error, ApiError, ApiResult};
use crate::extract::{body_bytes, json_body, Auth, RawQuery};
use crate::response::{entity, json_response};
use crate::state::AppState;

fn view(tenant_id: &str, s: &TenantSettings) -> Value {
    json!({
        // One settings object per tenant: its id is the tenant's (differences.md).
        "id": tenant_id,
        "allowUserRequestsForAppAccess": s.allow_user_requests_for_app_access,
        "isUserPersonalScopeResourceSpecificConsentEnabled":
            s.is_user_personal_scope_resource_specific_consent_enabled,
        "isChatResourceSpecificConsentEnabled": s.is_chat_resource_specific_consent_enabled,
        "customAppSettings": null,
    })
}

/// GET /teamwork/teamsAppSettings: https://learn.microsoft.com/graph/api/teamsappsettings-get
pub async fn get_teams_app_settings(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::teams_app_settings(v);
    let query = ODataQuery::parse(&raw, ty, v).map_err(query_error)?;
    let settings = tenant_settings::get_teams_app_settings(s.store.as_ref(), &auth).await?;
    let shaped = query.shape(view(&auth.principal().tenant_id, &settings), ty, v);
    let context =
        v.context(&format!("teamwork/teamsAppSettings{}/$entity", query.context_suffix()));
    Ok(json_response(StatusCode::OK, entity(context, shaped)))
}

/// A switch's value: a JSON boolean, or `"true"`/`"false"` as the docs' examples send them.
fn switch(name: &str, value: &Value) -> ApiResult<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "The property '{name}' must be true or false; got {other}."
        ))),
    }
}

/// The PATCH body: a subset of the version's switches (`@odata.type` ignored).
fn patch_body(v: ApiVersion, value: Option<Value>) -> ApiResult<SettingsPatch> {
    let value = value.ok_or_else(|| {
        ApiError::bad_request(
            "The request body is missing; send the settings to change, e.g. {\"isUserPersonalScopeResourceSpecificConsentEnabled\": false}.",
        )
    })?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be a JSON object."))?;
    let ty = metadata::teams_app_settings(v);
    let mut patch = SettingsPatch::default();
    for (key, val) in obj {
        if key.eq_ignore_ascii_case("@odata.type") {
            continue;
        }
        let name = ty.property(key).filter(|p| *p != "id" && *p != "customAppSettings");
        let Some(name) = name else {
            return Err(ApiError::bad_request(format!(
                "The property '{key}' does not exist on type 'microsoft.graph.teamsAppSettings' or cannot be changed{}.",
                if v == ApiVersion::V1 { " in v1.0" } else { "" }
            )));
        };
        let value = Some(switch(name, val)?);
        match name {
            "allowUserRequestsForAppAccess" => patch.allow_user_requests_for_app_access = value,
            "isUserPersonalScopeResourceSpecificConsentEnabled" => {
                patch.is_user_personal_scope_resource_specific_consent_enabled = value
            }
            _ => patch.is_chat_resource_specific_consent_enabled = value,
        }
    }
    Ok(patch)
}

/// PATCH /teamwork/teamsAppSettings: https://learn.microsoft.com/graph/api/teamsappsettings-update
pub async fn update_teams_app_settings(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let body = body_bytes(body)?;
    let patch = patch_body(v, json_body(&headers, &body, s.config.max_json_bytes)?)?;
    tenant_settings::update_teams_app_settings(s.store.as_ref(), &auth, patch).await?;
    Ok(StatusCode::NO_CONTENT)
}

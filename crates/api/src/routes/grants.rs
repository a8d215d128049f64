//! `permissionGrants` of chats, teams, groups and users (lifecycle spec section 3): the RSC
//! permissions consented to installed apps, as Graph lists them. Handlers are named after
//! Graph's operations.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use base64::Engine;
use serde_json::{json, Value};
use teamsapps_core::grants::{self, PermissionGrant};
use teamsapps_core::installations::ScopePath;
use teamsapps_core::model::PermissionType;
use teamsapps_core::permissions::Authorized;
use teamsapps_wire::odata::ApiVersion;

use crate::error::ApiResult;
use crate::extract::Auth;
use crate::identity::{service_principal_id, GRAPH_APP_ID};
use crate::response::json_response;
use crate::state::AppState;

/// A grant as Graph shows it: `clientAppId` is the Entra app id, `clientId` its service
/// principal's id (differences.md), the id base64 of `{clientId}##{permission}##{type}`.
fn view(tenant_id: &str, g: &PermissionGrant) -> Value {
    let kind = match g.permission_type {
        PermissionType::Application => "Application",
        PermissionType::Delegated => "Delegated",
    };
    let client_id = g.client_app_id.as_deref().map(|a| service_principal_id(tenant_id, a));
    let id = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}##{}##{kind}",
        client_id.as_deref().unwrap_or_default(),
        g.permission
    ));
    json!({
        "id": id,
        "deletedDateTime": null,
        "clientId": client_id,
        "clientAppId": g.client_app_id,
        "resourceAppId": GRAPH_APP_ID,
        "permissionType": kind,
        "permission": g.permission,
    })
}

/// Query options are not supported on these lists (spec 3.2): all grants, unpaged.
async fn list(
    s: AppState,
    v: ApiVersion,
    auth: Authorized,
    path: ScopePath,
) -> ApiResult<Response> {
    let found = grants::list_permission_grants(s.store.as_ref(), &auth, &path).await?;
    let tenant = &auth.principal().tenant_id;
    let value: Vec<Value> = found.iter().map(|g| view(tenant, g)).collect();
    // The bare `#permissionGrants` context of every documented example.
    let body = json!({ "@odata.context": v.context("permissionGrants"), "value": value });
    Ok(json_response(StatusCode::OK, body))
}

/// GET /chats/{id}/permissionGrants: https://learn.microsoft.com/graph/api/chat-list-permissiongrants
pub async fn list_chat_permission_grants(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path(chat): Path<String>,
) -> ApiResult<Response> {
    list(s, v, auth, ScopePath::Chat(chat)).await
}

/// GET /teams/{id}/permissionGrants: https://learn.microsoft.com/graph/api/team-list-permissiongrants
pub async fn list_team_permission_grants(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path(team): Path<String>,
) -> ApiResult<Response> {
    list(s, v, auth, ScopePath::Team(team)).await
}

/// GET /groups/{id}/permissionGrants: the team's grants (the team is the group).
pub async fn list_group_permission_grants(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path(group): Path<String>,
) -> ApiResult<Response> {
    list(s, v, auth, ScopePath::Team(group)).await
}

/// GET /users/{id}/permissionGrants: https://learn.microsoft.com/graph/api/user-list-permissiongrants
pub async fn list_user_permission_grants(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    list(s, v, auth, ScopePath::User(user)).await
}

//! Installations in the user's personal scope, chats and teams (spec section 4). Each Graph
//! operation has its own handler, named after it; the three scopes share the bodies below
//! (`list`, `get_one`, `install`, `upgrade`, `uninstall`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use teamsapps_core::installations::{self, ScopePath, Upgraded};
use teamsapps_core::permissions::Authorized;
use teamsapps_wire::metadata::{self, EntityType};
use teamsapps_wire::odata::ApiVersion;
use teamsapps_wire::query::ODataQuery;

use crate::error::{query_error, ApiError, ApiResult};
use crate::extract::{body_bytes, install_body, json_body, upgrade_body, Auth, RawQuery};
use crate::response::{by_id, entity, json_response, Page};
use crate::state::{AppState, UpgradeWhenCurrent};
use crate::views;

/// Chat ids in `@odata.context` are percent-encoded (`19%3A…%40thread.v2`).
const CONTEXT_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// What differs between the three scopes.
struct Scope {
    path: ScopePath,
    /// `users('…')/teamwork/installedApps` and the like.
    context: String,
    ty: fn(ApiVersion) -> &'static EntityType,
    /// Team lists always carry `@odata.count` (spec 4.3).
    always_count: bool,
    /// 201 for user and chat installs, 200 for teams (documented).
    install_status: StatusCode,
}

fn user(id: String) -> Scope {
    Scope {
        context: format!("users('{id}')/teamwork/installedApps"),
        path: ScopePath::User(id),
        ty: metadata::user_installation,
        always_count: false,
        install_status: StatusCode::CREATED,
    }
}

fn chat(id: String) -> Scope {
    Scope {
        context: format!("chats('{}')/installedApps", utf8_percent_encode(&id, CONTEXT_ENCODE)),
        path: ScopePath::Chat(id),
        ty: metadata::installation,
        always_count: false,
        install_status: StatusCode::CREATED,
    }
}

fn team(id: String) -> Scope {
    Scope {
        context: format!("teams('{id}')/installedApps"),
        path: ScopePath::Team(id),
        ty: metadata::installation,
        always_count: true,
        install_status: StatusCode::OK,
    }
}

/// One authorized call: the node, the API version and the caller.
struct Call {
    s: AppState,
    v: ApiVersion,
    auth: Authorized,
}

async fn list(
    c: Call,
    scope: Scope,
    headers: HeaderMap,
    path: &str,
    raw: &str,
) -> ApiResult<Response> {
    let ty = (scope.ty)(c.v);
    let query = ODataQuery::parse(raw, ty, c.v).map_err(query_error)?;
    let found =
        installations::list_installed_apps(c.s.store.as_ref(), &c.auth, &scope.path).await?;
    let navs = views::Navigations::of(&query);
    let items = found
        .iter()
        .map(|i| (i.installation.app_id.clone(), views::installation_with(i, c.v, navs)))
        .filter(|(_, full)| query.filter.as_ref().is_none_or(|f| f.matches(full)))
        .map(|(app_id, full)| (app_id, query.shape(full, ty, c.v)))
        .collect();
    Page {
        context: c.v.context(&format!("{}{}", scope.context, query.shallow_context_suffix())),
        query: &query,
        headers: &headers,
        path,
        raw_query: raw,
        always_count: scope.always_count,
        // One installation per app in a scope.
        order: by_id,
        default_top: None,
    }
    .render(items)
}

async fn get_one(c: Call, scope: Scope, installation: &str, raw: &str) -> ApiResult<Response> {
    let ty = (scope.ty)(c.v);
    let query = ODataQuery::parse(raw, ty, c.v).map_err(query_error)?;
    let found =
        installations::get_installed_app(c.s.store.as_ref(), &c.auth, &scope.path, installation)
            .await?;
    let full = views::installation_with(&found, c.v, views::Navigations::of(&query));
    let shaped = query.shape(full, ty, c.v);
    let context =
        c.v.context(&format!("{}{}/$entity", scope.context, query.shallow_context_suffix()));
    Ok(json_response(StatusCode::OK, entity(context, shaped)))
}

async fn install(
    c: Call,
    scope: Scope,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_bytes(body)?;
    let parsed = install_body(json_body(&headers, &body, c.s.config.max_json_bytes)?)?;
    installations::install_app(
        c.s.store.as_ref(),
        &c.auth,
        &scope.path,
        &parsed.app_id,
        parsed.consented.as_deref(),
    )
    .await?;
    Ok(scope.install_status.into_response())
}

async fn upgrade(
    c: Call,
    scope: Scope,
    installation: &str,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let body = body_bytes(body)?;
    let consented = upgrade_body(json_body(&headers, &body, c.s.config.max_json_bytes)?)?;
    let outcome = installations::upgrade_app(
        c.s.store.as_ref(),
        &c.auth,
        &scope.path,
        installation,
        consented.as_deref(),
    )
    .await?;
    match (outcome, c.s.config.upgrade_when_current) {
        (Upgraded::AlreadyCurrent, UpgradeWhenCurrent::BadRequest) => Err(ApiError::bad_request(
            "The app is already at the newest published version; there is nothing to upgrade to.",
        )),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

async fn uninstall(c: Call, scope: Scope, installation: &str) -> ApiResult<StatusCode> {
    installations::uninstall_app(c.s.store.as_ref(), &c.auth, &scope.path, installation).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /users/{id}/teamwork/installedApps: https://learn.microsoft.com/graph/api/userteamwork-list-installedapps
pub async fn list_user_installed_apps(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    list(Call { s, v, auth }, user(id), headers, uri.path(), &raw).await
}

/// GET /users/{id}/teamwork/installedApps/{id}
pub async fn get_user_installed_app(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path((id, installation)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    get_one(Call { s, v, auth }, user(id), &installation, &raw).await
}

/// POST /users/{id}/teamwork/installedApps
pub async fn install_app_for_user(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    install(Call { s, v, auth }, user(id), headers, body).await
}

/// POST /users/{id}/teamwork/installedApps/{id}/upgrade: https://learn.microsoft.com/graph/api/userteamwork-teamsappinstallation-upgrade
pub async fn upgrade_app_for_user(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    Path((id, installation)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    upgrade(Call { s, v, auth }, user(id), &installation, headers, body).await
}

/// DELETE /users/{id}/teamwork/installedApps/{id}
pub async fn uninstall_app_for_user(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path((id, installation)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    uninstall(Call { s, v, auth }, user(id), &installation).await
}

/// GET /chats/{id}/installedApps: https://learn.microsoft.com/graph/api/chat-list-installedapps
pub async fn list_chat_installed_apps(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    list(Call { s, v, auth }, chat(id), headers, uri.path(), &raw).await
}

/// GET /chats/{id}/installedApps/{id}
pub async fn get_chat_installed_app(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path((id, installation)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    get_one(Call { s, v, auth }, chat(id), &installation, &raw).await
}

/// POST /chats/{id}/installedApps
pub async fn install_app_in_chat(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    install(Call { s, v, auth }, chat(id), headers, body).await
}

/// POST /chats/{id}/installedApps/{id}/upgrade: https://learn.microsoft.com/graph/api/chat-teamsappinstallation-upgrade
pub async fn upgrade_app_in_chat(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    Path((id, installation)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    upgrade(Call { s, v, auth }, chat(id), &installation, headers, body).await
}

/// DELETE /chats/{id}/installedApps/{id}
pub async fn uninstall_app_in_chat(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path((id, installation)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    uninstall(Call { s, v, auth }, chat(id), &installation).await
}

/// GET /teams/{id}/installedApps: https://learn.microsoft.com/graph/api/team-list-installedapps
pub async fn list_team_installed_apps(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    list(Call { s, v, auth }, team(id), headers, uri.path(), &raw).await
}

/// GET /teams/{id}/installedApps/{id}
pub async fn get_team_installed_app(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path((id, installation)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    get_one(Call { s, v, auth }, team(id), &installation, &raw).await
}

/// POST /teams/{id}/installedApps
pub async fn install_app_in_team(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    install(Call { s, v, auth }, team(id), headers, body).await
}

/// POST /teams/{id}/installedApps/{id}/upgrade: https://learn.microsoft.com/graph/api/team-teamsappinstallation-upgrade
pub async fn upgrade_app_in_team(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    Path((id, installation)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    upgrade(Call { s, v, auth }, team(id), &installation, headers, body).await
}

/// DELETE /teams/{id}/installedApps/{id}
pub async fn uninstall_app_in_team(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path((id, installation)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    uninstall(Call { s, v, auth }, team(id), &installation).await
}

/// GET /users/{id}/teamwork/installedApps/{id}/chat —
/// https://learn.microsoft.com/graph/api/userscopeteamsappinstallation-get-chat
pub async fn get_user_installed_app_chat(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path((id, installation)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::chat(v);
    let query = ODataQuery::parse(&raw, ty, v).map_err(query_error)?;
    let chat = installations::get_installed_app_chat(
        s.store.as_ref(),
        &auth,
        &ScopePath::User(id),
        &installation,
    )
    .await?;
    let shaped = query.shape(views::app_chat(&chat), ty, v);
    Ok(json_response(
        StatusCode::OK,
        entity(v.context(&format!("chats{}/$entity", query.context_suffix())), shaped),
    ))
}

//! Installations in the user's personal scope, chats and teams (spec section 4). Each Graph
//! operation has its own handler, named after it; the three scopes share the bodies below
//! (`list`, `get_one`, `install`, `upgrade`, `uninstall`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use std::collections::HashMap;

use axum::extract::{FromRequestParts, MatchedPath, OriginalUri, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use teamsapps_core::installations::{self, ScopePath, Upgraded};
use teamsapps_core::model::ScopeKind;
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

/// `prefix` is the navigation the request came through (`users('…')/` for the user aliases).
fn chat(prefix: &str, id: String) -> Scope {
    Scope {
        context: format!(
            "{prefix}chats('{}')/installedApps",
            utf8_percent_encode(&id, CONTEXT_ENCODE)
        ),
        path: ScopePath::Chat(id),
        ty: metadata::installation,
        always_count: false,
        install_status: StatusCode::CREATED,
    }
}

/// `set` is `teams('…')`, `groups('…')/team` or `users('…')/joinedTeams('…')`.
fn team(set: String, id: String) -> Scope {
    Scope {
        context: format!("{set}/installedApps"),
        path: ScopePath::Team(id),
        ty: metadata::installation,
        always_count: true,
        install_status: StatusCode::OK,
    }
}

/// The path parameters of an installation route, canonical or one of Graph's navigation
/// aliases (lifecycle spec 2), and the route as declared in the operation table.
pub struct Nav {
    params: HashMap<String, String>,
    route: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Nav {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let route = parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_string());
        Ok(Nav { params, route: route.unwrap_or_default() })
    }
}

impl Nav {
    fn param(&self, name: &str) -> String {
        self.params.get(name).cloned().unwrap_or_default()
    }

    fn installation(&self) -> String {
        self.param("installation")
    }

    /// The user the path goes through: `{user}`, or the signed-in user for `/me/…` (400 for
    /// an application token, after the operation's permissions were checked).
    fn path_user(&self, auth: &Authorized) -> ApiResult<Option<String>> {
        if let Some(user) = self.params.get("user") {
            Ok(Some(user.clone()))
        } else if self.route.contains("/me/") {
            Ok(Some(installations::signed_in_user(auth)?))
        } else {
            Ok(None)
        }
    }

    /// The scope this route leads to. An alias through a user (`/users/{user}/chats/{chat}`,
    /// `…/joinedTeams/{team}`, their `/me` forms) also needs that user to be in the chat or
    /// team (lifecycle spec 2.2), checked here.
    async fn scope(&self, c: &Call, kind: ScopeKind) -> ApiResult<Scope> {
        let through = self.path_user(&c.auth)?;
        let scope = match kind {
            ScopeKind::User => return Ok(user(through.unwrap_or_default())),
            ScopeKind::Chat => {
                let prefix = through.as_ref().map(|u| format!("users('{u}')/")).unwrap_or_default();
                chat(&prefix, self.param("chat"))
            }
            ScopeKind::Team => match (self.params.get("group"), &through) {
                (Some(group), _) => team(format!("groups('{group}')/team"), group.clone()),
                (None, Some(u)) => {
                    let id = self.param("team");
                    team(format!("users('{u}')/joinedTeams('{id}')"), id)
                }
                (None, None) => {
                    let id = self.param("team");
                    team(format!("teams('{id}')"), id)
                }
            },
        };
        if let (Some(u), ScopeKind::Chat | ScopeKind::Team) = (&through, kind) {
            installations::require_path_user_in_scope(c.s.store.as_ref(), &c.auth, u, &scope.path)
                .await?;
        }
        Ok(scope)
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
    kind: ScopeKind,
    nav: Nav,
    headers: HeaderMap,
    path: &str,
    raw: &str,
) -> ApiResult<Response> {
    let scope = nav.scope(&c, kind).await?;
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

async fn get_one(c: Call, kind: ScopeKind, nav: Nav, raw: &str) -> ApiResult<Response> {
    let scope = nav.scope(&c, kind).await?;
    let installation = &nav.installation();
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
    kind: ScopeKind,
    nav: Nav,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let scope = nav.scope(&c, kind).await?;
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
    kind: ScopeKind,
    nav: Nav,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let scope = nav.scope(&c, kind).await?;
    let installation = &nav.installation();
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

async fn uninstall(c: Call, kind: ScopeKind, nav: Nav) -> ApiResult<StatusCode> {
    let scope = nav.scope(&c, kind).await?;
    let installation = &nav.installation();
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
    nav: Nav,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    list(Call { s, v, auth }, ScopeKind::User, nav, headers, uri.path(), &raw).await
}

/// GET /users/{id}/teamwork/installedApps/{id}
pub async fn get_user_installed_app(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    nav: Nav,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    get_one(Call { s, v, auth }, ScopeKind::User, nav, &raw).await
}

/// POST /users/{id}/teamwork/installedApps
pub async fn install_app_for_user(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    nav: Nav,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    install(Call { s, v, auth }, ScopeKind::User, nav, headers, body).await
}

/// POST /users/{id}/teamwork/installedApps/{id}/upgrade: https://learn.microsoft.com/graph/api/userteamwork-teamsappinstallation-upgrade
pub async fn upgrade_app_for_user(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    nav: Nav,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    upgrade(Call { s, v, auth }, ScopeKind::User, nav, headers, body).await
}

/// DELETE /users/{id}/teamwork/installedApps/{id}
pub async fn uninstall_app_for_user(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    nav: Nav,
) -> ApiResult<StatusCode> {
    uninstall(Call { s, v, auth }, ScopeKind::User, nav).await
}

/// GET /chats/{id}/installedApps: https://learn.microsoft.com/graph/api/chat-list-installedapps
pub async fn list_chat_installed_apps(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    nav: Nav,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    list(Call { s, v, auth }, ScopeKind::Chat, nav, headers, uri.path(), &raw).await
}

/// GET /chats/{id}/installedApps/{id}
pub async fn get_chat_installed_app(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    nav: Nav,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    get_one(Call { s, v, auth }, ScopeKind::Chat, nav, &raw).await
}

/// POST /chats/{id}/installedApps
pub async fn install_app_in_chat(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    nav: Nav,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    install(Call { s, v, auth }, ScopeKind::Chat, nav, headers, body).await
}

/// POST /chats/{id}/installedApps/{id}/upgrade: https://learn.microsoft.com/graph/api/chat-teamsappinstallation-upgrade
pub async fn upgrade_app_in_chat(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    nav: Nav,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    upgrade(Call { s, v, auth }, ScopeKind::Chat, nav, headers, body).await
}

/// DELETE /chats/{id}/installedApps/{id}
pub async fn uninstall_app_in_chat(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    nav: Nav,
) -> ApiResult<StatusCode> {
    uninstall(Call { s, v, auth }, ScopeKind::Chat, nav).await
}

/// GET /teams/{id}/installedApps: https://learn.microsoft.com/graph/api/team-list-installedapps
pub async fn list_team_installed_apps(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    nav: Nav,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    list(Call { s, v, auth }, ScopeKind::Team, nav, headers, uri.path(), &raw).await
}

/// GET /teams/{id}/installedApps/{id}
pub async fn get_team_installed_app(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    nav: Nav,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    get_one(Call { s, v, auth }, ScopeKind::Team, nav, &raw).await
}

/// POST /teams/{id}/installedApps
pub async fn install_app_in_team(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    nav: Nav,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    install(Call { s, v, auth }, ScopeKind::Team, nav, headers, body).await
}

/// POST /teams/{id}/installedApps/{id}/upgrade: https://learn.microsoft.com/graph/api/team-teamsappinstallation-upgrade
pub async fn upgrade_app_in_team(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    nav: Nav,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    upgrade(Call { s, v, auth }, ScopeKind::Team, nav, headers, body).await
}

/// DELETE /teams/{id}/installedApps/{id}
pub async fn uninstall_app_in_team(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    nav: Nav,
) -> ApiResult<StatusCode> {
    uninstall(Call { s, v, auth }, ScopeKind::Team, nav).await
}

/// GET /users/{id}/teamwork/installedApps/{id}/chat —
/// https://learn.microsoft.com/graph/api/userscopeteamsappinstallation-get-chat
pub async fn get_user_installed_app_chat(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    nav: Nav,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::chat(v);
    let query = ODataQuery::parse(&raw, ty, v).map_err(query_error)?;
    let c = Call { s, v, auth };
    let scope = nav.scope(&c, ScopeKind::User).await?;
    let chat = installations::get_installed_app_chat(
        c.s.store.as_ref(),
        &c.auth,
        &scope.path,
        &nav.installation(),
    )
    .await?;
    let shaped = query.shape(views::app_chat(&chat), ty, v);
    Ok(json_response(
        StatusCode::OK,
        entity(v.context(&format!("chats{}/$entity", query.context_suffix())), shaped),
    ))
}

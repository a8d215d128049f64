//! Installations in the user's personal scope, chats and teams (spec section 4). Each Graph
//! operation has its own handler, named after it; the three scopes share the bodies below.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use teamsapps_core::installations::{self, ScopePath, Upgraded};
use teamsapps_core::permissions::{authorize, Operation};
use teamsapps_wire::metadata::{self, EntityType};
use teamsapps_wire::odata::ApiVersion;
use teamsapps_wire::query::ODataQuery;

use super::app_catalogs::query_error;
use super::response::{by_id, entity, json_response, Page};
use super::Table;
use crate::error::{ApiError, ApiResult};
use crate::extract::{body_bytes, install_body, json_body, upgrade_body, Auth, RawQuery};
use crate::state::{AppState, UpgradeWhenCurrent};
use crate::views;

pub fn routes() -> Table {
    use axum::http::Method;
    const USER: &str = "/users/{user}/teamwork/installedApps";
    const USER_ONE: &str = "/users/{user}/teamwork/installedApps/{installation}";
    const CHAT: &str = "/chats/{chat}/installedApps";
    const CHAT_ONE: &str = "/chats/{chat}/installedApps/{installation}";
    const TEAM: &str = "/teams/{team}/installedApps";
    const TEAM_ONE: &str = "/teams/{team}/installedApps/{installation}";
    Table::default()
        .op(Method::GET, USER, list_user_installed_apps)
        .op(Method::POST, USER, install_app_for_user)
        .op(Method::GET, USER_ONE, get_user_installed_app)
        .op(Method::DELETE, USER_ONE, uninstall_app_for_user)
        .op(
            Method::POST,
            "/users/{user}/teamwork/installedApps/{installation}/upgrade",
            upgrade_app_for_user,
        )
        .op(
            Method::GET,
            "/users/{user}/teamwork/installedApps/{installation}/chat",
            get_user_installed_app_chat,
        )
        .op(Method::GET, CHAT, list_chat_installed_apps)
        .op(Method::POST, CHAT, install_app_in_chat)
        .op(Method::GET, CHAT_ONE, get_chat_installed_app)
        .op(Method::DELETE, CHAT_ONE, uninstall_app_in_chat)
        .op(Method::POST, "/chats/{chat}/installedApps/{installation}/upgrade", upgrade_app_in_chat)
        .op(Method::GET, TEAM, list_team_installed_apps)
        .op(Method::POST, TEAM, install_app_in_team)
        .op(Method::GET, TEAM_ONE, get_team_installed_app)
        .op(Method::DELETE, TEAM_ONE, uninstall_app_in_team)
        .op(Method::POST, "/teams/{team}/installedApps/{installation}/upgrade", upgrade_app_in_team)
}

/// Chat ids in `@odata.context` are percent-encoded (`19%3A…%40thread.v2`).
const CONTEXT_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// The operations and names of one scope.
struct Scope {
    path: ScopePath,
    list: Operation,
    get: Operation,
    install: Operation,
    upgrade: Operation,
    uninstall: Operation,
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
        list: Operation::ListUserInstalledApps,
        get: Operation::GetUserInstalledApp,
        install: Operation::InstallAppForUser,
        upgrade: Operation::UpgradeAppForUser,
        uninstall: Operation::UninstallAppForUser,
        ty: metadata::user_installation,
        always_count: false,
        install_status: StatusCode::CREATED,
    }
}

fn chat(id: String) -> Scope {
    Scope {
        context: format!("chats('{}')/installedApps", utf8_percent_encode(&id, CONTEXT_ENCODE)),
        path: ScopePath::Chat(id),
        list: Operation::ListChatInstalledApps,
        get: Operation::GetChatInstalledApp,
        install: Operation::InstallAppInChat,
        upgrade: Operation::UpgradeAppInChat,
        uninstall: Operation::UninstallAppInChat,
        ty: metadata::installation,
        always_count: false,
        install_status: StatusCode::CREATED,
    }
}

fn team(id: String) -> Scope {
    Scope {
        context: format!("teams('{id}')/installedApps"),
        path: ScopePath::Team(id),
        list: Operation::ListTeamInstalledApps,
        get: Operation::GetTeamInstalledApp,
        install: Operation::InstallAppInTeam,
        upgrade: Operation::UpgradeAppInTeam,
        uninstall: Operation::UninstallAppInTeam,
        ty: metadata::installation,
        always_count: true,
        install_status: StatusCode::OK,
    }
}

struct Call {
    s: AppState,
    v: ApiVersion,
    p: teamsapps_core::principal::Principal,
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
        installations::list_installed_apps(c.s.store.as_ref(), &c.p, scope.list, &scope.path)
            .await?;
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
    }
    .render(items)
}

async fn get_one(c: Call, scope: Scope, installation: &str, raw: &str) -> ApiResult<Response> {
    let ty = (scope.ty)(c.v);
    let query = ODataQuery::parse(raw, ty, c.v).map_err(query_error)?;
    let found = installations::get_installed_app(
        c.s.store.as_ref(),
        &c.p,
        scope.get,
        &scope.path,
        installation,
    )
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
    authorize(scope.install, &c.p)?;
    let parsed = install_body(json_body(&headers, &body, c.s.config.max_json_bytes)?)?;
    installations::install_app(
        c.s.store.as_ref(),
        &c.p,
        scope.install,
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
    authorize(scope.upgrade, &c.p)?;
    let consented = upgrade_body(json_body(&headers, &body, c.s.config.max_json_bytes)?)?;
    let outcome = installations::upgrade_app(
        c.s.store.as_ref(),
        &c.p,
        scope.upgrade,
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
    installations::uninstall_app(
        c.s.store.as_ref(),
        &c.p,
        scope.uninstall,
        &scope.path,
        installation,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

macro_rules! scope_handlers {
    ($scope:ident, $list:ident, $get:ident, $install:ident, $upgrade:ident, $uninstall:ident) => {
        async fn $list(
            State(s): State<AppState>,
            Extension(v): Extension<ApiVersion>,
            Auth(p): Auth,
            headers: HeaderMap,
            OriginalUri(uri): OriginalUri,
            Path(id): Path<String>,
            RawQuery(raw): RawQuery,
        ) -> ApiResult<Response> {
            list(Call { s, v, p }, $scope(id), headers, uri.path(), &raw).await
        }

        async fn $get(
            State(s): State<AppState>,
            Extension(v): Extension<ApiVersion>,
            Auth(p): Auth,
            Path((id, installation)): Path<(String, String)>,
            RawQuery(raw): RawQuery,
        ) -> ApiResult<Response> {
            get_one(Call { s, v, p }, $scope(id), &installation, &raw).await
        }

        async fn $install(
            State(s): State<AppState>,
            Extension(v): Extension<ApiVersion>,
            Auth(p): Auth,
            headers: HeaderMap,
            Path(id): Path<String>,
            body: Result<Bytes, BytesRejection>,
        ) -> ApiResult<Response> {
            install(Call { s, v, p }, $scope(id), headers, body).await
        }

        async fn $upgrade(
            State(s): State<AppState>,
            Extension(v): Extension<ApiVersion>,
            Auth(p): Auth,
            headers: HeaderMap,
            Path((id, installation)): Path<(String, String)>,
            body: Result<Bytes, BytesRejection>,
        ) -> ApiResult<StatusCode> {
            upgrade(Call { s, v, p }, $scope(id), &installation, headers, body).await
        }

        async fn $uninstall(
            State(s): State<AppState>,
            Extension(v): Extension<ApiVersion>,
            Auth(p): Auth,
            Path((id, installation)): Path<(String, String)>,
        ) -> ApiResult<StatusCode> {
            uninstall(Call { s, v, p }, $scope(id), &installation).await
        }
    };
}

// https://learn.microsoft.com/graph/api/userteamwork-list-installedapps (and get, post,
// teamsappinstallation-upgrade, delete)
scope_handlers!(
    user,
    list_user_installed_apps,
    get_user_installed_app,
    install_app_for_user,
    upgrade_app_for_user,
    uninstall_app_for_user
);
// https://learn.microsoft.com/graph/api/chat-list-installedapps (and get, post, upgrade, delete)
scope_handlers!(
    chat,
    list_chat_installed_apps,
    get_chat_installed_app,
    install_app_in_chat,
    upgrade_app_in_chat,
    uninstall_app_in_chat
);
// https://learn.microsoft.com/graph/api/team-list-installedapps (and get, post, upgrade, delete)
scope_handlers!(
    team,
    list_team_installed_apps,
    get_team_installed_app,
    install_app_in_team,
    upgrade_app_in_team,
    uninstall_app_in_team
);

/// GET /users/{id}/teamwork/installedApps/{id}/chat —
/// https://learn.microsoft.com/graph/api/userscopeteamsappinstallation-get-chat
async fn get_user_installed_app_chat(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(p): Auth,
    Path((id, installation)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::chat(v);
    let query = ODataQuery::parse(&raw, ty, v).map_err(query_error)?;
    let chat = installations::get_installed_app_chat(
        s.store.as_ref(),
        &p,
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

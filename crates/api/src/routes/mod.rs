//! The router: the Graph surface (`/v1.0`, `/beta`) built from the operation table
//! (`teamsapps_core::operations`), the identity endpoints, the test controls, path normalisation
//! and the answers for what we do not serve. Each route of an operation carries that operation
//! (a request extension), so the authorization extractor knows it without looking it up.

mod app_catalogs;
mod batch;
mod directory;
mod grants;
mod installed_apps;
mod teamwork;

use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::routing::{any, on, MethodFilter, MethodRouter};
use axum::{middleware, Extension, Router};
use teamsapps_core::operations::{Operation, OPERATIONS};
use teamsapps_wire::odata::ApiVersion;
use tower::Layer;

use crate::error::ApiError;
use crate::headers::graph_headers;
use crate::openapi::BATCH_ROUTE;
use crate::state::AppState;

/// A handler bound to its operation: served on the operation's method only, with the
/// operation as a request extension.
fn bind<H, T>(op: Operation, handler: H) -> (MethodRouter<AppState>, &'static str)
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let method = Method::from_bytes(op.row().method.as_bytes())
        .unwrap_or_else(|_| panic!("{} has no valid method", op.name()));
    let filter = MethodFilter::try_from(method)
        .unwrap_or_else(|_| panic!("{} is not a routable method", op.row().method));
    let name = std::any::type_name::<H>();
    (on(filter, handler).layer(Extension(op)), name.rsplit("::").next().unwrap_or(name))
}

/// The handler of each operation (an exhaustive match: an operation without a handler does not
/// compile) and the handler's name.
fn handler(op: Operation) -> (MethodRouter<AppState>, &'static str) {
    use app_catalogs as cat;
    use directory as dir;
    use installed_apps as inst;
    use Operation::*;
    match op {
        ListTeamsApps => bind(op, cat::list_teams_apps),
        GetTeamsApp => bind(op, cat::get_teams_app),
        ListAppDefinitions => bind(op, cat::list_app_definitions),
        GetAppDefinition => bind(op, cat::get_app_definition),
        PublishTeamsApp => bind(op, cat::publish_teams_app),
        UpdateTeamsApp => bind(op, cat::update_teams_app),
        ReviewAppDefinition => bind(op, cat::review_app_definition),
        DeleteTeamsApp => bind(op, cat::delete_teams_app),
        DeleteAppDefinition => bind(op, cat::delete_app_definition),
        GetTeamworkBot => bind(op, cat::get_teamwork_bot),
        ListUserInstalledApps => bind(op, inst::list_user_installed_apps),
        GetUserInstalledApp => bind(op, inst::get_user_installed_app),
        InstallAppForUser => bind(op, inst::install_app_for_user),
        UpgradeAppForUser => bind(op, inst::upgrade_app_for_user),
        UninstallAppForUser => bind(op, inst::uninstall_app_for_user),
        GetUserInstalledAppChat => bind(op, inst::get_user_installed_app_chat),
        ListChatInstalledApps => bind(op, inst::list_chat_installed_apps),
        GetChatInstalledApp => bind(op, inst::get_chat_installed_app),
        InstallAppInChat => bind(op, inst::install_app_in_chat),
        UpgradeAppInChat => bind(op, inst::upgrade_app_in_chat),
        UninstallAppInChat => bind(op, inst::uninstall_app_in_chat),
        ListTeamInstalledApps => bind(op, inst::list_team_installed_apps),
        GetTeamInstalledApp => bind(op, inst::get_team_installed_app),
        InstallAppInTeam => bind(op, inst::install_app_in_team),
        UpgradeAppInTeam => bind(op, inst::upgrade_app_in_team),
        UninstallAppInTeam => bind(op, inst::uninstall_app_in_team),
        ListUsers => bind(op, dir::list_users),
        CountUsers => bind(op, dir::count_users),
        GetUser => bind(op, dir::get_user),
        GetMe => bind(op, dir::get_me),
        ListTeams => bind(op, dir::list_teams),
        GetTeam => bind(op, dir::get_team),
        ListUserJoinedTeams => bind(op, dir::list_user_joined_teams),
        ListMyJoinedTeams => bind(op, dir::list_my_joined_teams),
        ListUserChats => bind(op, dir::list_user_chats),
        ListMyChats => bind(op, dir::list_my_chats),
        ListChats => bind(op, dir::list_chats),
        GetChat => bind(op, dir::get_chat),
        ListGroups => bind(op, dir::list_groups),
        GetTeamsAppSettings => bind(op, teamwork::get_teams_app_settings),
        UpdateTeamsAppSettings => bind(op, teamwork::update_teams_app_settings),
        ListChatPermissionGrants => bind(op, grants::list_chat_permission_grants),
        ListTeamPermissionGrants => bind(op, grants::list_team_permission_grants),
        ListGroupPermissionGrants => bind(op, grants::list_group_permission_grants),
        ListUserPermissionGrants => bind(op, grants::list_user_permission_grants),
        GetTeamsAppIcon => bind(op, cat::get_teams_app_icon),
        GetTeamworkHostedContent => bind(op, cat::get_teamwork_hosted_content),
        GetTeamworkHostedContentBytes => bind(op, cat::get_teamwork_hosted_content_bytes),
    }
}

/// The Graph surface of one API version: every route of every operation the version serves,
/// JSON batching, and documented neighbours we do not serve yet.
fn graph_routes(version: ApiVersion) -> Router<AppState> {
    let mut router = Router::new();
    for row in OPERATIONS.iter().filter(|r| version == ApiVersion::Beta || r.versions.v1()) {
        let (method_router, _) = handler(row.op);
        for path in row.routes {
            router = router.route(path, method_router.clone());
        }
    }
    // They answer so, instead of a bare 404.
    let later = |what: &'static str| any(move || async move { ApiError::not_implemented(what) });
    router
        .route(
            BATCH_ROUTE,
            axum::routing::post(batch::batch).layer(Extension(batch::ItemRouter(self::router))),
        )
        // Below a definition: what no operation of this version serves (v1.0 has no icons).
        .route(
            "/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}/{*rest}",
            any(app_catalogs::unknown_definition_segment),
        )
        .route("/me/{*rest}", later("the /me aliases (use /users/{id})"))
        // The installation aliases are operation routes; the rest of these navigations are not.
        .route(
            "/users/{user}/chats/{chat}",
            later("the /users/{id}/chats aliases (use /chats/{id})"),
        )
        .route(
            "/users/{user}/chats/{chat}/{*rest}",
            later("the /users/{id}/chats aliases (use /chats/{id})"),
        )
        .route(
            "/users/{user}/joinedTeams/{team}",
            later("the joinedTeams aliases (use /teams/{id})"),
        )
        .route(
            "/users/{user}/joinedTeams/{team}/{*rest}",
            later("the joinedTeams aliases (use /teams/{id})"),
        )
        .route(
            "/groups/{group}/team/{*rest}",
            later("the /groups/{id}/team aliases (use /teams/{id})"),
        )
        .route("/teamwork/{*rest}", later("this /teamwork operation"))
        .layer(Extension(version))
}

async fn unknown_path(uri: Uri) -> ApiError {
    let path = uri.path();
    let segment = path.trim_matches('/').split('/').find(|s| !s.is_empty()).unwrap_or("");
    if segment == "v1.0" || segment == "beta" {
        ApiError::bad_request(format!(
            "Resource not found for the segment '{}'. teamsapps serves the Teams app catalog and app installations; see docs/coverage.md.",
            path.trim_matches('/').split('/').nth(1).unwrap_or("")
        ))
    } else {
        ApiError::not_found(format!(
            "No resource at '{path}'. Graph requests start with /v1.0 or /beta; identity requests with /{{tenant}}/oauth2/v2.0/token."
        ))
    }
}

/// Graph matches segment names case-insensitively and accepts namespace-qualified actions
/// (spec 1.2; real-clients.md): rewrite them to the canonical names before routing.
fn normalize(mut req: Request) -> Request {
    let uri = req.uri();
    let path = uri.path();
    let controls = path.starts_with("/_teamsapps/");
    // Graph compares GUIDs case-insensitively; the store keeps them lower-case (test-control
    // names are the caller's own and stay as written).
    let canonical = |i: usize, seg: &str| -> Option<String> {
        if let Some(c) = canonical_segment(i, seg) {
            return (c != seg).then(|| c.to_string());
        }
        let upper_guid = !controls
            && seg.len() == 36
            && seg.bytes().any(|b| b.is_ascii_uppercase())
            && uuid::Uuid::try_parse(seg).is_ok();
        upper_guid.then(|| seg.to_ascii_lowercase())
    };
    // Most requests are spelled canonically already: check before building anything.
    let trailing_slash = path.len() > 1 && path.ends_with('/');
    if !trailing_slash && !path.split('/').enumerate().any(|(i, seg)| canonical(i, seg).is_some()) {
        return req;
    }
    let mut changed = false;
    let mut out: Vec<String> = Vec::new();
    for (i, seg) in path.split('/').enumerate() {
        match canonical(i, seg) {
            Some(c) => {
                changed = true;
                out.push(c);
            }
            None => out.push(seg.to_string()),
        }
    }
    let mut new_path = out.join("/");
    if new_path.len() > 1 && new_path.ends_with('/') {
        new_path.pop();
        changed = true;
    }
    if changed {
        let pq = match uri.query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        if let Ok(pq) = pq.parse::<axum::http::uri::PathAndQuery>() {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(pq);
            if let Ok(u) = Uri::from_parts(parts) {
                *req.uri_mut() = u;
            }
        }
    }
    req
}

/// The canonical spelling of the `i`-th path segment when it is one of Graph's names.
fn canonical_segment(i: usize, seg: &str) -> Option<&'static str> {
    const NAMES: &[&str] = &[
        "appCatalogs",
        "teamsApps",
        "appDefinitions",
        "installedApps",
        "teamwork",
        "upgrade",
        "bot",
        "chat",
        "users",
        "chats",
        "teams",
        "me",
        "joinedTeams",
        "groups",
        "permissionGrants",
        "colorIcon",
        "outlineIcon",
        "hostedContent",
    ];
    if seg.eq_ignore_ascii_case("microsoft.graph.upgrade") {
        Some("upgrade")
    } else if i >= 2 {
        NAMES.iter().copied().find(|n| n.eq_ignore_ascii_case(seg))
    } else {
        None
    }
}

/// A bug must still answer in Graph's shape; the panic itself is logged.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    axum::response::IntoResponse::into_response(ApiError::new(
        teamsapps_wire::error::ErrorCode::InternalServerError,
        "The service hit an internal error; the request may not have completed.",
    ))
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    // Room for the largest package; handlers enforce the per-kind limits with Graph errors.
    let limit = state.config.max_package_bytes.max(state.config.max_json_bytes) + 1024;
    let identity = crate::identity::endpoints(state.identity.clone(), state.store.clone());
    let inner = Router::new()
        .nest("/v1.0", graph_routes(ApiVersion::V1))
        .nest("/beta", graph_routes(ApiVersion::Beta))
        .merge(crate::test_controls::router())
        .merge(crate::health::router())
        .route("/openapi.json", axum::routing::get(crate::openapi::serve))
        .with_state(state.clone())
        .merge(identity)
        .fallback(unknown_path)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(
            state.request_log.clone(),
            crate::request_log::observe,
        ))
        .layer(middleware::from_fn_with_state(state.config.explain_denials, graph_headers));
    let normalized = tower::util::MapRequestLayer::new(normalize).layer(inner);
    Router::new().fallback_service(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(path: &str) -> String {
        let req = Request::builder().uri(path).body(axum::body::Body::empty()).unwrap();
        normalize(req).uri().to_string()
    }

    /// Each operation's handler is named after it (`grep -rn "fn upgrade_app_in_team"`).
    #[test]
    fn every_handler_is_named_after_its_operation() {
        for row in OPERATIONS {
            let (_, name) = handler(row.op);
            assert_eq!(name, row.handler, "{}", row.name);
        }
    }

    #[test]
    fn segment_names_are_case_insensitive_and_actions_may_be_qualified() {
        assert_eq!(
            norm("/v1.0/USERS/abc/TeamWork/installedapps/x/microsoft.graph.upgrade"),
            "/v1.0/users/abc/teamwork/installedApps/x/upgrade"
        );
        assert_eq!(
            norm("/v1.0/appcatalogs/teamsapps/?$top=1"),
            "/v1.0/appCatalogs/teamsApps?$top=1"
        );
        assert_eq!(
            norm("/v1.0/chats/19%3Aa%40thread.v2/installedApps"),
            "/v1.0/chats/19%3Aa%40thread.v2/installedApps"
        );
    }

    #[test]
    fn guids_in_paths_are_lower_cased_and_nothing_else_is() {
        assert_eq!(
            norm("/v1.0/users/8B081EF6-4792-4DEF-B2C9-C363A1BF41D5/teamwork/installedApps/QUJD"),
            "/v1.0/users/8b081ef6-4792-4def-b2c9-c363a1bf41d5/teamwork/installedApps/QUJD"
        );
        assert_eq!(
            norm("/2F1A6C2E-0000-4000-8000-000000000001/oauth2/v2.0/token"),
            "/2f1a6c2e-0000-4000-8000-000000000001/oauth2/v2.0/token"
        );
        // Not a GUID (a base64 id, a UPN), or a test control's own name: as written.
        assert_eq!(norm("/v1.0/users/Adele@Contoso.example"), "/v1.0/users/Adele@Contoso.example");
        let snapshot = "/_teamsapps/snapshots/8B081EF6-4792-4DEF-B2C9-C363A1BF41D5";
        assert_eq!(norm(snapshot), snapshot);
    }
}

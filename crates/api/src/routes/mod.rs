//! The router: `/v1.0` and `/beta` Graph surfaces, identity endpoints, path normalisation and
//! the answers for what we do not serve.

mod app_catalogs;
mod batch;
mod installed_apps;
mod response;

use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::routing::{any, on, MethodFilter, MethodRouter};
use axum::{middleware, Extension, Router};
use teamsapps_core::permissions::Operation;
use teamsapps_wire::odata::ApiVersion;
use tower::Layer;

use crate::error::ApiError;
use crate::headers::graph_headers;
use crate::identity;
use crate::state::AppState;

pub use response::{base_url, json_response};

/// One Graph operation the server implements: its method, its route as mounted under `/v1.0`
/// and `/beta`, and the handler's name. The router and `/openapi.json` are both built from the
/// same [`Table`], so the document cannot list a route the router lacks, or miss one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub method: Method,
    pub path: &'static str,
    pub handler: &'static str,
}

/// Routes registered together with the list of what they serve.
#[derive(Default)]
pub struct Table {
    router: Router<AppState>,
    served: Vec<Served>,
}

impl Table {
    /// Serves `method path` with `handler` and lists it.
    pub fn op<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} is not a routable method"));
        let name = std::any::type_name::<H>();
        let handler_name = name.rsplit("::").next().unwrap_or(name);
        self.router = self.router.route(path, on(filter, handler));
        self.served.push(Served { method, path, handler: handler_name });
        self
    }

    /// Answers on `path` without listing it (documented neighbours we do not implement).
    pub fn unlisted(mut self, path: &'static str, method_router: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, method_router);
        self
    }

    fn merge(mut self, other: Table) -> Self {
        self.router = self.router.merge(other.router);
        self.served.extend(other.served);
        self
    }
}

fn graph_table() -> Table {
    // Documented neighbours we do not serve yet answer so, instead of a bare 404.
    let later = |what: &'static str| any(move || async move { not_implemented(what) });
    app_catalogs::routes()
        .merge(installed_apps::routes())
        .op(Method::POST, "/$batch", batch::batch)
        .unlisted("/me/{*rest}", later("the /me aliases (use /users/{id})"))
        .unlisted(
            "/users/{user}/chats/{*rest}",
            later("the /users/{id}/chats aliases (use /chats/{id})"),
        )
        .unlisted(
            "/users/{user}/joinedTeams/{*rest}",
            later("the joinedTeams aliases (use /teams/{id})"),
        )
        .unlisted("/groups/{*rest}", later("the /groups/{id}/team aliases (use /teams/{id})"))
        .unlisted("/teamwork/{*rest}", later("teamwork settings (teamsAppSettings)"))
}

fn graph_routes() -> Router<AppState> {
    graph_table().router
}

/// Every Graph operation the router serves (under both `/v1.0` and `/beta`).
pub fn served() -> Vec<Served> {
    graph_table().served
}

/// Which Graph operation a routed request is, from its method and matched route (the table
/// lives with the permissions, in core).
pub fn operation_for(method: &axum::http::Method, route: &str) -> Option<Operation> {
    Operation::from_route(method.as_str(), route)
}

fn not_implemented(what: &str) -> ApiError {
    ApiError::new(
        teamsapps_wire::error::ErrorCode::NotImplemented,
        format!("teamsapps does not implement {what} yet; see docs/coverage.md."),
    )
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
    // Most requests are spelled canonically already: check before building anything.
    let differs = |(i, seg): (usize, &str)| canonical_segment(i, seg).is_some_and(|c| c != seg);
    let trailing_slash = path.len() > 1 && path.ends_with('/');
    if !trailing_slash && !path.split('/').enumerate().any(differs) {
        return req;
    }
    let mut changed = false;
    let mut out: Vec<String> = Vec::new();
    for (i, seg) in path.split('/').enumerate() {
        match canonical_segment(i, seg) {
            Some(c) if c != seg => {
                changed = true;
                out.push(c.to_string());
            }
            _ => out.push(seg.to_string()),
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
        "colorIcon",
        "outlineIcon",
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

pub fn router(state: AppState) -> Router {
    // Room for the largest package; handlers enforce the per-kind limits with Graph errors.
    let limit = state.config.max_package_bytes.max(state.config.max_json_bytes) + 1024;
    let inner = Router::new()
        .nest("/v1.0", graph_routes().layer(Extension(ApiVersion::V1)))
        .nest("/beta", graph_routes().layer(Extension(ApiVersion::Beta)))
        .merge(identity::router())
        .merge(crate::controls::router())
        .merge(crate::health::router())
        .route("/openapi.json", axum::routing::get(crate::openapi::serve))
        .fallback(unknown_path)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), crate::controls::observe))
        .layer(middleware::from_fn_with_state(state.clone(), graph_headers))
        .with_state(state);
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

    /// Every operation is reachable through exactly one (method, route) of the router's table,
    /// and every route in it but `$batch` is an operation with a permission rule.
    #[test]
    fn every_operation_has_one_route() {
        let mut found = Vec::new();
        for route in served() {
            let op = operation_for(&route.method, &format!("/v1.0{}", route.path));
            if route.path == "/$batch" {
                assert_eq!(op, None);
                continue;
            }
            let op =
                op.unwrap_or_else(|| panic!("{} {} has no operation", route.method, route.path));
            assert!(!found.contains(&op), "{op:?} twice");
            assert_eq!(operation_for(&route.method, &format!("/beta{}", route.path)), Some(op));
            found.push(op);
        }
        for op in Operation::ALL {
            assert!(found.contains(op), "{op:?} has no route");
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
}

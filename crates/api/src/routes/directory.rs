//! Directory reads (lifecycle spec section 1): users, teams, chats and groups, paged like Graph
//! (users, teams and groups 100 a page up to `$top=999`, chats 50), with `$select`, `$filter` and
//! `$count`. Handlers are named after Graph's operations.

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;
use teamsapps_core::directory;
use teamsapps_core::permissions::Authorized;
use teamsapps_wire::error::ErrorCode;
use teamsapps_wire::metadata::{self, EntityType};
use teamsapps_wire::odata::ApiVersion;
use teamsapps_wire::query::{CmpOp, Expr, ODataQuery, StringFn};

use crate::error::{query_error, ApiError, ApiResult};
use crate::extract::{Auth, RawQuery};
use crate::response::{by_id, entity, json_response, Page};
use crate::state::AppState;
use crate::views;

/// The directory workload (users, groups) or Teams (teams, chats): their paging and errors differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Directory,
    Teams,
    Chats,
}

impl Source {
    fn page_size(self) -> (usize, usize) {
        match self {
            Source::Directory | Source::Teams => (100, 999),
            Source::Chats => (50, 50),
        }
    }
}

/// `ConsistencyLevel: eventual`, which the directory's advanced queries need.
fn eventual(headers: &HeaderMap) -> bool {
    headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
}

/// The first operator of `e` that the directory serves only as an advanced query.
fn advanced_operator(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Not(_) => Some("not"),
        Expr::Compare(_, CmpOp::Ne, _) => Some("ne"),
        Expr::StringFn(StringFn::EndsWith, _, _) => Some("endsWith"),
        Expr::Or(a, b) | Expr::And(a, b) => advanced_operator(a).or_else(|| advanced_operator(b)),
        Expr::Lambda { body: Some(b), .. } => advanced_operator(b),
        _ => None,
    }
}

/// The number a raw query's `$top` asks for, if it is one.
fn raw_top(raw: &str) -> Option<u64> {
    raw.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        let k = teamsapps_wire::query::decode_query_component(k).ok()?;
        k.trim().eq_ignore_ascii_case("$top").then_some(())?;
        teamsapps_wire::query::decode_query_component(v).ok()?.trim().parse().ok()
    })
}

/// Parses the query of a list and applies the source's rules (page size; for the directory,
/// advanced queries and `$count` only with `ConsistencyLevel: eventual`).
fn list_query(
    raw: &str,
    ty: &'static EntityType,
    v: ApiVersion,
    headers: &HeaderMap,
    source: Source,
) -> ApiResult<ODataQuery> {
    let (_, max) = source.page_size();
    // Before the parser, whose own limit and message are the catalog's.
    if let Some(top) = raw_top(raw).filter(|t| *t > max as u64) {
        return Err(match source {
            Source::Chats => ApiError::bad_request(format!(
                "The page size $top={top} is not supported for chats: at most {max}."
            )),
            _ => ApiError::new(
                ErrorCode::RequestBadRequest,
                format!(
                    "Invalid page size specified: '{top}'. Must be between 1 and {max} inclusive."
                ),
            ),
        });
    }
    let mut query = ODataQuery::parse(raw, ty, v).map_err(query_error)?;
    if source == Source::Directory {
        let advanced = eventual(headers) && query.count;
        if let Some(op) = query.filter.as_ref().and_then(advanced_operator).filter(|_| !advanced) {
            return Err(ApiError::new(
                ErrorCode::RequestUnsupportedQuery,
                format!(
                    "Operator '{op}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
                ),
            ));
        }
        // Without the header, `$count=true` is silently ignored (lifecycle spec 1.1).
        query.count &= eventual(headers);
    }
    Ok(query)
}

/// One page of `items` (each with its unique sort key), filtered and shaped.
#[allow(clippy::too_many_arguments)]
fn page(
    v: ApiVersion,
    ty: &'static EntityType,
    query: &ODataQuery,
    headers: &HeaderMap,
    path: &str,
    raw: &str,
    set: &str,
    source: Source,
    items: impl Iterator<Item = (String, Value)>,
) -> ApiResult<Response> {
    let items = items
        .filter(|(_, full)| query.filter.as_ref().is_none_or(|f| f.matches(full)))
        .map(|(key, full)| (key, query.shape(full, ty, v)))
        .collect();
    page_of(v, query, headers, path, raw, set, source).render(items)
}

/// As [`page`] for a list without `$filter`: only the page's items are built (`build(i)` of
/// the i-th key), so paging through a large directory costs each page its own items.
#[allow(clippy::too_many_arguments)]
fn page_lazy(
    v: ApiVersion,
    ty: &'static EntityType,
    query: &ODataQuery,
    headers: &HeaderMap,
    path: &str,
    raw: &str,
    set: &str,
    source: Source,
    keys: Vec<String>,
    build: impl Fn(usize) -> Value,
) -> ApiResult<Response> {
    let keys = keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect();
    page_of(v, query, headers, path, raw, set, source)
        .render_with(keys, |i| query.shape(build(i), ty, v))
}

fn page_of<'a>(
    v: ApiVersion,
    query: &'a ODataQuery,
    headers: &'a HeaderMap,
    path: &'a str,
    raw: &'a str,
    set: &str,
    source: Source,
) -> Page<'a> {
    Page {
        context: v.context(&format!("{set}{}", query.context_suffix())),
        query,
        headers,
        path,
        raw_query: raw,
        always_count: false,
        order: by_id,
        default_top: Some(source.page_size().0),
    }
}

/// What `User.ReadBasic.All` alone may read: the basic profile only.
fn basic_only(auth: &Authorized) -> bool {
    auth.access().held().iter().all(|g| g.permission == "User.ReadBasic.All")
}

fn one(
    v: ApiVersion,
    ty: &'static EntityType,
    set: &str,
    raw: &str,
    full: Value,
) -> ApiResult<Response> {
    let query = ODataQuery::parse(raw, ty, v).map_err(query_error)?;
    let shaped = query.shape(full, ty, v);
    let context = v.context(&format!("{set}{}/$entity", query.context_suffix()));
    Ok(json_response(StatusCode::OK, entity(context, shaped)))
}

/// GET /users: https://learn.microsoft.com/graph/api/user-list
pub async fn list_users(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::user(v);
    let query = list_query(&raw, ty, v, &headers, Source::Directory)?;
    let basic = basic_only(&auth);
    // Ordered by user principal name, as Graph lists them (unique per tenant, case-insensitive).
    // Without $filter or $count the store cuts the page itself (keyset paging on the UPN
    // index), so a walk through 200,000 users does not load them all for every page.
    if query.filter.is_none() && !query.count {
        let page = page_of(v, &query, &headers, uri.path(), &raw, "users", Source::Directory);
        let (after, top) = (page.after()?, page.top());
        let store = s.store.as_ref();
        let mut users =
            directory::list_users_after(store, &auth, after.as_deref(), top.saturating_add(1))
                .await?;
        let more = users.len() > top;
        users.truncate(top);
        let last = users.last().map(|u| u.user_principal_name.to_ascii_lowercase());
        let items = users.iter().map(|u| query.shape(views::user(u, basic), ty, v)).collect();
        return page.render_page(items, last.filter(|_| more), None);
    }
    let users = directory::list_users(s.store.as_ref(), &auth).await?;
    let items =
        users.iter().map(|u| (u.user_principal_name.to_ascii_lowercase(), views::user(u, basic)));
    page(v, ty, &query, &headers, uri.path(), &raw, "users", Source::Directory, items)
}

/// GET /users/{id | userPrincipalName}: https://learn.microsoft.com/graph/api/user-get
pub async fn get_user(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path(user): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let found = directory::get_user(s.store.as_ref(), &auth, Some(&user)).await?;
    one(v, metadata::user(v), "users", &raw, views::user(&found, basic_only(&auth)))
}

/// GET /users/$count: a bare number, only with `ConsistencyLevel: eventual` (lifecycle spec 1.1).
pub async fn count_users(
    State(s): State<AppState>,
    Auth(auth): Auth,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !eventual(&headers) {
        return Err(ApiError::new(
            ErrorCode::RequestBadRequest,
            "$count is not currently supported.",
        ));
    }
    let users = directory::list_users(s.store.as_ref(), &auth).await?;
    let mut res = (StatusCode::OK, users.len().to_string()).into_response();
    res.headers_mut()
        .insert("content-type", axum::http::HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(res)
}

/// GET /me: https://learn.microsoft.com/graph/api/user-get
pub async fn get_me(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let found = directory::get_user(s.store.as_ref(), &auth, None).await?;
    one(v, metadata::user(v), "users", &raw, views::user(&found, basic_only(&auth)))
}

/// GET /teams: https://learn.microsoft.com/graph/api/teams-list
pub async fn list_teams(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::team(v);
    let query = list_query(&raw, ty, v, &headers, Source::Teams)?;
    let teams = directory::list_teams(s.store.as_ref(), &auth).await?;
    if query.filter.is_none() {
        let keys = teams.iter().map(|t| t.id.to_ascii_lowercase()).collect();
        let build = |i: usize| views::team(&teams[i]);
        let (path, set) = (uri.path(), "teams");
        return page_lazy(v, ty, &query, &headers, path, &raw, set, Source::Teams, keys, build);
    }
    let items = teams.iter().map(|t| (t.id.to_ascii_lowercase(), views::team(t)));
    page(v, ty, &query, &headers, uri.path(), &raw, "teams", Source::Teams, items)
}

/// GET /teams/{id}: https://learn.microsoft.com/graph/api/team-get
pub async fn get_team(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path(team): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let found = directory::get_team(s.store.as_ref(), &auth, &team).await?;
    one(v, metadata::team_full(v), "teams", &raw, views::team(&found))
}

/// `joinedTeams` takes no query options (lifecycle spec 1.5): all of them, unpaged.
fn joined(v: ApiVersion, teams: &[teamsapps_core::model::Team]) -> ApiResult<Response> {
    let ty = metadata::team(v);
    let query = ODataQuery::default();
    let value: Vec<Value> = teams.iter().map(|t| query.shape(views::team(t), ty, v)).collect();
    let body = serde_json::json!({ "@odata.context": v.context("teams"), "value": value });
    Ok(json_response(StatusCode::OK, body))
}

/// GET /users/{id}/joinedTeams: https://learn.microsoft.com/graph/api/user-list-joinedteams
pub async fn list_user_joined_teams(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    joined(v, &directory::list_joined_teams(s.store.as_ref(), &auth, Some(&user)).await?)
}

/// GET /me/joinedTeams
pub async fn list_my_joined_teams(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
) -> ApiResult<Response> {
    joined(v, &directory::list_joined_teams(s.store.as_ref(), &auth, None).await?)
}

async fn chats_page(
    s: AppState,
    v: ApiVersion,
    auth: Authorized,
    user: Option<&str>,
    headers: HeaderMap,
    path: &str,
    raw: &str,
) -> ApiResult<Response> {
    let ty = metadata::chat(v);
    let query = list_query(raw, ty, v, &headers, Source::Chats)?;
    let chats = directory::list_chats(s.store.as_ref(), &auth, user).await?;
    let items = chats.iter().map(|c| (c.id.clone(), views::chat(c)));
    page(v, ty, &query, &headers, path, raw, "chats", Source::Chats, items)
}

/// GET /users/{id}/chats: https://learn.microsoft.com/graph/api/chat-list
pub async fn list_user_chats(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(user): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    chats_page(s, v, auth, Some(&user), headers, uri.path(), &raw).await
}

/// GET /me/chats
pub async fn list_my_chats(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    chats_page(s, v, auth, None, headers, uri.path(), &raw).await
}

/// GET /chats (delegated only)
pub async fn list_chats(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    chats_page(s, v, auth, None, headers, uri.path(), &raw).await
}

/// GET /chats/{id}: https://learn.microsoft.com/graph/api/chat-get
pub async fn get_chat(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path(chat): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let found = directory::get_chat(s.store.as_ref(), &auth, &chat).await?;
    one(v, metadata::chat(v), "chats", &raw, views::chat(&found))
}

/// GET /groups (teams are the groups with `resourceProvisioningOptions` 'Team'):
/// https://learn.microsoft.com/graph/api/group-list
pub async fn list_groups(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::group(v);
    let query = list_query(&raw, ty, v, &headers, Source::Directory)?;
    let teams = directory::list_groups(s.store.as_ref(), &auth).await?;
    let items = teams.iter().map(|t| (t.id.to_ascii_lowercase(), views::group(t)));
    page(v, ty, &query, &headers, uri.path(), &raw, "groups", Source::Directory, items)
}

//! `/appCatalogs/teamsApps…` (spec section 3). Handlers are named after Graph's operations.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{MatchedPath, OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;
use teamsapps_core::catalog::{self, definition_id, PublishOptions};
use teamsapps_core::model::{IconKind, PublishingState};
use teamsapps_wire::metadata;
use teamsapps_wire::odata::ApiVersion;
use teamsapps_wire::query::ODataQuery;

use crate::error::{query_error, ApiError, ApiResult};
use crate::extract::{body_bytes, json_body, zip_body, Auth, RawQuery};
use crate::response::{base_url, by_id, by_version, entity, json_response, Page};
use crate::state::AppState;
use crate::views;

/// A segment below a definition that this version does not have (the icons are beta only, as
/// in Graph: lifecycle spec 5.1).
pub async fn unknown_definition_segment(
    Extension(v): Extension<ApiVersion>,
    Path(params): Path<Vec<(String, String)>>,
) -> ApiError {
    let rest = params.iter().find(|(k, _)| k == "rest").map(|(_, v)| v.as_str()).unwrap_or("");
    // The first segment that is not part of beta's icon navigation.
    let served = |i: usize, seg: &str| {
        v == ApiVersion::Beta
            && match i {
                0 => seg == "colorIcon" || seg == "outlineIcon",
                1 => seg == "hostedContent",
                _ => false,
            }
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let segment =
        segments.iter().enumerate().find(|(i, seg)| !served(*i, seg)).map_or(rest, |(_, seg)| *seg);
    ApiError::bad_request(format!("Resource not found for the segment '{segment}'."))
}

/// Which icon a route names (`…/colorIcon…` or `…/outlineIcon…`).
fn icon_kind(route: &MatchedPath) -> IconKind {
    if route.as_str().contains("/outlineIcon") {
        IconKind::Outline
    } else {
        IconKind::Color
    }
}

fn icon_context(app_id: &str, def_id: &str, kind: IconKind, rest: &str) -> String {
    let nav = match kind {
        IconKind::Color => "colorIcon",
        IconKind::Outline => "outlineIcon",
    };
    format!("appCatalogs/teamsApps('{app_id}')/appDefinitions('{def_id}')/{nav}{rest}")
}

fn no_hosted_content(def_id: &str) -> ApiError {
    ApiError::not_found(format!(
        "The app definition '{def_id}' has no hosted content for this icon."
    ))
}

/// GET /beta/appCatalogs/teamsApps/{id}/appDefinitions/{id}/colorIcon (and outlineIcon):
/// https://learn.microsoft.com/graph/api/teamsappicon-get?view=graph-rest-beta
pub async fn get_teams_app_icon(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    route: MatchedPath,
    Path((app_id, def_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::teams_app_icon(v);
    let query = ODataQuery::parse(&raw, ty, v).map_err(query_error)?;
    let kind = icon_kind(&route);
    let (app, def, icon) =
        catalog::get_icon(s.store.as_ref(), &auth, &app_id, &def_id, kind).await?;
    let full =
        views::teams_app_icon(&app, &def, &def_id, kind, icon.is_some(), &base_url(&headers));
    let shaped = query.shape(full, ty, v);
    let context = v.context(&icon_context(
        &app_id,
        &def_id,
        kind,
        &format!("{}/$entity", query.context_suffix()),
    ));
    Ok(json_response(StatusCode::OK, entity(context, shaped)))
}

/// GET …/colorIcon/hostedContent (and outlineIcon):
/// https://learn.microsoft.com/graph/api/teamsappicon-get-hostedcontent?view=graph-rest-beta
pub async fn get_teamwork_hosted_content(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    route: MatchedPath,
    Path((app_id, def_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let kind = icon_kind(&route);
    let (_, _, icon) = catalog::get_icon(s.store.as_ref(), &auth, &app_id, &def_id, kind).await?;
    icon.ok_or_else(|| no_hosted_content(&def_id))?;
    // No query options, as documented.
    let body = views::icon_hosted_content(&def_id, kind);
    let context = v.context(&icon_context(&app_id, &def_id, kind, "/hostedContent/$entity"));
    Ok(json_response(StatusCode::OK, entity(context, body)))
}

/// GET …/colorIcon/hostedContent/$value (and outlineIcon): the icon file of the package, with
/// its content type.
pub async fn get_teamwork_hosted_content_bytes(
    State(s): State<AppState>,
    Auth(auth): Auth,
    route: MatchedPath,
    Path((app_id, def_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let kind = icon_kind(&route);
    let (_, _, icon) = catalog::get_icon(s.store.as_ref(), &auth, &app_id, &def_id, kind).await?;
    let icon = icon.ok_or_else(|| no_hosted_content(&def_id))?;
    let mut res = (StatusCode::OK, icon.bytes).into_response();
    if let Ok(ct) = axum::http::HeaderValue::from_str(&icon.content_type) {
        res.headers_mut().insert("content-type", ct);
    }
    Ok(res)
}

fn bool_param(raw: &str, name: &str) -> ApiResult<bool> {
    for pair in raw.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k.eq_ignore_ascii_case(name) {
            return match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::bad_request(format!(
                    "The query parameter '{name}' must be true or false; got '{v}'."
                ))),
            };
        }
    }
    Ok(false)
}

/// The `appDefinitions@odata.context` Graph adds to an expanded, `$select`ed definitions list.
fn annotate_nested(v: ApiVersion, query: &ODataQuery, app_id: &str, shaped: &mut Value) {
    for item in &query.expand {
        if item.navigation == "appDefinitions" {
            if let Some(select) = &item.select {
                if let Some(obj) = shaped.as_object_mut() {
                    obj.insert(
                        "appDefinitions@odata.context".into(),
                        Value::String(v.context(&format!(
                            "appCatalogs/teamsApps('{app_id}')/appDefinitions({})",
                            select.join(",")
                        ))),
                    );
                }
            }
        }
    }
}

/// GET /appCatalogs/teamsApps — https://learn.microsoft.com/graph/api/appcatalogs-list-teamsapps
pub async fn list_teams_apps(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::teams_app(v);
    let query = ODataQuery::parse(&raw, ty, v).map_err(query_error)?;
    let apps = catalog::list_apps(s.store.as_ref(), &auth).await?;
    let mut items = Vec::new();
    for app in &apps {
        let full = views::teams_app(app, v);
        if query.filter.as_ref().is_none_or(|f| f.matches(&full)) {
            let mut shaped = query.shape(full, ty, v);
            annotate_nested(v, &query, &app.app.id, &mut shaped);
            items.push((app.app.id.clone(), shaped));
        }
    }
    Page {
        context: v.context(&format!("appCatalogs/teamsApps{}", query.context_suffix())),
        query: &query,
        headers: &headers,
        path: uri.path(),
        raw_query: &raw,
        always_count: false,
        order: by_id,
        default_top: None,
    }
    .render(items)
}

/// GET /appCatalogs/teamsApps/{id}
pub async fn get_teams_app(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path(app_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::teams_app(v);
    let query = ODataQuery::parse(&raw, ty, v).map_err(query_error)?;
    let app = catalog::get_app(s.store.as_ref(), &auth, &app_id).await?;
    let mut shaped = query.shape(views::teams_app(&app, v), ty, v);
    annotate_nested(v, &query, &app.app.id, &mut shaped);
    let context = v.context(&format!("appCatalogs/teamsApps{}/$entity", query.context_suffix()));
    Ok(json_response(StatusCode::OK, entity(context, shaped)))
}

/// POST /appCatalogs/teamsApps — https://learn.microsoft.com/graph/api/teamsapp-publish
pub async fn publish_teams_app(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let requires_review = bool_param(&raw, "requiresReview")?;
    let body = body_bytes(body)?;
    let package = zip_body(&headers, &body, s.config.max_package_bytes)?;
    let options =
        PublishOptions { requires_review, unique_client_app_id: s.config.unique_client_app_id };
    let app =
        catalog::publish_app(s.store.as_ref(), &auth, package, options, chrono::Utc::now()).await?;
    let ty = metadata::teams_app(v);
    let shaped = ODataQuery::default().shape(views::teams_app(&app, v), ty, v);
    let location =
        format!("{}/{}/appCatalogs/teamsApps/{}", base_url(&headers), v.segment(), app.app.id);
    let mut res = json_response(
        StatusCode::CREATED,
        entity(v.context("appCatalogs/teamsApps/$entity"), shaped),
    );
    if let Ok(value) = location.parse() {
        res.headers_mut().insert("location", value);
    }
    Ok(res)
}

/// GET /appCatalogs/teamsApps/{id}/appDefinitions
pub async fn list_app_definitions(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(app_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::teams_app_definition(v);
    let query = ODataQuery::parse(&raw, ty, v).map_err(query_error)?;
    let app = catalog::get_app(s.store.as_ref(), &auth, &app_id).await?;
    let items = app
        .definitions
        .iter()
        .map(|d| (d.version.clone(), views::definition(&app, d, v)))
        .filter(|(_, full)| query.filter.as_ref().is_none_or(|f| f.matches(full)))
        .map(|(version, full)| (version, query.shape(full, ty, v)))
        .collect();
    Page {
        context: v.context(&format!(
            "appCatalogs/teamsApps('{}')/appDefinitions{}",
            app.app.id,
            query.context_suffix()
        )),
        query: &query,
        headers: &headers,
        path: uri.path(),
        raw_query: &raw,
        always_count: false,
        // A definition is one version of the app (unique per app), listed oldest first.
        order: by_version,
        default_top: None,
    }
    .render(items)
}

/// GET /appCatalogs/teamsApps/{id}/appDefinitions/{definitionId}
pub async fn get_app_definition(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path((app_id, def_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::teams_app_definition(v);
    let query = ODataQuery::parse(&raw, ty, v).map_err(query_error)?;
    let (app, def) = catalog::get_definition(s.store.as_ref(), &auth, &app_id, &def_id).await?;
    let shaped = query.shape(views::definition(&app, &def, v), ty, v);
    let context = v.context(&format!(
        "appCatalogs/teamsApps('{}')/appDefinitions{}/$entity",
        app.app.id,
        query.context_suffix()
    ));
    Ok(json_response(StatusCode::OK, entity(context, shaped)))
}

/// POST /appCatalogs/teamsApps/{id}/appDefinitions — https://learn.microsoft.com/graph/api/teamsapp-update
pub async fn update_teams_app(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let requires_review = bool_param(&raw, "requiresReview")?;
    let body = body_bytes(body)?;
    let package = zip_body(&headers, &body, s.config.max_package_bytes)?;
    let options =
        PublishOptions { requires_review, unique_client_app_id: s.config.unique_client_app_id };
    let def =
        catalog::update_app(s.store.as_ref(), &auth, &app_id, package, options, chrono::Utc::now())
            .await?;
    if def.publishing_state == PublishingState::Published {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let app = s
        .store
        .get_app(&auth.principal().tenant_id, &app_id)
        .await
        .map_err(teamsapps_core::CoreError::from)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "The Teams app '{app_id}' was not found in the app catalog."
            ))
        })?;
    let ty = metadata::teams_app_definition(v);
    let shaped = ODataQuery::default().shape(views::definition(&app, &def, v), ty, v);
    let location = format!(
        "{}/{}/appCatalogs/teamsApps/{}/appDefinitions/{}",
        base_url(&headers),
        v.segment(),
        app.app.id,
        definition_id(&app.app, &def)
    );
    let context =
        v.context(&format!("appCatalogs/teamsApps('{}')/appDefinitions/$entity", app.app.id));
    let mut res = json_response(StatusCode::CREATED, entity(context, shaped));
    if let Ok(value) = location.parse() {
        res.headers_mut().insert("location", value);
    }
    Ok(res)
}

/// PATCH /appCatalogs/teamsApps/{id}/appDefinitions/{definitionId}: approve or reject a
/// submission (teamsapp-publish, example 3).
pub async fn review_app_definition(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    headers: HeaderMap,
    Path((app_id, def_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_bytes(body)?;
    let value = json_body(&headers, &body, s.config.max_json_bytes)?
        .ok_or_else(|| ApiError::bad_request("The request body is missing; send {\"publishingState\": \"published\"} or \"rejected\"."))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be a JSON object."))?;
    let mut state = None;
    for (key, val) in obj {
        if key.eq_ignore_ascii_case("publishingState") {
            let text = val
                .as_str()
                .ok_or_else(|| ApiError::bad_request("publishingState must be a string."))?;
            state = Some(PublishingState::parse(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "publishingState must be 'published' or 'rejected'; got '{text}'."
                ))
            })?);
        } else if !key.starts_with("@odata.") {
            return Err(ApiError::bad_request(format!(
                "Only publishingState can be changed on an app definition; '{key}' cannot."
            )));
        }
    }
    let state =
        state.ok_or_else(|| ApiError::bad_request("The request body must set publishingState."))?;
    let if_match = headers
        .get("if-match")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().trim_start_matches("W/").to_string())
        .filter(|h| h != "*");
    let (app, def) = catalog::review_definition(
        s.store.as_ref(),
        &auth,
        &app_id,
        &def_id,
        if_match.as_deref(),
        state,
        chrono::Utc::now(),
    )
    .await?;
    let ty = metadata::teams_app_definition(v);
    let shaped = ODataQuery::default().shape(views::definition(&app, &def, v), ty, v);
    let context =
        v.context(&format!("appCatalogs/teamsApps('{}')/appDefinitions/$entity", app.app.id));
    Ok(json_response(StatusCode::OK, entity(context, shaped)))
}

/// DELETE /appCatalogs/teamsApps/{id} — https://learn.microsoft.com/graph/api/teamsapp-delete
pub async fn delete_teams_app(
    State(s): State<AppState>,
    Auth(auth): Auth,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    catalog::delete_app(s.store.as_ref(), &auth, &app_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /appCatalogs/teamsApps/{id}/appDefinitions/{definitionId}: cancel a submission.
pub async fn delete_app_definition(
    State(s): State<AppState>,
    Auth(auth): Auth,
    Path((app_id, def_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    catalog::delete_definition(s.store.as_ref(), &auth, &app_id, &def_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET …/appDefinitions/{definitionId}/bot — https://learn.microsoft.com/graph/api/teamworkbot-get
pub async fn get_teamwork_bot(
    State(s): State<AppState>,
    Extension(v): Extension<ApiVersion>,
    Auth(auth): Auth,
    Path((app_id, def_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let ty = metadata::teamwork_bot(v);
    let query = ODataQuery::parse(&raw, ty, v).map_err(query_error)?;
    let bot_id = catalog::get_bot(s.store.as_ref(), &auth, &app_id, &def_id).await?;
    let mut shaped = query.shape(serde_json::json!({ "id": bot_id }), ty, v);
    if let Some(obj) = shaped.as_object_mut() {
        obj.insert("@odata.type".into(), Value::String("#microsoft.graph.teamworkBot".into()));
    }
    let context = v.context(&format!(
        "appCatalogs/teamsApps('{app_id}')/appDefinitions('{def_id}')/bot{}/$entity",
        query.context_suffix()
    ));
    Ok(json_response(StatusCode::OK, entity(context, shaped)))
}

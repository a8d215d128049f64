//! JSON batching (spec 8.3): `POST /{version}/$batch`. Every item is a real request through the
//! same application router, so each is authenticated, authorized, throttled and faulted on its
//! own; the batch only validates, orders by `dependsOn` and collects the answers.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Extension;
use base64::Engine;
use serde_json::{json, Map, Value};
use teamsapps_wire::error::{error_body, error_date, ErrorCode};
use teamsapps_wire::odata::{ApiVersion, JSON_CONTENT_TYPE};
use tower::ServiceExt;

use crate::error::{ApiError, ApiResult};
use crate::extract::json_body;
use crate::response::json_response;
use crate::state::AppState;

/// Graph's limit on the requests of one batch.
pub const MAX_REQUESTS: usize = 20;
/// Longest request id accepted (Graph documents none; ids are echoed in the answer).
pub const MAX_ID_CHARS: usize = 256;

/// Outer headers every item inherits: the caller's identity and where it called us.
const INHERITED: &[&str] =
    &["authorization", "host", "forwarded", "x-forwarded-host", "x-forwarded-proto"];

/// Largest response body copied into a batch answer.
const MAX_ITEM_RESPONSE: usize = 64 * 1024 * 1024;

struct Item {
    id: String,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    depends_on: Vec<usize>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

fn parse(value: &Value) -> ApiResult<Vec<Item>> {
    let requests = value
        .as_object()
        .and_then(|o| o.get("requests"))
        .ok_or_else(|| {
            bad("Invalid batch payload: the body must be an object with a 'requests' array.")
        })?
        .as_array()
        .ok_or_else(|| bad("Invalid batch payload: 'requests' must be an array."))?;
    if requests.is_empty() {
        return Err(bad("Invalid batch payload: 'requests' must contain at least one request."));
    }
    if requests.len() > MAX_REQUESTS {
        return Err(bad(format!(
            "Invalid batch payload: a batch may contain at most {MAX_REQUESTS} requests; this one has {}.",
            requests.len()
        )));
    }
    let mut items: Vec<Item> = Vec::with_capacity(requests.len());
    let mut depends: Vec<Vec<String>> = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let obj = r
            .as_object()
            .ok_or_else(|| bad(format!("Invalid batch payload: request {i} must be an object.")))?;
        let field = |name: &str| obj.get(name).filter(|v| !v.is_null());
        let id = match field("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => {
                return Err(bad(format!("Invalid batch payload: request {i} needs a string 'id'.")))
            }
        };
        if id.chars().count() > MAX_ID_CHARS {
            return Err(bad(format!(
                "Invalid batch payload: the id of request {i} is longer than {MAX_ID_CHARS} characters."
            )));
        }
        if items.iter().any(|it| it.id.eq_ignore_ascii_case(&id)) {
            return Err(bad(format!(
                "Invalid batch payload: the request id '{id}' is used more than once."
            )));
        }
        let method = match field("method") {
            Some(Value::String(s)) => s.to_ascii_uppercase(),
            _ => {
                return Err(bad(format!(
                    "Invalid batch payload: request '{id}' needs a string 'method'."
                )))
            }
        };
        let method = match method.as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PATCH" => Method::PATCH,
            "PUT" => Method::PUT,
            "DELETE" => Method::DELETE,
            other => {
                return Err(bad(format!(
                    "Invalid batch payload: request '{id}' has the method '{other}'; use GET, POST, PATCH, PUT or DELETE."
                )))
            }
        };
        let url = match field("url") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => {
                return Err(bad(format!(
                    "Invalid batch payload: request '{id}' needs a string 'url'."
                )))
            }
        };
        let mut headers = Vec::new();
        match field("headers") {
            None => {}
            Some(Value::Object(h)) => {
                for (k, v) in h {
                    let v = v.as_str().ok_or_else(|| {
                        bad(format!("Invalid batch payload: the header '{k}' of request '{id}' must be a string."))
                    })?;
                    headers.push((k.clone(), v.to_string()));
                }
            }
            Some(_) => {
                return Err(bad(format!(
                    "Invalid batch payload: 'headers' of request '{id}' must be an object."
                )))
            }
        }
        let body = field("body").cloned();
        if body.is_some() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            return Err(bad(format!(
                "Invalid batch payload: request '{id}' has a body but no Content-Type header."
            )));
        }
        let deps = match field("dependsOn") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| d.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(format!("Invalid batch payload: 'dependsOn' of request '{id}' must list request ids.")))?,
            Some(_) => {
                return Err(bad(format!("Invalid batch payload: 'dependsOn' of request '{id}' must be an array.")))
            }
        };
        depends.push(deps);
        items.push(Item { id, method, url, headers, body, depends_on: Vec::new() });
    }
    for i in 0..items.len() {
        let mut resolved = Vec::new();
        for d in &depends[i] {
            let j = items.iter().position(|it| it.id.eq_ignore_ascii_case(d)).ok_or_else(|| {
                bad(format!(
                    "Invalid batch payload: request '{}' depends on '{d}', which is not in the batch.",
                    items[i].id
                ))
            })?;
            if j == i {
                return Err(bad(format!(
                    "Invalid batch payload: request '{d}' depends on itself."
                )));
            }
            resolved.push(j);
        }
        items[i].depends_on = resolved;
    }
    Ok(items)
}

/// An order in which every request follows its dependencies (request order otherwise).
fn order(items: &[Item]) -> ApiResult<Vec<usize>> {
    let mut done = vec![false; items.len()];
    let mut out = Vec::with_capacity(items.len());
    while out.len() < items.len() {
        let next = (0..items.len())
            .find(|&i| !done[i] && items[i].depends_on.iter().all(|&d| done[d]))
            .ok_or_else(|| bad("Invalid batch payload: the dependsOn references form a cycle."))?;
        done[next] = true;
        out.push(next);
    }
    Ok(out)
}

/// Header names as Graph writes them in batch answers (`Content-Type`, `OData-Version`, but
/// `request-id`, `client-request-id` and `x-ms-…` as they are).
fn display_name(name: &str) -> String {
    if name == "odata-version" {
        return "OData-Version".into();
    }
    if name.starts_with("x-") || name == "request-id" || name == "client-request-id" {
        return name.to_string();
    }
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// An answer the batch gives for an item itself (not executed), in Graph's envelope.
fn synthetic(id: &str, code: ErrorCode, message: &str, client_request_id: Option<&str>) -> Value {
    let request_id = uuid::Uuid::new_v4().to_string();
    let crid = client_request_id.unwrap_or(&request_id).to_string();
    let body = error_body(code, message, None, &error_date(chrono::Utc::now()), &request_id, &crid);
    json!({
        "id": id,
        "status": code.status(),
        "headers": {
            "Content-Type": JSON_CONTENT_TYPE,
            "request-id": request_id,
            "client-request-id": crid,
            "Cache-Control": "no-cache",
        },
        "body": body,
    })
}

fn item_crid(item: &Item) -> Option<&str> {
    item.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("client-request-id"))
        .map(|(_, v)| v.as_str())
}

/// The mark a batch item's request carries: a `$batch` under it is refused whatever its URL
/// says (a URL check alone missed `/$batch#x`, whose fragment the router ignores).
#[derive(Clone, Copy, Debug)]
pub struct InBatch;

/// The path of an item's URL, for the nested-batch check.
fn is_nested_batch(url: &str) -> bool {
    let path = url.split('?').next().unwrap_or_default().trim_matches('/');
    let last = path.rsplit('/').next().unwrap_or_default();
    last.eq_ignore_ascii_case("$batch") || last.eq_ignore_ascii_case("%24batch")
}

fn build_request(item: &Item, version: ApiVersion, outer: &HeaderMap) -> Result<Request, String> {
    let lower = item.url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//") {
        return Err(format!(
            "The url '{}' of request '{}' must be relative to the batch (e.g. /users/{{id}}/teamwork/installedApps).",
            item.url, item.id
        ));
    }
    if item.url.contains('#') {
        return Err(format!(
            "The url '{}' of request '{}' must not contain a fragment ('#').",
            item.url, item.id
        ));
    }
    let uri = format!("/{}/{}", version.segment(), item.url.trim_start_matches('/'));
    let mut builder = Request::builder().method(item.method.clone()).uri(&uri).extension(InBatch);
    let headers = builder.headers_mut().ok_or_else(|| {
        format!("The url '{}' of request '{}' is not a valid URL.", item.url, item.id)
    })?;
    let mut content_type = None;
    for (k, v) in &item.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("The header name '{k}' of request '{}' is not valid.", item.id))?;
        let value = HeaderValue::from_str(v).map_err(|_| {
            format!("The header '{k}' of request '{}' has an invalid value.", item.id)
        })?;
        if name == axum::http::header::CONTENT_TYPE {
            content_type = Some(v.to_ascii_lowercase());
        }
        headers.insert(name, value);
    }
    for name in INHERITED {
        headers.remove(*name);
        if let Some(v) = outer.get(*name) {
            headers.insert(*name, v.clone());
        }
    }
    let body = match &item.body {
        None => Body::empty(),
        Some(value) => {
            let is_json = content_type.as_deref().is_some_and(|c| c.contains("json"));
            match value {
                Value::String(s) if !is_json => {
                    let engine = base64::engine::general_purpose::STANDARD;
                    let bytes = engine
                        .decode(s.trim())
                        .or_else(|_| {
                            base64::engine::general_purpose::STANDARD_NO_PAD.decode(s.trim())
                        })
                        .map_err(|_| {
                            format!("The body of request '{}' is not valid base64.", item.id)
                        })?;
                    Body::from(bytes)
                }
                other => Body::from(other.to_string()),
            }
        }
    };
    builder
        .body(body)
        .map_err(|_| format!("The url '{}' of request '{}' is not a valid URL.", item.url, item.id))
}

async fn answer(id: &str, res: Response) -> Value {
    let status = res.status().as_u16();
    let mut headers = Map::new();
    let mut is_json = false;
    for (name, value) in res.headers() {
        if name == axum::http::header::CONTENT_LENGTH {
            continue;
        }
        let Ok(v) = value.to_str() else { continue };
        if name == axum::http::header::CONTENT_TYPE {
            is_json = v.to_ascii_lowercase().contains("json");
        }
        headers.insert(display_name(name.as_str()), Value::String(v.to_string()));
    }
    let bytes = axum::body::to_bytes(res.into_body(), MAX_ITEM_RESPONSE).await.unwrap_or_default();
    let mut out = json!({"id": id, "status": status, "headers": Value::Object(headers)});
    if !bytes.is_empty() {
        let body = if is_json { serde_json::from_slice(&bytes).ok() } else { None }
            .or_else(|| std::str::from_utf8(&bytes).ok().map(|s| Value::String(s.to_string())))
            .unwrap_or_else(|| {
                Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes))
            });
        out["body"] = body;
    }
    out
}

/// The application router each item runs through, handed to the batch route by the router
/// that mounts it (so this module needs not know how the router is built).
#[derive(Clone, Copy)]
pub struct ItemRouter(pub fn(AppState) -> axum::Router);

/// `POST /{version}/$batch` (Graph operation "JSON batching").
pub async fn batch(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(ItemRouter(item_router)): Extension<ItemRouter>,
    in_batch: Option<Extension<InBatch>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if in_batch.is_some() {
        return Err(bad("A batch request cannot contain another $batch request."));
    }
    state.identity.authenticate(state.store.as_ref(), &headers).await?;
    let value = json_body(&headers, &body, state.config.max_json_bytes)?.ok_or_else(|| {
        bad("Invalid batch payload: the body is empty; send {\"requests\":[...]}.")
    })?;
    let items = parse(&value)?;
    let order = order(&items)?;

    let app = item_router(state.clone());
    let mut statuses: Vec<Option<u16>> = vec![None; items.len()];
    let mut answers: Vec<Option<Value>> = vec![None; items.len()];
    for i in order {
        let item = &items[i];
        let failed = item.depends_on.iter().find(|&&d| statuses[d].unwrap_or(500) >= 400);
        let out = if let Some(&d) = failed {
            synthetic(
                &item.id,
                ErrorCode::FailedDependency,
                &format!(
                    "The request '{}' was not executed because the request '{}' it depends on failed.",
                    item.id, items[d].id
                ),
                item_crid(item),
            )
        } else if is_nested_batch(&item.url) {
            synthetic(
                &item.id,
                ErrorCode::BadRequest,
                "A batch request cannot contain another $batch request.",
                item_crid(item),
            )
        } else {
            match build_request(item, version, &headers) {
                Err(message) => {
                    synthetic(&item.id, ErrorCode::BadRequest, &message, item_crid(item))
                }
                Ok(req) => {
                    let res = match app.clone().oneshot(req).await {
                        Ok(res) => res,
                        Err(never) => match never {},
                    };
                    answer(&item.id, res).await
                }
            }
        };
        statuses[i] = out["status"].as_u64().map(|s| s as u16);
        answers[i] = Some(out);
    }
    let responses: Vec<Value> = answers.into_iter().flatten().collect();
    Ok(json_response(StatusCode::OK, json!({ "responses": responses })))
}

//! Rendering of Graph JSON responses: entities, collections with paging and counts.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value};
use teamsapps_wire::odata::JSON_CONTENT_TYPE;
use teamsapps_wire::query::ODataQuery;

use crate::error::{ApiError, ApiResult};

pub fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", JSON_CONTENT_TYPE)], body.to_string()).into_response()
}

/// An entity with `@odata.context` first.
pub fn entity(context: String, mut body: Value) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context));
    if let Value::Object(fields) = &mut body {
        out.append(fields);
    }
    Value::Object(out)
}

/// The base URL the caller used, so links the caller follows come back to us.
pub fn base_url(headers: &HeaderMap) -> String {
    crate::identity::base_url(headers, &axum::http::Uri::default())
}

fn decode_skip_token(token: &str) -> ApiResult<usize> {
    let bad =
        || ApiError::bad_request("The $skiptoken is not valid; use the @odata.nextLink as given.");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    raw.strip_prefix("skip:").and_then(|n| n.parse().ok()).ok_or_else(bad)
}

/// A collection page: `$skiptoken` and `$top` slice it, `@odata.nextLink` points at the rest
/// (relative to the caller's base URL), `@odata.count` when asked or `always_count`.
pub struct Page<'a> {
    pub context: String,
    pub query: &'a ODataQuery,
    pub headers: &'a HeaderMap,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub always_count: bool,
}

impl Page<'_> {
    pub fn render(self, items: Vec<Value>) -> ApiResult<Response> {
        let total = items.len();
        let start = match &self.query.skip_token {
            Some(t) => decode_skip_token(t)?,
            None => 0,
        };
        let top = self.query.top.unwrap_or(usize::MAX);
        let page: Vec<Value> = items.into_iter().skip(start).take(top).collect();
        let next = start.saturating_add(page.len());
        let mut out = Map::new();
        out.insert("@odata.context".into(), Value::String(self.context));
        if self.query.count || self.always_count {
            out.insert("@odata.count".into(), Value::from(total));
        }
        if next < total && self.query.top.is_some() {
            let token =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("skip:{next}"));
            let kept: Vec<&str> = self
                .raw_query
                .split('&')
                .filter(|kv| {
                    let key = kv.split('=').next().unwrap_or_default();
                    !key.eq_ignore_ascii_case("$skiptoken")
                        && !key.eq_ignore_ascii_case("%24skiptoken")
                        && !kv.is_empty()
                })
                .collect();
            let mut q = kept.join("&");
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&format!("$skiptoken={token}"));
            out.insert(
                "@odata.nextLink".into(),
                Value::String(format!("{}{}?{q}", base_url(self.headers), self.path)),
            );
        }
        out.insert("value".into(), Value::Array(page));
        Ok(json_response(StatusCode::OK, Value::Object(out)))
    }
}

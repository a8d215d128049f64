//! Response headers every Graph response carries (spec 1.3, 8.1) and rendering of error bodies
//! with the request's ids.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, DATE, STRICT_TRANSPORT_SECURITY};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use teamsapps_wire::error::{error_body, error_date, ErrorCode};
use teamsapps_wire::odata::{JSON_CONTENT_TYPE, ODATA_VERSION};
use tracing::Instrument;

use crate::error::ApiError;

const DIAGNOSTIC: &str = r#"{"ServerInfo":{"DataCenter":"Local","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"teamsapps"}}"#;

// Names parsed once: `insert("name", …)` parses (and lower-cases) the name on every call.
const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");
const DIAGNOSTIC_HEADER: HeaderName = HeaderName::from_static("x-ms-ags-diagnostic");
const ODATA_VERSION_HEADER: HeaderName = HeaderName::from_static("odata-version");

/// The HTTP date (RFC 9110 IMF-fixdate) of `t`, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`: the
/// fields written directly, as a strftime pattern is parsed again on every use.
fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday().num_days_from_monday() as usize],
        t.day(),
        MONTHS[t.month0() as usize],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The ids of one request, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: String,
    pub client_request_id: String,
}

fn client_request_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(&CLIENT_REQUEST_ID)?.to_str().ok()?.trim();
    // Echo only sane values: header injection and unbounded echoes are refused.
    (!v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| v.to_string())
}

/// The request header that asks for explained denials.
pub const EXPLAIN_HEADER: &str = "x-teamsapps-explain-denials";
const EXPLAIN: HeaderName = HeaderName::from_static(EXPLAIN_HEADER);

/// Sets Graph's headers and error envelope on every response, and runs the request in a
/// `request` span (request id, method, path; the authorization extractor adds the operation,
/// tenant and app) that ends with one `info` line of target `teamsapps::request`.
/// `explain_denials` is the node's `--explain-denials`.
pub async fn graph_headers(
    axum::extract::State(explain_denials): axum::extract::State<bool>,
    mut req: Request,
    next: Next,
) -> Response {
    let explain = explain_denials
        || req
            .headers()
            .get(&EXPLAIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1");
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = client_request_id(req.headers()).unwrap_or_else(|| request_id.clone());
    let ids =
        RequestIds { request_id: request_id.clone(), client_request_id: client_request_id.clone() };
    req.extensions_mut().insert(ids);
    let method = req.method().clone();
    // Only the logs below use the path: no copy when they are off.
    let path = if tracing::enabled!(tracing::Level::INFO) {
        req.uri().path().to_string()
    } else {
        String::new()
    };
    let started = std::time::Instant::now();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method,
        path = %path, operation = tracing::field::Empty, tenant = tracing::field::Empty,
        app = tracing::field::Empty);

    let mut res = next.run(req).instrument(span.clone()).await;

    let now = chrono::Utc::now();
    // The router answers unrouted methods with a bare 405: give it Graph's envelope.
    if res.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED
        && res.extensions().get::<ApiError>().is_none()
    {
        let allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        res.extensions_mut().insert(ApiError::method_not_allowed(&allow));
    }
    // Any other framework rejection (e.g. a path that is not UTF-8) leaves as plain text:
    // give it Graph's envelope, keeping its explanation.
    if res.status().is_client_error() && res.extensions().get::<ApiError>().is_none() {
        let is_json = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            let status = res.status();
            let body = std::mem::take(res.body_mut());
            let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&text).trim().to_string();
            let code = match status.as_u16() {
                404 => ErrorCode::NotFound,
                413 => ErrorCode::RequestEntityTooLarge,
                415 => ErrorCode::UnsupportedMediaType,
                _ => ErrorCode::BadRequest,
            };
            let message =
                if text.is_empty() { "The request is not valid.".to_string() } else { text };
            *res.status_mut() = axum::http::StatusCode::from_u16(code.status()).unwrap_or(status);
            res.extensions_mut().insert(ApiError::new(code, message));
        }
    }
    if let Some(mut err) = res.extensions_mut().remove::<ApiError>() {
        let explanation = if explain { err.explanation.take() } else { None };
        if let Some(x) = &explanation {
            err.message = format!("{} {}", err.message, x.sentence());
        }
        let mut body = error_body(
            err.code,
            &err.message,
            err.extra.as_deref(),
            &error_date(now),
            &request_id,
            &client_request_id,
        );
        if let (Some(x), Some(inner)) = (&explanation, body["error"]["innerError"].as_object_mut())
        {
            inner.insert("teamsappsExplanation".into(), x.to_json());
        }
        *res.body_mut() = Body::from(body.to_string());
        res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
        tracing::info!(target: "teamsapps::request", parent: &span, status = res.status().as_u16(),
            code = err.code.as_str(), message = %err.message,
            latency_us = started.elapsed().as_micros() as u64, "request refused");
    } else {
        tracing::info!(target: "teamsapps::request", parent: &span, status = res.status().as_u16(),
            latency_us = started.elapsed().as_micros() as u64, "request served");
    }
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(REQUEST_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(&client_request_id) {
        h.insert(CLIENT_REQUEST_ID, v);
    }
    h.insert(DIAGNOSTIC_HEADER, HeaderValue::from_static(DIAGNOSTIC));
    // Token responses set their own (no-store); keep it.
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    h.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    if let Ok(v) = HeaderValue::from_str(&http_date(now)) {
        h.insert(DATE, v);
    }
    // OData-Version belongs to Graph's OData responses, not to the identity endpoints.
    let is_json = h
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json;odata"));
    if is_json {
        h.insert(ODATA_VERSION_HEADER, HeaderValue::from_static(ODATA_VERSION));
    }
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates_read_as_strftime_writes_them() {
        for (secs, nanos) in
            [(0, 0), (784_111_777, 5), (1_700_000_000, 999_999_999), (4_102_444_799, 0)]
        {
            let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap();
            assert_eq!(super::http_date(t), t.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
        }
    }
}

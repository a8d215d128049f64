//! The Graph error-code catalog and the error envelope (spec section 7).
//!
//! Every code a response may carry is one row here: its wire string and HTTP status. Messages
//! are chosen where the error is raised; codes come only from the spec.

use serde::Serialize;
use serde_json::{json, Map, Value};

macro_rules! error_codes {
    ($($variant:ident => ($status:expr, $wire:expr)),+ $(,)?) => {
        /// A Graph top-level `error.code`, with its HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];
            pub fn status(self) -> u16 { match self { $(ErrorCode::$variant => $status),+ } }
            pub fn as_str(self) -> &'static str { match self { $(ErrorCode::$variant => $wire),+ } }
        }
    };
}

error_codes! {
    BadRequest => (400, "BadRequest"),
    InvalidAuthenticationToken => (401, "InvalidAuthenticationToken"),
    Forbidden => (403, "Forbidden"),
    AccessDenied => (403, "AccessDenied"),
    NotFound => (404, "NotFound"),
    MethodNotAllowed => (405, "MethodNotAllowed"),
    Conflict => (409, "Conflict"),
    PreconditionFailed => (412, "PreconditionFailed"),
    RequestEntityTooLarge => (413, "RequestEntityTooLarge"),
    UnsupportedMediaType => (415, "UnsupportedMediaType"),
    FailedDependency => (424, "FailedDependency"),
    TooManyRequests => (429, "TooManyRequests"),
    InternalServerError => (500, "InternalServerError"),
    NotImplemented => (501, "NotImplemented"),
    BadGateway => (502, "BadGateway"),
    ServiceUnavailable => (503, "ServiceUnavailable"),
    GatewayTimeout => (504, "GatewayTimeout"),
    // The directory workload's codes (users, groups; lifecycle spec 1.1, 1.2).
    RequestBadRequest => (400, "Request_BadRequest"),
    RequestUnsupportedQuery => (400, "Request_UnsupportedQuery"),
    AuthorizationRequestDenied => (403, "Authorization_RequestDenied"),
    RequestResourceNotFound => (404, "Request_ResourceNotFound"),
}

/// One entry of `innerError.details[]` (manifest validation, spec section 11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub target: String,
}

/// Extra data some errors nest in `innerError` (manifest errors add code, message, details).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InnerExtra {
    pub code: Option<String>,
    pub message: Option<String>,
    pub details: Vec<ErrorDetail>,
    /// `innerError.status` (429 carries `"429"`, spec 8.2).
    pub status: Option<String>,
}

/// Renders Graph's error envelope:
/// `{"error":{"code","message","innerError":{[code,message,details,]date,request-id,client-request-id}}}`.
pub fn error_body(
    code: ErrorCode,
    message: &str,
    extra: Option<&InnerExtra>,
    date: &str,
    request_id: &str,
    client_request_id: &str,
) -> Value {
    let mut inner = Map::new();
    if let Some(extra) = extra {
        if let Some(c) = &extra.code {
            inner.insert("code".into(), json!(c));
        }
        if let Some(m) = &extra.message {
            inner.insert("message".into(), json!(m));
        }
        if !extra.details.is_empty() {
            inner.insert("details".into(), json!(extra.details));
        }
        if let Some(st) = &extra.status {
            inner.insert("status".into(), json!(st));
        }
    }
    inner.insert("date".into(), json!(date));
    inner.insert("request-id".into(), json!(request_id));
    inner.insert("client-request-id".into(), json!(client_request_id));
    json!({"error": {"code": code.as_str(), "message": message, "innerError": Value::Object(inner)}})
}

/// `innerError.date`: UTC, no fraction, no offset (spec 7.1).
pub fn error_date(now: chrono::DateTime<chrono::Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_client_or_server_error_status() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.status()), "{code:?}");
            assert!(!code.as_str().is_empty());
        }
    }

    #[test]
    fn envelope_has_the_graph_shape() {
        let body = error_body(ErrorCode::NotFound, "gone", None, "2024-01-23T18:55:17", "r", "c");
        assert_eq!(
            body,
            json!({"error":{"code":"NotFound","message":"gone","innerError":{
                "date":"2024-01-23T18:55:17","request-id":"r","client-request-id":"c"}}})
        );
    }
}

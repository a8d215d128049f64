//! The one place where domain outcomes become Graph errors (status, code, message, envelope).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use teamsapps_core::CoreError;
use teamsapps_wire::error::{ErrorCode, InnerExtra};

/// A Graph error about to be rendered. The headers middleware fills in `request-id`,
/// `client-request-id` and `date` (it owns them), so handlers only say what went wrong.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Boxed: rare, and it would make every `Result<_, ApiError>` large.
    pub extra: Option<Box<InnerExtra>>,
    /// Extra response headers (e.g. `Allow` on 405).
    pub headers: Vec<(&'static str, String)>,
    /// Why a 403 was refused; shown only when explanations are asked for.
    pub explanation: Option<Box<Explanation>>,
}

/// A refusal explained for developers (`--explain-denials` or the request header).
#[derive(Debug, Clone)]
pub struct Explanation {
    pub rule: &'static str,
    pub would_allow: Vec<&'static str>,
    pub held: Vec<String>,
}

impl Explanation {
    pub fn sentence(&self) -> String {
        let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        let allow: Vec<String> = self.would_allow.iter().map(|s| s.to_string()).collect();
        format!(
            "[teamsapps explanation] Refused by the {} rule. Permissions that would allow this call: {}. Permissions on the token: {}.",
            self.rule,
            list(&allow),
            list(&self.held)
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "rule": self.rule, "wouldAllow": self.would_allow, "held": self.held,
        })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A query option that does not parse: 400 with the parser's explanation.
pub fn query_error(e: teamsapps_wire::query::QueryError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

impl ApiError {
    /// 501 for a documented Graph operation teamsapps does not serve yet.
    pub fn not_implemented(what: &str) -> ApiError {
        ApiError::new(
            ErrorCode::NotImplemented,
            format!("teamsapps does not implement {what} yet; see docs/coverage.md."),
        )
    }

    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            extra: None,
            headers: Vec::new(),
            explanation: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn method_not_allowed(allow: &str) -> Self {
        if allow.is_empty() {
            // The router adds `Allow` itself once the response leaves it.
            return Self::new(
                ErrorCode::MethodNotAllowed,
                "The HTTP method is not supported on this resource.",
            );
        }
        let mut e = Self::new(
            ErrorCode::MethodNotAllowed,
            format!("The HTTP method is not supported on this resource. Allowed: {allow}."),
        );
        e.headers.push(("allow", allow.to_string()));
        e
    }
}

/// `Retry-After` as Graph sends it: seconds, fractional allowed (spec 8.2, sample `2.128`).
pub fn retry_after_text(seconds: f64) -> String {
    let s = format!("{:.3}", seconds.max(0.001));
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

impl ApiError {
    /// Graph's throttling answer (spec 8.2): 429 `TooManyRequests` with the nested innerError
    /// code, message and status, and `Retry-After`.
    pub fn too_many_requests(retry_after: f64) -> Self {
        let mut e = Self::new(ErrorCode::TooManyRequests, "Please retry again later.");
        e.extra = Some(Box::new(InnerExtra {
            code: Some("429".into()),
            message: Some("Please retry after".into()),
            details: Vec::new(),
            status: Some("429".into()),
        }));
        e.headers.push(("retry-after", retry_after_text(retry_after)));
        e
    }

    /// A transient failure injected by `--fault-rate` or a fault rule: 429, 500, 502, 503 or
    /// 504 in Graph's envelope (429 and 503 with `Retry-After`).
    pub fn transient(status: u16, retry_after: f64) -> Self {
        match status {
            429 => Self::too_many_requests(retry_after),
            503 => {
                let mut e = Self::new(
                    ErrorCode::ServiceUnavailable,
                    "The service is temporarily unavailable. Please retry later.",
                );
                e.headers.push(("retry-after", retry_after_text(retry_after)));
                e
            }
            502 => Self::new(ErrorCode::BadGateway, "The service failed to respond in time."),
            504 => Self::new(ErrorCode::GatewayTimeout, "The request timed out."),
            _ => Self::new(
                ErrorCode::InternalServerError,
                "An internal server error occurred. Please retry.",
            ),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        match err {
            CoreError::Unauthenticated(m) => {
                ApiError::new(ErrorCode::InvalidAuthenticationToken, m)
            }
            CoreError::MissingPermission { delegated, accepted, held } => {
                let (accepted_list, held_list) = (accepted.clone(), held.clone());
                let accepted = accepted.join(", ");
                let held = held.join(", ");
                // Observed texts (spec 5.7): note "requires" vs "required" (sic).
                let message = if delegated {
                    format!("Missing scope permissions on the request. API requires one of '{accepted}'. Scopes on the request '{held}'")
                } else {
                    format!("Missing role permissions on the request. API required one of '{accepted}'. Roles on the request '{held}'")
                };
                let mut e = ApiError::new(ErrorCode::Forbidden, message);
                e.explanation = Some(Box::new(Explanation {
                    rule: "permission (the token holds none of the accepted permissions)",
                    would_allow: accepted_list,
                    held: held_list,
                }));
                e
            }
            CoreError::Forbidden(m) => ApiError::new(ErrorCode::Forbidden, m),
            CoreError::Denied { message, access_denied, rule, would_allow, held } => {
                let code =
                    if access_denied { ErrorCode::AccessDenied } else { ErrorCode::Forbidden };
                let mut e = ApiError::new(code, message);
                e.explanation = Some(Box::new(Explanation { rule, would_allow, held }));
                e
            }
            CoreError::NotFound(m) => ApiError::new(ErrorCode::NotFound, m),
            CoreError::BadRequest(m) => ApiError::new(ErrorCode::BadRequest, m),
            CoreError::InvalidManifest(details) => {
                let joined = details
                    .iter()
                    .map(|d| format!("{} | {}", d.target, d.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut e = ApiError::new(ErrorCode::BadRequest, joined.clone());
                e.extra = Some(Box::new(InnerExtra {
                    code: Some("UnableToParseTeamsAppManifest".into()),
                    message: Some(joined),
                    details,
                    status: None,
                }));
                e
            }
            CoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            CoreError::PreconditionFailed(m) => ApiError::new(ErrorCode::PreconditionFailed, m),
            CoreError::UnsupportedMediaType(m) => ApiError::new(ErrorCode::UnsupportedMediaType, m),
            CoreError::PayloadTooLarge(m) => ApiError::new(ErrorCode::RequestEntityTooLarge, m),
            CoreError::NotImplemented(m) => ApiError::new(ErrorCode::NotImplemented, m),
            CoreError::Graph(code, m) => ApiError::new(code, m),
            CoreError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                ApiError::new(
                    ErrorCode::InternalServerError,
                    "The service hit an internal error; the request may not have completed.",
                )
            }
            CoreError::Store(e) => {
                // The cause goes to the log, never to the client.
                tracing::error!(error = ?e, "storage failure");
                ApiError::new(
                    ErrorCode::InternalServerError,
                    "The service could not complete the request because its store failed.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut res = status.into_response();
        for (name, value) in &self.headers {
            if let Ok(v) = value.parse() {
                res.headers_mut().insert(*name, v);
            }
        }
        // The headers middleware renders the body once it knows the request ids.
        res.extensions_mut().insert(self);
        res
    }
}

//! Domain outcomes. The api crate turns each into exactly one Graph error (one place).

use teamsapps_wire::error::ErrorDetail;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// 401 `InvalidAuthenticationToken`.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403 `Forbidden` naming the accepted permissions and what the token holds (spec 5.7).
    #[error("missing permission")]
    MissingPermission { delegated: bool, accepted: Vec<&'static str>, held: Vec<String> },
    /// 403 `Forbidden` without a rule to explain (kept for refusals outside the permission model).
    #[error("{0}")]
    Forbidden(String),
    /// 403 refused by a rule of the permission model. `message` is what Graph says; the rest
    /// explains the refusal to developers when they ask (`--explain-denials`).
    #[error("{message}")]
    Denied {
        message: String,
        /// `AccessDenied` instead of `Forbidden` (app-only tokens on catalog writes, spec E16).
        access_denied: bool,
        /// Which rule refused: `Self`, `Selected`, `consent`, `membership`, `admin`, …
        rule: &'static str,
        /// Accepted permissions that would have allowed this call.
        would_allow: Vec<&'static str>,
        /// What the token holds.
        held: Vec<String>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// 400 `BadRequest` with innerError `UnableToParseTeamsAppManifest` (spec section 11).
    #[error("invalid manifest")]
    InvalidManifest(Vec<ErrorDetail>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    NotImplemented(String),
    /// An answer with its own Graph code (the directory workload's `Request_*` and
    /// `Authorization_RequestDenied`).
    #[error("{1}")]
    Graph(teamsapps_wire::error::ErrorCode, String),
    /// A bug: 500 `InternalServerError` (never a refusal a client could act on).
    #[error("internal error: {0}")]
    Internal(String),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

pub type CoreResult<T> = Result<T, CoreError>;

/// A 403 `Forbidden` refused by `rule`.
pub fn denied(
    message: impl Into<String>,
    rule: &'static str,
    would_allow: Vec<&'static str>,
    held: &[String],
) -> CoreError {
    CoreError::Denied {
        message: message.into(),
        access_denied: false,
        rule,
        would_allow,
        held: held.to_vec(),
    }
}

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
    /// 403 `Forbidden`.
    #[error("{0}")]
    Forbidden(String),
    /// 403 `AccessDenied` (app-only tokens on publish/update/delete, spec E16).
    #[error("{0}")]
    AccessDenied(String),
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
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

pub type CoreResult<T> = Result<T, CoreError>;

//! Query errors: every message is client-facing (400 `BadRequest`).

use std::fmt;

/// A malformed or unsupported query; the message is client-facing (400 `BadRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

pub(super) fn err<T>(msg: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(msg.into()))
}

pub(super) fn invalid_filter<T>(detail: impl fmt::Display) -> Result<T, QueryError> {
    err(format!("Invalid filter clause: {detail}"))
}

pub(super) fn not_found<T>(name: &str, type_name: &str) -> Result<T, QueryError> {
    err(format!("Could not find a property named '{name}' on type '{type_name}'."))
}

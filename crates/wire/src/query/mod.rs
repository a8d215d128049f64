//! The OData query language for this surface (spec sections 1.4, 3.1, 4, 9): parsing of the
//! system query options `$filter`, `$select`, `$expand`, `$top`, `$skiptoken` and `$count`,
//! validation against the static metadata (`crate::metadata`), evaluation of `$filter` on
//! `serde_json::Value` entities, response shaping and the `@odata.context` suffix.
//!
//! Entities are evaluated and shaped from their *full* JSON: every structural property plus every
//! navigation materialised under its name (object, array, or null/absent).
//!
//! `options` parses a request's query (and uses `parser` for `$filter`, whose tree is `ast`);
//! `eval` evaluates a filter, `shape` applies `$select`/`$expand`; `error` is their error.

mod ast;
mod error;
mod eval;
mod options;
mod parser;
mod shape;
#[cfg(test)]
mod tests;

pub use ast::{CmpOp, Expr, LambdaKind, Literal, Operand, PropertyPath, StringFn};
pub use error::QueryError;
pub use options::{decode_query_component, ExpandItem, ODataQuery, MAX_TOP};
pub use shape::shape;

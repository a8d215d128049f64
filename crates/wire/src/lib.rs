//! Graph wire types only: OData constants and envelopes, the error-code catalog, the OData query
//! language. No IO, no HTTP framework, no SQL.

pub mod error;
pub mod metadata;
pub mod odata;
pub mod query;

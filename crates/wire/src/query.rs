//! placeholder: the OData query language (filled in by the query module work).

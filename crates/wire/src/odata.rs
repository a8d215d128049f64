//! OData constants shared by every response (spec sections 1.3, 1.4).

/// The full JSON media type Graph returns.
pub const JSON_CONTENT_TYPE: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
pub const ODATA_VERSION: &str = "4.0";
/// Graph's public service root; `@odata.context` and binds are written against it.
pub const GRAPH_HOST: &str = "https://graph.microsoft.com";

/// The API versions served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    V1,
    Beta,
}

impl ApiVersion {
    pub fn segment(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }

    /// `https://graph.microsoft.com/v1.0/$metadata#` + `fragment`.
    pub fn context(self, fragment: &str) -> String {
        format!("{GRAPH_HOST}/{}/$metadata#{fragment}", self.segment())
    }
}

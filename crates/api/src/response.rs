//! Rendering of Graph JSON responses: entities, collections with paging and counts.

use std::cmp::Ordering;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use teamsapps_wire::odata::JSON_CONTENT_TYPE;
use teamsapps_wire::query::ODataQuery;

use crate::error::{ApiError, ApiResult};

pub fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, JSON_CONTENT_TYPE)], body.to_string())
        .into_response()
}

/// An entity with `@odata.context` first.
pub fn entity(context: String, mut body: Value) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context));
    if let Value::Object(fields) = &mut body {
        out.append(fields);
    }
    Value::Object(out)
}

/// The base URL the caller used, so links the caller follows come back to us.
pub fn base_url(headers: &HeaderMap) -> String {
    crate::identity::base_url(headers, &axum::http::Uri::default())
}

/// Where a page ends: the sort key of its last item, bound to the list it came from. Keyset
/// rather than offset, so items added or removed between pages neither repeat nor go missing
/// (an item that existed for the whole walk is seen exactly once).
struct SkipToken {
    after: String,
}

const TOKEN_VERSION: &str = "k1";

impl SkipToken {
    /// `k1 \n check \n after` (the key last: it may hold anything), base64url. The check binds
    /// the position to the list and its query: a token from another list, `$filter` or page
    /// size, or an edited one, is refused. A checksum, not a secret: a token only ever names a
    /// position in a list the caller may read anyway.
    fn encode(&self, list: &str) -> String {
        let check = checksum(list, &self.after);
        URL_SAFE_NO_PAD.encode(format!("{TOKEN_VERSION}\n{check}\n{}", self.after))
    }

    fn decode(token: &str, list: &str) -> Option<Self> {
        let raw = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let mut parts = raw.splitn(3, '\n');
        (parts.next()? == TOKEN_VERSION).then_some(())?;
        let check = parts.next()?;
        let after = parts.next()?.to_string();
        (check == checksum(list, &after)).then_some(SkipToken { after })
    }
}

/// The list a token belongs to: path and query without the token, percent-decoded so that a
/// client re-encoding the nextLink (`'` vs `%27`) still matches.
fn list_identity(path: &str, kept_query: &str) -> String {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let pairs: Vec<String> = kept_query.split('&').map(decode).collect();
    format!("{}?{}", decode(path), pairs.join("\n"))
}

/// Names one position in one list.
fn checksum(list: &str, after: &str) -> String {
    let digest = Sha256::digest(format!("{list}\n{after}"));
    digest.iter().take(9).map(|b| format!("{b:02x}")).collect()
}

fn bad_skip_token() -> ApiError {
    ApiError::bad_request("The $skiptoken is not valid; use the @odata.nextLink as given.")
}

/// The raw query without its `$skiptoken`, as the nextLink carries it.
fn query_without_token(raw_query: &str) -> String {
    raw_query
        .split('&')
        .filter(|kv| {
            // Keys as the query parser reads them: percent-decoded, trimmed, any case.
            let key = kv.split('=').next().unwrap_or_default();
            let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
            !kv.is_empty() && !key.trim().eq_ignore_ascii_case("$skiptoken")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A collection page: `$skiptoken` and `$top` slice it, `@odata.nextLink` points at the rest
/// (relative to the caller's base URL), `@odata.count` when asked or `always_count`.
pub struct Page<'a> {
    pub context: String,
    pub query: &'a ODataQuery,
    pub headers: &'a HeaderMap,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub always_count: bool,
    /// The list's order over item keys; the keys must be unique within the list.
    pub order: fn(&str, &str) -> Ordering,
    /// The page size without `$top` (the directory's lists page by default); `None`: all.
    pub default_top: Option<usize>,
}

/// Byte order of keys, for lists keyed by id.
pub fn by_id(a: &str, b: &str) -> Ordering {
    a.cmp(b)
}

/// Version order ("1.0" and "1.0.0" are equal versions but distinct keys), for definitions.
pub fn by_version(a: &str, b: &str) -> Ordering {
    teamsapps_core::version::compare(a, b).then_with(|| a.cmp(b))
}

impl Page<'_> {
    /// Renders `items`, each with its unique sort key.
    pub fn render(self, items: Vec<(String, Value)>) -> ApiResult<Response> {
        let mut values: Vec<Option<Value>> = Vec::with_capacity(items.len());
        let keys = items
            .into_iter()
            .enumerate()
            .map(|(i, (key, value))| {
                values.push(Some(value));
                (key, i)
            })
            .collect();
        self.render_with(keys, |i| values[i].take().unwrap_or(Value::Null))
    }

    /// Renders the items named by `keys` (sort key, index), building only those on the page
    /// with `build(index)`: a page of a large list costs its own items, not the whole list's.
    pub fn render_with(
        self,
        mut items: Vec<(String, usize)>,
        mut build: impl FnMut(usize) -> Value,
    ) -> ApiResult<Response> {
        let order = self.order;
        items.sort_by(|a, b| order(&a.0, &b.0));
        let total = items.len();
        let start = match self.after()? {
            Some(after) => items.partition_point(|(k, _)| order(k, &after) != Ordering::Greater),
            None => 0,
        };
        let end = start.saturating_add(self.top()).min(total);
        let last = (end > start).then(|| items[end - 1].0.clone());
        let page: Vec<Value> = items[start..end].iter().map(|(_, i)| build(*i)).collect();
        self.render_page(page, last.filter(|_| end < total), Some(total))
    }

    /// The key the request's `$skiptoken` continues after (refused when it is not this list's).
    pub fn after(&self) -> ApiResult<Option<String>> {
        let list = list_identity(self.path, &query_without_token(self.raw_query));
        self.query
            .skip_token
            .as_deref()
            .map(|t| SkipToken::decode(t, &list).map(|t| t.after).ok_or_else(bad_skip_token))
            .transpose()
    }

    /// The page size: `$top`, else the list's default, else all.
    pub fn top(&self) -> usize {
        self.query.top.or(self.default_top).unwrap_or(usize::MAX)
    }

    /// Renders one page already cut (by the store, say): `more_after` is the page's last key
    /// when more items follow it, `total` the list's length when known (for `@odata.count`).
    pub fn render_page(
        self,
        page: Vec<Value>,
        more_after: Option<String>,
        total: Option<usize>,
    ) -> ApiResult<Response> {
        let mut out = Map::new();
        out.insert("@odata.context".into(), Value::String(self.context));
        if self.query.count || self.always_count {
            out.insert("@odata.count".into(), Value::from(total.unwrap_or(page.len())));
        }
        // An empty page ($top=0) has no last key: no link, or a client would loop forever.
        if let Some(after) = more_after.filter(|_| !page.is_empty()) {
            let kept = query_without_token(self.raw_query);
            let token = SkipToken { after }.encode(&list_identity(self.path, &kept));
            let mut q = kept;
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&format!("$skiptoken={token}"));
            out.insert(
                "@odata.nextLink".into(),
                Value::String(format!("{}{}?{q}", base_url(self.headers), self.path)),
            );
        }
        out.insert("value".into(), Value::Array(page));
        Ok(json_response(StatusCode::OK, Value::Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_drops_every_spelling_of_the_old_token() {
        assert_eq!(
            query_without_token("$top=1&$SkipToken=a&%24skiptoken=b&%24skip%74oken=c&$count=true&"),
            "$top=1&$count=true"
        );
    }

    #[test]
    fn a_token_names_one_position_in_one_list() {
        let list = list_identity("/v1.0/teams/t/installedApps", "$top=1&$filter=a%20eq%20'b'");
        let token = SkipToken { after: "x\ny".into() }.encode(&list);
        assert_eq!(SkipToken::decode(&token, &list).map(|t| t.after).as_deref(), Some("x\ny"));
        // The same list with the query re-encoded by a client.
        let same = list_identity("/v1.0/teams/t/installedApps", "$top=1&$filter=a eq %27b%27");
        assert!(SkipToken::decode(&token, &same).is_some());
        let other = list_identity("/v1.0/teams/t/installedApps", "$top=2&$filter=a eq 'b'");
        assert!(SkipToken::decode(&token, &other).is_none());
        assert!(SkipToken::decode("bm9wZQ", &list).is_none());
    }
}

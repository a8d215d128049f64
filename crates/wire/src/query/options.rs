//! The system query options of a request: `$filter`, `$select`, `$expand` (with nested
//! options), `$top`, `$skiptoken` and `$count`, validated against the static metadata, and the
//! `@odata.context` suffix they imply.

use serde_json::Value;

use super::ast::Expr;
use super::error::{err, not_found, QueryError};
use super::eval::passes;
use super::parser::{parse_filter, MAX_DEPTH};
use crate::metadata::EntityType;
use crate::odata::ApiVersion;

/// Largest accepted `$top` (spec section 9 [I]).
pub const MAX_TOP: usize = 999;

/// The parsed system query options of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ODataQuery {
    pub filter: Option<Expr>,
    /// Canonical property names (and `*`), in request order, without duplicates.
    pub select: Option<Vec<String>>,
    pub expand: Vec<ExpandItem>,
    pub top: Option<usize>,
    pub skip_token: Option<String>,
    pub count: bool,
}

/// One `$expand` item with its nested options.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandItem {
    /// Canonical navigation name.
    pub navigation: String,
    pub select: Option<Vec<String>>,
    pub expand: Vec<ExpandItem>,
    /// Nested `$filter`: filters the items of an expanded collection; on a single-valued
    /// navigation a non-matching target is omitted.
    pub filter: Option<Expr>,
}

impl ODataQuery {
    /// `raw` is the raw URL query string (still percent-encoded, `+` means space; a leading `?`
    /// is tolerated). Only `$`-prefixed system options are interpreted (option names are
    /// case-insensitive); other parameters (e.g. `requiresReview`) are ignored.
    pub fn parse(
        raw: &str,
        ty: &'static EntityType,
        version: ApiVersion,
    ) -> Result<Self, QueryError> {
        let raw = raw.strip_prefix('?').unwrap_or(raw);
        let mut seen: Vec<String> = Vec::new();
        let (mut filter, mut select, mut expand) = (None, None, None);
        let mut query = ODataQuery::default();
        for pair in raw.split('&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = match decode_query_component(k) {
                Ok(key) => key,
                Err(e) if k.starts_with('$') || k.starts_with("%24") => return Err(e),
                Err(_) => continue,
            };
            let key = key.trim();
            if !key.starts_with('$') {
                continue;
            }
            let lower = key.to_ascii_lowercase();
            if seen.contains(&lower) {
                return err(format!(
                    "Query option '{key}' was specified more than once, but it must be specified at most once."
                ));
            }
            match lower.as_str() {
                "$filter" | "$select" | "$expand" | "$top" | "$skiptoken" | "$count" => {}
                _ => {
                    return err(format!("Query option '{key}' is not supported on this resource."))
                }
            }
            seen.push(lower.clone());
            let value = decode_query_component(v)?;
            if value.trim().is_empty() {
                return err(format!("The value of query option '{key}' must not be empty."));
            }
            match lower.as_str() {
                "$filter" => filter = Some(value),
                "$select" => select = Some(value),
                "$expand" => expand = Some(value),
                "$top" => query.top = Some(parse_top(value.trim())?),
                "$count" => query.count = parse_count(value.trim())?,
                _ => query.skip_token = Some(value),
            }
        }
        if let Some(src) = expand {
            query.expand = parse_expand(&src, ty, version, 0)?;
        }
        if let Some(src) = select {
            query.select = Some(parse_select(&src, ty, &query.expand)?);
        }
        if let Some(src) = filter {
            query.filter = Some(parse_filter(&src, ty, version)?);
        }
        Ok(query)
    }

    /// The context-URL suffix for `$select`/`$expand` per OData minimal metadata, e.g.
    /// `(appDefinitions(bot()))`, `(consentedPermissionSet,id)`, `(teamsAppDefinition())`;
    /// empty without `$select`/`$expand`.
    pub fn context_suffix(&self) -> String {
        parenthesise(context_items(self.select.as_deref(), &self.expand))
    }

    /// The context suffix installation responses carry: nested expansions are not named
    /// (`$expand=teamsAppDefinition($expand=bot)` gives `(teamsAppDefinition())`, as the chat
    /// docs show), while catalog responses name them (`(appDefinitions(bot()))`). Graph's
    /// workloads differ; each follows its documented form (spec 3.1, 4.2).
    pub fn shallow_context_suffix(&self) -> String {
        let mut items: Vec<String> = self
            .select
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|s| !self.expand.iter().any(|e| e.navigation == **s))
            .cloned()
            .collect();
        for e in &self.expand {
            let inner = e.select.as_deref().unwrap_or_default().join(",");
            items.push(format!("{}({inner})", e.navigation));
        }
        parenthesise(items)
    }

    /// Whether `entity` (full JSON) passes `$filter` (true without a filter).
    pub fn matches(&self, entity: &Value) -> bool {
        passes(self.filter.as_ref(), entity)
    }
}

impl ExpandItem {
    /// The suffix for this navigation's own context URL (e.g. `appDefinitions@odata.context`
    /// ends in `/appDefinitions(id,authorization)`): `(id,authorization)`, or empty.
    pub fn context_suffix(&self) -> String {
        parenthesise(context_items(self.select.as_deref(), &self.expand))
    }
}

fn parenthesise(items: Vec<String>) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("({})", items.join(","))
    }
}

fn context_items(select: Option<&[String]>, expand: &[ExpandItem]) -> Vec<String> {
    let mut items: Vec<String> = select
        .unwrap_or_default()
        .iter()
        .filter(|s| !expand.iter().any(|e| e.navigation == **s))
        .cloned()
        .collect();
    for e in expand {
        let inner = context_items(e.select.as_deref(), &e.expand).join(",");
        items.push(format!("{}({inner})", e.navigation));
    }
    items
}

/// Decodes one query-string component: `%XX` escapes and `+` as space. A `%` not followed by
/// two hex digits is kept literally; the decoded bytes must be UTF-8.
pub fn decode_query_component(s: &str) -> Result<String, QueryError> {
    fn hex(b: Option<&u8>) -> Option<u8> {
        let b = *b?;
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| QueryError("The query string is not valid UTF-8.".into()))
}

fn parse_top(v: &str) -> Result<usize, QueryError> {
    let n = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse::<usize>().ok()
    } else {
        None
    };
    match n {
        Some(n) if n <= MAX_TOP => Ok(n),
        Some(_) => err(format!(
            "The limit of '{MAX_TOP}' for Top query has been exceeded. The value from the incoming request is '{v}'."
        )),
        None => err(format!(
            "Invalid value '{v}' for $top query option found. The $top query option requires a non-negative integer value."
        )),
    }
}

fn parse_count(v: &str) -> Result<bool, QueryError> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        err(format!("'{v}' is not a valid count option."))
    }
}

/// Splits `s` on `sep` outside parentheses and single-quoted strings.
fn split_top_level<'s>(s: &'s str, sep: char, option: &str) -> Result<Vec<&'s str>, QueryError> {
    let mut parts = Vec::new();
    let (mut depth, mut in_string, mut start) = (0usize, false, 0usize);
    for (i, c) in s.char_indices() {
        if in_string {
            in_string = c != '\'';
            continue;
        }
        match c {
            '\'' => in_string = true,
            '(' => depth += 1,
            ')' if depth == 0 => {
                return err(format!("Invalid {option}: unbalanced parentheses in '{s}'."))
            }
            ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if in_string {
        return err(format!("Invalid {option}: unterminated string literal in '{s}'."));
    }
    if depth != 0 {
        return err(format!("Invalid {option}: unbalanced parentheses in '{s}'."));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn parse_select(
    src: &str,
    ty: &'static EntityType,
    expand: &[ExpandItem],
) -> Result<Vec<String>, QueryError> {
    let mut out: Vec<String> = Vec::new();
    for item in split_top_level(src, ',', "$select")? {
        let item = item.trim();
        let canonical = if item.is_empty() {
            return err(format!("Invalid $select: empty item in '{src}'."));
        } else if item == "*" {
            "*"
        } else if let Some(p) = ty.property(item) {
            p
        } else if let Some(nav) = ty.navigation(item) {
            if !expand.iter().any(|e| e.navigation == nav.name) {
                return err(format!(
                    "Navigation property '{}' can be selected only together with $expand={}.",
                    nav.name, nav.name
                ));
            }
            nav.name
        } else {
            return not_found(item, &ty.qualified_name());
        };
        if !out.iter().any(|s| s == canonical) {
            out.push(canonical.to_string());
        }
    }
    Ok(out)
}

fn parse_expand(
    src: &str,
    ty: &'static EntityType,
    version: ApiVersion,
    depth: usize,
) -> Result<Vec<ExpandItem>, QueryError> {
    if depth > MAX_DEPTH {
        return err("Invalid $expand: nested too deeply.");
    }
    let mut out: Vec<ExpandItem> = Vec::new();
    for item in split_top_level(src, ',', "$expand")? {
        let item = item.trim();
        let (name, options) = match item.find('(') {
            None => (item, None),
            Some(p) if item.ends_with(')') => {
                (item[..p].trim(), Some(&item[p + 1..item.len() - 1]))
            }
            Some(_) => {
                return err(format!("Invalid $expand: unexpected text after ')' in '{item}'."))
            }
        };
        if name.is_empty() {
            return err(format!("Invalid $expand: empty item in '{src}'."));
        }
        if name.contains('/') || name == "*" {
            return err(format!(
                "Invalid $expand: '{name}' is not supported; name a navigation property and use a nested $expand."
            ));
        }
        let Some(nav) = ty.navigation(name) else {
            if let Some(p) = ty.property(name) {
                return err(format!(
                    "Property '{p}' on type '{}' is not a navigation property or complex property. Only navigation properties can be expanded.",
                    ty.qualified_name()
                ));
            }
            return not_found(name, &ty.qualified_name());
        };
        if out.iter().any(|e| e.navigation == nav.name) {
            return err(format!(
                "Invalid $expand: navigation property '{}' is expanded more than once.",
                nav.name
            ));
        }
        let target = (nav.target)(version);
        let mut expanded = ExpandItem {
            navigation: nav.name.to_string(),
            select: None,
            expand: Vec::new(),
            filter: None,
        };
        if let Some(options) = options {
            let (mut select, mut nested, mut filter) = (None, None, None);
            let mut seen: Vec<String> = Vec::new();
            for option in split_top_level(options, ';', "$expand")? {
                let option = option.trim();
                if option.is_empty() {
                    continue;
                }
                let Some((key, value)) = option.split_once('=') else {
                    return err(format!(
                        "Invalid $expand: expected '$option=value' in '{option}'."
                    ));
                };
                let key = key.trim();
                let lower = key.to_ascii_lowercase();
                if seen.contains(&lower) {
                    return err(format!(
                        "Query option '{key}' was specified more than once, but it must be specified at most once."
                    ));
                }
                seen.push(lower.clone());
                let slot = match lower.as_str() {
                    "$select" => &mut select,
                    "$expand" => &mut nested,
                    "$filter" => &mut filter,
                    _ => {
                        return err(format!(
                            "Query option '{key}' is not supported inside $expand on this resource."
                        ))
                    }
                };
                if value.trim().is_empty() {
                    return err(format!("The value of query option '{key}' must not be empty."));
                }
                *slot = Some(value);
            }
            if let Some(src) = nested {
                expanded.expand = parse_expand(src, target, version, depth + 1)?;
            }
            if let Some(src) = select {
                expanded.select = Some(parse_select(src, target, &expanded.expand)?);
            }
            if let Some(src) = filter {
                expanded.filter = Some(parse_filter(src, target, version)?);
            }
        }
        out.push(expanded);
    }
    Ok(out)
}

//! The OData query language for this surface (spec sections 1.4, 3.1, 4, 9): parsing of the
//! system query options `$filter`, `$select`, `$expand`, `$top`, `$skiptoken` and `$count`,
//! validation against the static metadata (`crate::metadata`), evaluation of `$filter` on
//! `serde_json::Value` entities, response shaping and the `@odata.context` suffix.
//!
//! Entities are evaluated and shaped from their *full* JSON: every structural property plus every
//! navigation materialised under its name (object, array, or null/absent).

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Value};

use crate::metadata::{ComplexType, EntityType, PropKind};
use crate::odata::ApiVersion;

/// Largest accepted `$top` (spec section 9 [I]).
pub const MAX_TOP: usize = 999;
/// Nesting limit for `$filter` expressions and `$expand` options (keeps recursion bounded).
const MAX_DEPTH: usize = 64;
/// Limit on `and`/`or` operators in one `$filter` (keeps the expression tree shallow enough to
/// evaluate and drop recursively).
const MAX_OPERATORS: usize = 500;

/// A malformed or unsupported query; the message is client-facing (400 `BadRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

fn err<T>(msg: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(msg.into()))
}

fn invalid_filter<T>(detail: impl fmt::Display) -> Result<T, QueryError> {
    err(format!("Invalid filter clause: {detail}"))
}

fn not_found<T>(name: &str, type_name: &str) -> Result<T, QueryError> {
    err(format!("Could not find a property named '{name}' on type '{type_name}'."))
}

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

    /// [`shape`] with this query's `$select` and `$expand`.
    pub fn shape(&self, full: Value, ty: &'static EntityType, version: ApiVersion) -> Value {
        shape(full, ty, version, self.select.as_deref(), &self.expand)
    }
}

impl ExpandItem {
    /// The suffix for this navigation's own context URL (e.g. `appDefinitions@odata.context`
    /// ends in `/appDefinitions(id,authorization)`): `(id,authorization)`, or empty.
    pub fn context_suffix(&self) -> String {
        parenthesise(context_items(self.select.as_deref(), &self.expand))
    }
}

/// Whether `entity` passes an optional filter (true without one).
fn passes(filter: Option<&Expr>, entity: &Value) -> bool {
    match filter {
        None => true,
        Some(f) => f.matches(entity),
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

// ---------------------------------------------------------------------------------------------
// $filter: AST
// ---------------------------------------------------------------------------------------------

/// A boolean `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(bool),
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Operand, CmpOp, Operand),
    /// `startswith(a,b)`, `endswith(a,b)`, `contains(a,b)`.
    StringFn(StringFn, Operand, Operand),
    /// `path/any(var: body)`, `path/any()`, `path/all(var: body)`.
    Lambda {
        path: PropertyPath,
        kind: LambdaKind,
        variable: Option<String>,
        body: Option<Box<Expr>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Literal(Literal),
    Path(PropertyPath),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
}

/// A validated property path, from the entity (`variable: None`) or from a lambda variable.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyPath {
    pub variable: Option<String>,
    /// Canonical property / navigation names.
    pub segments: Vec<String>,
    /// The path ends in an enum-valued property (compared case-insensitively).
    pub is_enum: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringFn {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaKind {
    Any,
    All,
}

// ---------------------------------------------------------------------------------------------
// $filter: evaluation
// ---------------------------------------------------------------------------------------------

/// A value as the comparison sees it.
#[derive(Debug, Clone, Copy)]
enum V<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(&'a str),
    /// Object or array: only comparable with null.
    Other,
}

fn value_of(v: Option<&Value>) -> V<'_> {
    match v {
        None | Some(Value::Null) => V::Null,
        Some(Value::Bool(b)) => V::Bool(*b),
        Some(Value::Number(n)) => n.as_f64().map_or(V::Other, V::Num),
        Some(Value::String(s)) => V::Str(s),
        Some(_) => V::Other,
    }
}

/// Member `key` of an object: exact match first, then case-insensitive.
fn member<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = value.as_object()?;
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

type Env<'a> = Vec<(&'a str, &'a Value)>;

impl PropertyPath {
    fn lookup<'a>(&'a self, root: &'a Value, env: &Env<'a>) -> Option<&'a Value> {
        let mut current = match &self.variable {
            Some(var) => {
                env.iter().rev().find(|(name, _)| *name == var.as_str()).map(|(_, v)| *v)?
            }
            None => root,
        };
        for segment in &self.segments {
            current = member(current, segment)?;
        }
        Some(current)
    }
}

impl Operand {
    fn eval<'a>(&'a self, root: &'a Value, env: &Env<'a>) -> V<'a> {
        match self {
            Operand::Literal(Literal::Null) => V::Null,
            Operand::Literal(Literal::Bool(b)) => V::Bool(*b),
            Operand::Literal(Literal::Number(n)) => V::Num(*n),
            Operand::Literal(Literal::String(s)) => V::Str(s),
            Operand::Path(p) => value_of(p.lookup(root, env)),
        }
    }

    fn is_enum(&self) -> bool {
        matches!(self, Operand::Path(p) if p.is_enum)
    }
}

fn compare(a: V<'_>, op: CmpOp, b: V<'_>, ci: bool) -> bool {
    match op {
        CmpOp::Eq | CmpOp::Ne => {
            let equal = match (a, b) {
                (V::Null, V::Null) => Some(true),
                (V::Null, _) | (_, V::Null) => Some(false),
                (V::Str(x), V::Str(y)) => {
                    Some(if ci { x.to_lowercase() == y.to_lowercase() } else { x == y })
                }
                (V::Num(x), V::Num(y)) => Some(x == y),
                (V::Bool(x), V::Bool(y)) => Some(x == y),
                _ => None,
            };
            match (op, equal) {
                (CmpOp::Eq, Some(e)) => e,
                (CmpOp::Ne, Some(e)) => !e,
                _ => false,
            }
        }
        _ => {
            let ordering = match (a, b) {
                (V::Num(x), V::Num(y)) => x.partial_cmp(&y),
                (V::Str(x), V::Str(y)) if ci => Some(x.to_lowercase().cmp(&y.to_lowercase())),
                (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
                _ => None,
            };
            match (op, ordering) {
                (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
                (CmpOp::Ge, Some(o)) => o != Ordering::Less,
                (CmpOp::Lt, Some(o)) => o == Ordering::Less,
                (CmpOp::Le, Some(o)) => o != Ordering::Greater,
                _ => false,
            }
        }
    }
}

impl Expr {
    /// Evaluates the filter on an entity's full JSON (navigations materialised under their
    /// names). Never panics; mismatched types compare false.
    pub fn matches(&self, entity: &Value) -> bool {
        let mut env = Vec::new();
        self.eval(entity, &mut env)
    }

    fn eval<'a>(&'a self, root: &'a Value, env: &mut Env<'a>) -> bool {
        match self {
            Expr::Const(b) => *b,
            Expr::Or(a, b) => a.eval(root, env) || b.eval(root, env),
            Expr::And(a, b) => a.eval(root, env) && b.eval(root, env),
            Expr::Not(a) => !a.eval(root, env),
            Expr::Compare(a, op, b) => {
                compare(a.eval(root, env), *op, b.eval(root, env), a.is_enum() || b.is_enum())
            }
            Expr::StringFn(f, a, b) => {
                let ci = a.is_enum() || b.is_enum();
                match (a.eval(root, env), b.eval(root, env)) {
                    (V::Str(x), V::Str(y)) => {
                        let (x, y) = if ci {
                            (x.to_lowercase(), y.to_lowercase())
                        } else {
                            (x.to_string(), y.to_string())
                        };
                        match f {
                            StringFn::StartsWith => x.starts_with(&y),
                            StringFn::EndsWith => x.ends_with(&y),
                            StringFn::Contains => x.contains(&y),
                        }
                    }
                    _ => false,
                }
            }
            Expr::Lambda { path, kind, variable, body } => {
                let items: &'a [Value] = path
                    .lookup(root, env)
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let (Some(var), Some(body)) = (variable, body) else {
                    return *kind == LambdaKind::Any && !items.is_empty();
                };
                let mut test = |item: &'a Value| {
                    env.push((var.as_str(), item));
                    let r = body.eval(root, env);
                    env.pop();
                    r
                };
                match kind {
                    LambdaKind::Any => items.iter().any(&mut test),
                    LambdaKind::All => items.iter().all(&mut test),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// $filter: tokenizer and parser
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Colon,
    Slash,
    Str(String),
    Num(f64),
    Ident(String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::LParen => f.write_str("("),
            Tok::RParen => f.write_str(")"),
            Tok::Comma => f.write_str(","),
            Tok::Colon => f.write_str(":"),
            Tok::Slash => f.write_str("/"),
            Tok::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Tok::Num(n) => write!(f, "{n}"),
            Tok::Ident(s) => f.write_str(s),
        }
    }
}

fn tokenize(src: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let offset = |i: usize| chars.get(i).map_or(src.len(), |&(p, _)| p);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        let pos = offset(i);
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            ':' => Some(Tok::Colon),
            '/' => Some(Tok::Slash),
            _ => None,
        };
        if let Some(tok) = single {
            out.push((tok, pos));
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match at(i) {
                    None => {
                        return invalid_filter(format!(
                            "unterminated string literal at position {pos}"
                        ))
                    }
                    Some('\'') if at(i + 1) == Some('\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push((Tok::Str(s), pos));
        } else if c.is_ascii_digit() || (c == '-' && at(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let digit = |c: Option<char>| c.is_some_and(|d| d.is_ascii_digit());
            i += 1;
            while digit(at(i)) {
                i += 1;
            }
            if at(i) == Some('.') && digit(at(i + 1)) {
                i += 1;
                while digit(at(i)) {
                    i += 1;
                }
            }
            if matches!(at(i), Some('e' | 'E')) {
                let sign = usize::from(matches!(at(i + 1), Some('+' | '-')));
                if digit(at(i + 1 + sign)) {
                    i += 1 + sign;
                    while digit(at(i)) {
                        i += 1;
                    }
                }
            }
            let text = &src[pos..offset(i)];
            if at(i).is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.') {
                return invalid_filter(format!(
                    "unexpected character '{}' after number '{text}' at position {} (string values must be quoted)",
                    at(i).unwrap_or(' '),
                    offset(i)
                ));
            }
            match text.parse::<f64>() {
                Ok(n) => out.push((Tok::Num(n), pos)),
                Err(_) => {
                    return invalid_filter(format!("invalid number '{text}' at position {pos}"))
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            i += 1;
            while at(i).is_some_and(|c| c.is_alphanumeric() || c == '_') {
                i += 1;
            }
            out.push((Tok::Ident(src[pos..offset(i)].to_string()), pos));
        } else {
            return invalid_filter(format!("unexpected character '{c}' at position {pos}"));
        }
    }
    Ok(out)
}

/// A structured or primitive type reached by a path.
#[derive(Clone, Copy)]
enum TypeRef {
    Entity(&'static EntityType),
    Complex(&'static ComplexType),
    Primitive { is_enum: bool },
}

/// What a path denotes: one value of a type, or a collection of them.
#[derive(Clone, Copy)]
enum Resolved {
    Single(TypeRef),
    Collection(TypeRef),
}

impl Resolved {
    fn of_kind(kind: PropKind) -> Self {
        match kind {
            PropKind::Primitive => Resolved::Single(TypeRef::Primitive { is_enum: false }),
            PropKind::Enum => Resolved::Single(TypeRef::Primitive { is_enum: true }),
            PropKind::Complex(c) => Resolved::Single(TypeRef::Complex(c)),
            PropKind::ComplexCollection(c) => Resolved::Collection(TypeRef::Complex(c)),
            PropKind::PrimitiveCollection => {
                Resolved::Collection(TypeRef::Primitive { is_enum: false })
            }
        }
    }
}

/// A parsed sub-expression: boolean, or a value operand (with its resolved type for paths).
enum Node {
    Bool(Expr),
    Value(Operand, Option<Resolved>),
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    src_len: usize,
    root: &'static EntityType,
    version: ApiVersion,
    scopes: Vec<(String, TypeRef)>,
    depth: usize,
    operators: usize,
}

fn parse_filter(
    src: &str,
    ty: &'static EntityType,
    version: ApiVersion,
) -> Result<Expr, QueryError> {
    let toks = tokenize(src)?;
    if toks.is_empty() {
        return invalid_filter("the expression is empty");
    }
    let mut parser = Parser {
        toks,
        pos: 0,
        src_len: src.len(),
        root: ty,
        version,
        scopes: Vec::new(),
        depth: 0,
        operators: 0,
    };
    let node = parser.parse_expr()?;
    if let Some((tok, pos)) = parser.toks.get(parser.pos) {
        return invalid_filter(format!("unexpected '{tok}' at position {pos}"));
    }
    as_bool(node)
}

fn as_bool(node: Node) -> Result<Expr, QueryError> {
    match node {
        Node::Bool(e) => Ok(e),
        Node::Value(Operand::Literal(Literal::Bool(b)), _) => Ok(Expr::Const(b)),
        Node::Value(Operand::Path(p), _) => {
            invalid_filter(format!("'{}' is not a boolean expression", display_path(&p)))
        }
        Node::Value(Operand::Literal(l), _) => {
            invalid_filter(format!("{l:?} is not a boolean expression"))
        }
    }
}

fn display_path(p: &PropertyPath) -> String {
    p.variable.iter().chain(&p.segments).cloned().collect::<Vec<_>>().join("/")
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn here(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src_len, |&(_, p)| p)
    }

    fn next(&mut self) -> Option<Tok> {
        let tok = self.toks.get(self.pos).map(|(t, _)| t.clone());
        if tok.is_some() {
            self.pos += 1;
        }
        tok
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, want: Tok) -> Result<(), QueryError> {
        let pos = self.here();
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => {
                invalid_filter(format!("expected '{want}' but found '{t}' at position {pos}"))
            }
            None => invalid_filter(format!("expected '{want}' at the end of the expression")),
        }
    }

    /// Consumes an `and`/`or` keyword, counting it.
    fn operator(&mut self) -> Result<(), QueryError> {
        self.pos += 1;
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return invalid_filter(format!("too many operators (at most {MAX_OPERATORS})"));
        }
        Ok(())
    }

    fn parse_expr(&mut self) -> Result<Node, QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return invalid_filter("the expression is nested too deeply");
        }
        let node = self.parse_or();
        self.depth -= 1;
        node
    }

    fn parse_or(&mut self) -> Result<Node, QueryError> {
        let mut left = self.parse_and()?;
        while self.peek_keyword("or") {
            self.operator()?;
            let right = self.parse_and()?;
            left = Node::Bool(Expr::Or(Box::new(as_bool(left)?), Box::new(as_bool(right)?)));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Node, QueryError> {
        let mut left = self.parse_not()?;
        while self.peek_keyword("and") {
            self.operator()?;
            let right = self.parse_not()?;
            left = Node::Bool(Expr::And(Box::new(as_bool(left)?), Box::new(as_bool(right)?)));
        }
        Ok(left)
    }

    fn parse_not(&mut self) -> Result<Node, QueryError> {
        if self.peek_keyword("not") && !matches!(self.toks.get(self.pos + 1), Some((Tok::Slash, _)))
        {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return invalid_filter("the expression is nested too deeply");
            }
            let inner = self.parse_not()?;
            self.depth -= 1;
            return Ok(Node::Bool(Expr::Not(Box::new(as_bool(inner)?))));
        }
        self.parse_comparison()
    }

    fn parse_comparison(&mut self) -> Result<Node, QueryError> {
        let left = self.parse_primary()?;
        let op = match self.peek() {
            Some(Tok::Ident(s)) => match s.to_ascii_lowercase().as_str() {
                "eq" => CmpOp::Eq,
                "ne" => CmpOp::Ne,
                "gt" => CmpOp::Gt,
                "ge" => CmpOp::Ge,
                "lt" => CmpOp::Lt,
                "le" => CmpOp::Le,
                _ => return Ok(left),
            },
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.parse_primary()?;
        let (Node::Value(l, lt), Node::Value(r, rt)) = (left, right) else {
            return invalid_filter("comparison operands must be values, not boolean expressions");
        };
        for (side, ty, other) in [(&l, lt, &r), (&r, rt, &l)] {
            let name = || match side {
                Operand::Path(p) => display_path(p),
                Operand::Literal(_) => String::new(),
            };
            match ty {
                Some(Resolved::Collection(_)) => {
                    return invalid_filter(format!(
                        "collection-valued property '{}' must be used with any or all",
                        name()
                    ))
                }
                Some(Resolved::Single(TypeRef::Entity(_) | TypeRef::Complex(_)))
                    if !(matches!(other, Operand::Literal(Literal::Null))
                        && matches!(op, CmpOp::Eq | CmpOp::Ne)) =>
                {
                    return invalid_filter(format!(
                        "structured property '{}' can only be compared with null using eq or ne",
                        name()
                    ))
                }
                _ => {}
            }
        }
        Ok(Node::Bool(Expr::Compare(l, op, r)))
    }

    fn parse_primary(&mut self) -> Result<Node, QueryError> {
        let pos = self.here();
        match self.next() {
            None => invalid_filter("unexpected end of the expression"),
            Some(Tok::LParen) => {
                let node = self.parse_expr()?;
                self.expect(Tok::RParen)?;
                Ok(node)
            }
            Some(Tok::Str(s)) => Ok(Node::Value(Operand::Literal(Literal::String(s)), None)),
            Some(Tok::Num(n)) => Ok(Node::Value(Operand::Literal(Literal::Number(n)), None)),
            Some(Tok::Ident(name)) => {
                if self.peek() == Some(&Tok::LParen) {
                    return self.parse_function(&name, pos);
                }
                if self.peek() != Some(&Tok::Slash) {
                    let literal = match name.to_ascii_lowercase().as_str() {
                        "null" => Some(Literal::Null),
                        "true" => Some(Literal::Bool(true)),
                        "false" => Some(Literal::Bool(false)),
                        _ => None,
                    };
                    if let Some(l) = literal {
                        return Ok(Node::Value(Operand::Literal(l), None));
                    }
                }
                self.parse_path(name)
            }
            Some(t) => invalid_filter(format!("unexpected '{t}' at position {pos}")),
        }
    }

    fn parse_function(&mut self, name: &str, pos: usize) -> Result<Node, QueryError> {
        let func = match name.to_ascii_lowercase().as_str() {
            "startswith" => StringFn::StartsWith,
            "endswith" => StringFn::EndsWith,
            "contains" => StringFn::Contains,
            _ => return invalid_filter(format!("unknown function '{name}' at position {pos}")),
        };
        self.expect(Tok::LParen)?;
        let a = self.parse_expr()?;
        self.expect(Tok::Comma)?;
        let b = self.parse_expr()?;
        self.expect(Tok::RParen)?;
        let string_arg = |node: Node| match node {
            Node::Value(op, None | Some(Resolved::Single(TypeRef::Primitive { .. }))) => Ok(op),
            _ => invalid_filter(format!("function '{name}' expects two string arguments")),
        };
        let a = string_arg(a)?;
        let b = string_arg(b)?;
        Ok(Node::Bool(Expr::StringFn(func, a, b)))
    }

    fn parse_path(&mut self, first: String) -> Result<Node, QueryError> {
        let mut segments = vec![first];
        while self.peek() == Some(&Tok::Slash) {
            self.pos += 1;
            let pos = self.here();
            match self.next() {
                Some(Tok::Ident(seg)) => {
                    let lambda = if seg.eq_ignore_ascii_case("any") {
                        Some(LambdaKind::Any)
                    } else if seg.eq_ignore_ascii_case("all") {
                        Some(LambdaKind::All)
                    } else {
                        None
                    };
                    match lambda {
                        Some(kind) if self.peek() == Some(&Tok::LParen) => {
                            return self.parse_lambda(&segments, kind)
                        }
                        _ => segments.push(seg),
                    }
                }
                Some(t) => {
                    return invalid_filter(format!(
                        "expected a property name after '/' but found '{t}' at position {pos}"
                    ))
                }
                None => return invalid_filter("expected a property name after '/'"),
            }
        }
        let (path, resolved) = self.resolve(&segments)?;
        Ok(Node::Value(Operand::Path(path), Some(resolved)))
    }

    fn parse_lambda(&mut self, segments: &[String], kind: LambdaKind) -> Result<Node, QueryError> {
        let (path, resolved) = self.resolve(segments)?;
        let Resolved::Collection(element) = resolved else {
            return invalid_filter(format!(
                "'{}' is not collection-valued; any and all need a collection",
                display_path(&path)
            ));
        };
        self.expect(Tok::LParen)?;
        if self.peek() == Some(&Tok::RParen) {
            self.pos += 1;
            if kind == LambdaKind::All {
                return invalid_filter(
                    "all requires a lambda expression such as all(x:x/prop eq 'v')",
                );
            }
            return Ok(Node::Bool(Expr::Lambda { path, kind, variable: None, body: None }));
        }
        let pos = self.here();
        let variable = match self.next() {
            Some(Tok::Ident(v)) => v,
            _ => return invalid_filter(format!("expected a lambda variable at position {pos}")),
        };
        self.expect(Tok::Colon)?;
        self.scopes.push((variable.clone(), element));
        let body = self.parse_expr();
        self.scopes.pop();
        let body = as_bool(body?)?;
        self.expect(Tok::RParen)?;
        Ok(Node::Bool(Expr::Lambda {
            path,
            kind,
            variable: Some(variable),
            body: Some(Box::new(body)),
        }))
    }

    fn resolve(&self, segments: &[String]) -> Result<(PropertyPath, Resolved), QueryError> {
        let scope =
            segments.first().and_then(|first| self.scopes.iter().rev().find(|(v, _)| v == first));
        let (variable, mut current, rest) = match scope {
            Some((v, ty)) => (Some(v.clone()), Resolved::Single(*ty), &segments[1..]),
            None => (None, Resolved::Single(TypeRef::Entity(self.root)), segments),
        };
        let mut canonical: Vec<String> = Vec::new();
        let mut previous = variable.clone().unwrap_or_default();
        for seg in rest {
            let ty = match current {
                Resolved::Single(ty) => ty,
                Resolved::Collection(_) => {
                    return invalid_filter(format!(
                        "collection-valued property '{previous}' must be used with any or all"
                    ))
                }
            };
            current = match ty {
                TypeRef::Entity(e) => {
                    if let Some(p) = e.property(seg) {
                        canonical.push(p.to_string());
                        Resolved::of_kind(e.kind(p))
                    } else if let Some(nav) = e.navigation(seg) {
                        canonical.push(nav.name.to_string());
                        let target = TypeRef::Entity((nav.target)(self.version));
                        if nav.collection {
                            Resolved::Collection(target)
                        } else {
                            Resolved::Single(target)
                        }
                    } else {
                        return not_found(seg, &e.qualified_name());
                    }
                }
                TypeRef::Complex(c) => match c.property(seg) {
                    Some(p) => {
                        canonical.push(p.to_string());
                        Resolved::of_kind(c.kind(p))
                    }
                    None => return not_found(seg, &c.qualified_name()),
                },
                TypeRef::Primitive { .. } => return not_found(seg, "Edm.String"),
            };
            previous = seg.clone();
        }
        let is_enum = matches!(
            current,
            Resolved::Single(TypeRef::Primitive { is_enum: true })
                | Resolved::Collection(TypeRef::Primitive { is_enum: true })
        );
        Ok((PropertyPath { variable, segments: canonical, is_enum }, current))
    }
}

// ---------------------------------------------------------------------------------------------
// Shaping
// ---------------------------------------------------------------------------------------------

/// Shapes an entity for output. `full` holds every property and navigation of the entity
/// (navigations fully materialised: objects, arrays, or null/absent). The output keeps the
/// annotations (keys starting with `@`), then the `$select`-ed properties (or the default
/// `properties` when there is no `$select`; `select_only` properties only when selected; `*`
/// means all default properties), then each expanded navigation shaped recursively with its own
/// nested select/expand (and nested `$filter`). An expanded single-valued navigation whose value
/// is null/absent is omitted (spec 1.4); an expanded collection that is absent becomes `[]`.
/// Non-expanded navigations are dropped. A property missing from `full` is emitted as `null`.
/// `full` is consumed: values move into the output (for lists, copying them was a third of the
/// rendering work); a member read twice (names equal but for case) is copied.
/// Where each output member comes from: the entry of the view `member` finds for it (exact
/// name first, else the first name equal ignoring ASCII case), as the wire shaping looks up.
fn find(entries: &[(String, Value)], key: &str) -> Option<usize> {
    entries
        .iter()
        .position(|(k, _)| k == key)
        .or_else(|| entries.iter().position(|(k, _)| k.eq_ignore_ascii_case(key)))
}

/// Takes entry `i` when no later output member reads it, else clones it.
fn take(entries: &mut [(String, Value)], uses: &mut [u8], i: usize) -> Value {
    uses[i] -= 1;
    if uses[i] == 0 {
        std::mem::take(&mut entries[i].1)
    } else {
        entries[i].1.clone()
    }
}

/// The output name `name` as a `String`: the view's own key when entry `i` is spelled so and
/// read for the last time (no new allocation), else a copy.
fn key(entries: &mut [(String, Value)], uses: &[u8], at: Option<usize>, name: &str) -> String {
    match at {
        Some(i) if uses[i] == 0 && entries[i].0 == name => std::mem::take(&mut entries[i].0),
        _ => name.to_string(),
    }
}

pub fn shape(
    full: Value,
    ty: &'static EntityType,
    version: ApiVersion,
    select: Option<&[String]>,
    expand: &[ExpandItem],
) -> Value {
    let Value::Object(obj) = full else {
        return full;
    };
    let mut out = Map::new();
    // Annotations first, in the view's order; the rest stays addressable by position.
    let mut entries: Vec<(String, Value)> = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        if k.starts_with('@') {
            out.insert(k, v);
        } else {
            entries.push((k, v));
        }
    }
    let selected =
        |name: &str| select.is_some_and(|s| s.iter().any(|x| x.eq_ignore_ascii_case(name)));
    let all_defaults = match select {
        None => true,
        Some(s) => s.iter().any(|x| x == "*"),
    };
    let props: Vec<&'static str> = ty
        .properties
        .iter()
        .filter(|p| all_defaults || selected(p))
        .chain(ty.select_only.iter().filter(|p| selected(p)))
        .copied()
        .collect();
    let navs: Vec<_> = expand
        .iter()
        .filter_map(|item| ty.navigation(&item.navigation).map(|nav| (item, nav)))
        .collect();
    // Count the reads of each entry first, so that only an entry read twice is copied.
    let mut uses = vec![0u8; entries.len()];
    let prop_at: Vec<Option<usize>> = props.iter().map(|p| find(&entries, p)).collect();
    let nav_at: Vec<Option<usize>> = navs.iter().map(|(_, nav)| find(&entries, nav.name)).collect();
    for i in prop_at.iter().chain(&nav_at).flatten() {
        uses[*i] = uses[*i].saturating_add(1);
    }
    for (p, at) in props.iter().zip(&prop_at) {
        let value = at.map_or(Value::Null, |i| take(&mut entries, &mut uses, i));
        out.insert(key(&mut entries, &uses, *at, p), value);
    }
    for ((item, nav), at) in navs.iter().zip(&nav_at) {
        let target = (nav.target)(version);
        let value = at.map(|i| take(&mut entries, &mut uses, i));
        let keep = |v: &Value| item.filter.as_ref().is_none_or(|f| f.matches(v));
        let shape_one = |v: Value| shape(v, target, version, item.select.as_deref(), &item.expand);
        if nav.collection {
            let items = match value {
                Some(Value::Array(a)) => a.into_iter().filter(|v| keep(v)).map(shape_one).collect(),
                _ => Vec::new(),
            };
            out.insert(key(&mut entries, &uses, *at, nav.name), Value::Array(items));
        } else if let Some(v) = value.filter(|v| v.is_object()).filter(|v| keep(v)) {
            out.insert(key(&mut entries, &uses, *at, nav.name), shape_one(v));
        }
    }
    Value::Object(out)
}

/// The first, copying implementation of [`shape`], kept as the tests' oracle.
#[cfg(test)]
fn shape_by_reference(
    full: &Value,
    ty: &'static EntityType,
    version: ApiVersion,
    select: Option<&[String]>,
    expand: &[ExpandItem],
) -> Value {
    let Some(obj) = full.as_object() else {
        return full.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if k.starts_with('@') {
            out.insert(k.clone(), v.clone());
        }
    }
    let selected =
        |name: &str| select.is_some_and(|s| s.iter().any(|x| x.eq_ignore_ascii_case(name)));
    let all_defaults = match select {
        None => true,
        Some(s) => s.iter().any(|x| x == "*"),
    };
    let props = ty.properties.iter().filter(|p| all_defaults || selected(p));
    for p in props.chain(ty.select_only.iter().filter(|p| selected(p))) {
        out.insert(p.to_string(), member(full, p).cloned().unwrap_or(Value::Null));
    }
    for item in expand {
        let Some(nav) = ty.navigation(&item.navigation) else {
            continue;
        };
        let target = (nav.target)(version);
        let value = member(full, nav.name);
        let keep = |v: &&Value| passes(item.filter.as_ref(), v);
        let shape_one = |v: &Value| {
            shape_by_reference(v, target, version, item.select.as_deref(), &item.expand)
        };
        if nav.collection {
            let items = value
                .and_then(Value::as_array)
                .map(|a| a.iter().filter(keep).map(shape_one).collect())
                .unwrap_or_default();
            out.insert(nav.name.to_string(), Value::Array(items));
        } else if let Some(v) = value.filter(|v| v.is_object()).filter(keep) {
            out.insert(nav.name.to_string(), shape_one(v));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{
        installation, teams_app, teams_app_definition, teamwork_bot, user_installation,
    };
    use serde_json::json;

    const V1: ApiVersion = ApiVersion::V1;
    const BETA: ApiVersion = ApiVersion::Beta;

    fn parse(raw: &str, ty: fn(ApiVersion) -> &'static EntityType) -> ODataQuery {
        ODataQuery::parse(raw, ty(V1), V1).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn parse_err(
        raw: &str,
        ty: fn(ApiVersion) -> &'static EntityType,
        version: ApiVersion,
    ) -> String {
        match ODataQuery::parse(raw, ty(version), version) {
            Ok(q) => panic!("{raw}: expected an error, got {q:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn filter(src: &str, ty: fn(ApiVersion) -> &'static EntityType) -> Expr {
        let raw = format!("$filter={src}");
        parse(&raw, ty).filter.unwrap()
    }

    fn definition(id: &str, state: &str, bot: Option<&str>) -> Value {
        let mut d = json!({
            "@odata.etag": "\"etag\"",
            "id": id,
            "teamsAppId": "app-1",
            "azureADAppId": "aad-1",
            "displayName": "Ducks",
            "version": "1.0.9",
            "requiredResourceSpecificApplicationPermissions": ["ChatMessage.Read.Chat"],
            "publishingState": state,
            "shortDescription": "short",
            "description": "long",
            "lastModifiedDateTime": null,
            "createdBy": null,
            "authorization": {
                "clientAppId": "aad-1",
                "requiredPermissionSet": {"resourceSpecificPermissions": [
                    {"permissionValue": "Channel.Create.Group", "permissionType": "application"},
                    {"permissionValue": "ChannelMeeting.ReadBasic.Group", "permissionType": "delegated"}
                ]}
            },
            "allowedInstallationScopes": "team,groupChat,personal"
        });
        if let Some(bot) = bot {
            d["bot"] = json!({"id": bot});
        }
        d
    }

    fn app() -> Value {
        json!({
            "id": "8a1ed7a3",
            "externalId": "3CAB7543",
            "displayName": "Ducks-3",
            "distributionMethod": "organization",
            "appDefinitions": [
                definition("def-1", "published", Some("bot-1")),
                definition("def-2", "submitted", None),
            ]
        })
    }

    fn app_without_bots() -> Value {
        json!({
            "id": "b2",
            "externalId": null,
            "displayName": "OneNote",
            "distributionMethod": "store",
            "appDefinitions": [definition("def-3", "published", None)]
        })
    }

    fn install() -> Value {
        json!({
            "id": "inst-1",
            "consentedPermissionSet": {"resourceSpecificPermissions": [
                {"permissionValue": "ChatMessage.Read.Chat", "permissionType": "application"}
            ]},
            "teamsApp": {
                "id": "0240a368",
                "externalId": "cf1ba4c7",
                "displayName": "YPA",
                "distributionMethod": "sideloaded",
                "appDefinitions": [definition("def-9", "published", Some("bot-9"))]
            },
            "teamsAppDefinition": definition("def-9", "published", None),
            "chat": null
        })
    }

    // ---- examples: parsing and context suffixes ----

    #[test]
    fn documented_queries_parse_with_their_context_suffix() {
        type Case = (fn(ApiVersion) -> &'static EntityType, &'static str, &'static str);
        let cases: &[Case] = &[
            // v1_catalog_list_filter_distributionMethod
            (teams_app, "$filter=distributionMethod eq 'organization'", ""),
            // v1_catalog_list_filter_externalId
            (teams_app, "$filter=externalId eq 'cf1ba4c7-f94e-4d80-ba90-5594b641a8ee'", ""),
            // v1_catalog_list_filter_id
            (teams_app, "$filter=id eq 'b1c5353a-7aca-41b3-830f-27d5218fe0e5'", ""),
            // v1_catalog_list_filter_id_expand_appDefinitions
            (
                teams_app,
                "$filter=id eq '876df28f-2e78-423b-94a5-44181bd0e225'&$expand=appDefinitions",
                "(appDefinitions())",
            ),
            // v1_catalog_list_rsc_permissions (spec 4 consent rule query)
            (
                teams_app,
                "$filter=id+eq+'a5228c26-a9ae-4702-90e0-79a5246d2f7d'&$expand=appDefinitions($select=id,authorization)",
                "(appDefinitions(id,authorization))",
            ),
            // v1_catalog_list_with_bots
            (
                teams_app,
                "$expand=appDefinitions($expand=bot)&$filter=appDefinitions/any(a:a/bot ne null)",
                "(appDefinitions(bot()))",
            ),
            // v1_catalog_publish_app_requiresReview: not a system option
            (teams_app, "requiresReview=true", ""),
            // v1_{chat,team}_{list,get}_installedApps_select_consentedPermissionSet
            (installation, "$select=consentedPermissionSet,id", "(consentedPermissionSet,id)"),
            // v1_chat_list_installedApps_expand_definition_bot (the doc context shows
            // `teamsAppDefinition()`; OData rules, and the catalog example, give the nested form)
            (installation, "$expand=teamsAppDefinition($expand=bot)", "(teamsAppDefinition(bot()))"),
            // v1_{chat,team,user}_list_installedApps_filter_externalId
            (
                installation,
                "$expand=teamsApp,teamsAppDefinition&$filter=teamsApp/externalId eq 'cf1ba4c7-f94e-4d80-ba90-5594b641a8ee'",
                "(teamsApp(),teamsAppDefinition())",
            ),
            (
                user_installation,
                "$expand=teamsApp,teamsAppDefinition&$filter=teamsApp/externalId eq 'cf1ba4c7-f94e-4d80-ba90-5594b641a8ee'",
                "(teamsApp(),teamsAppDefinition())",
            ),
            // v1_{team,user}_{list,get}_installedApps_expand_definition
            (installation, "$expand=teamsAppDefinition", "(teamsAppDefinition())"),
            (user_installation, "$expand=teamsAppDefinition", "(teamsAppDefinition())"),
            // section 9 [I] additions
            (installation, "$filter=teamsApp/id eq '0240a368'", ""),
            (installation, "$filter=teamsApp/distributionMethod eq 'sideloaded'", ""),
            (installation, "$filter=teamsAppDefinition/version eq '6.0.0'", ""),
            (teams_app, "$filter=appDefinitions/any(a:a/publishingState eq 'submitted')", ""),
            (
                teams_app,
                "$filter=not (distributionMethod ne 'store') or externalId eq 'x' and id ne 'y'",
                "",
            ),
            // user get chat supports $select
            (user_installation, "$expand=chat($select=id,chatType)", "(chat(id,chatType))"),
            // percent-encoded option names and values
            (
                teams_app,
                "%24filter=id%20eq%20%27a%27&%24expand=appDefinitions(%24select%3Did)",
                "(appDefinitions(id))",
            ),
            (teams_app, "$select=*", "(*)"),
            (teams_app, "$top=5&$count=true&$skiptoken=abc", ""),
        ];
        for (ty, raw, suffix) in cases {
            let q = parse(raw, *ty);
            assert_eq!(q.context_suffix(), *suffix, "{raw}");
            // Beta accepts the same queries.
            ODataQuery::parse(raw, ty(BETA), BETA).unwrap_or_else(|e| panic!("beta {raw}: {e}"));
        }
    }

    #[test]
    fn parsed_structure() {
        let q = parse(
            "$expand=appDefinitions($expand=bot;$select=id,AUTHORIZATION;$filter=publishingState eq 'Published')&$top=2&$count=TRUE&$skiptoken=t%2Bk&requiresReview=true&other=%zz",
            teams_app,
        );
        assert_eq!(q.top, Some(2));
        assert!(q.count);
        assert_eq!(q.skip_token.as_deref(), Some("t+k"));
        assert_eq!(q.select, None);
        assert_eq!(q.expand.len(), 1);
        let e = &q.expand[0];
        assert_eq!(e.navigation, "appDefinitions");
        assert_eq!(e.select, Some(vec!["id".to_string(), "authorization".to_string()]));
        assert_eq!(e.expand[0].navigation, "bot");
        assert!(e.filter.is_some());
        assert_eq!(q.context_suffix(), "(appDefinitions(id,authorization,bot()))");
        assert_eq!(e.context_suffix(), "(id,authorization,bot())");

        let q = parse("$select=ID,DisplayName,id&$expand=APPDEFINITIONS", teams_app);
        assert_eq!(q.select, Some(vec!["id".to_string(), "displayName".to_string()]));
        assert_eq!(q.expand[0].navigation, "appDefinitions");
        assert_eq!(q.context_suffix(), "(id,displayName,appDefinitions())");

        // A navigation may be selected when it is also expanded; it is listed once.
        let q = parse("$select=id,teamsApp&$expand=teamsApp($select=id)", installation);
        assert_eq!(q.context_suffix(), "(id,teamsApp(id))");

        assert_eq!(parse("", teams_app), ODataQuery::default());
        assert_eq!(parse("?&&", teams_app), ODataQuery::default());
        assert_eq!(parse("$count=false&$top=0", teams_app).top, Some(0));
    }

    // ---- filter evaluation ----

    #[test]
    fn filter_on_catalog_entities() {
        let (a, b) = (app(), app_without_bots());
        let check = |src: &str, expect_a: bool, expect_b: bool| {
            let f = filter(src, teams_app);
            assert_eq!((f.matches(&a), f.matches(&b)), (expect_a, expect_b), "{src}");
        };
        check("appDefinitions/any(a:a/bot ne null)", true, false);
        check("appDefinitions/any(a:a/bot eq null)", true, true);
        check("appDefinitions/all(a:a/bot ne null)", false, false);
        check("appDefinitions/all(a:a/publishingState eq 'published')", false, true);
        check("appDefinitions/any()", true, true);
        check("appDefinitions/any(a:a/publishingState eq 'SUBMITTED')", true, false);
        check("distributionMethod eq 'Organization'", true, false);
        check("distributionMethod ne 'organization'", false, true);
        check("externalId eq null", false, true);
        check("externalId ne null", true, false);
        check("externalId eq '3cab7543'", false, false); // values are case-sensitive
        check("EXTERNALID eq '3CAB7543'", true, false); // names are not
        check("not(externalId eq null)", true, false);
        check("not externalId eq null", true, false); // not binds looser than eq
        check("not not (id eq 'b2')", false, true);
        // and binds tighter than or
        check("id eq 'b2' or id eq '8a1ed7a3' and displayName eq 'nope'", false, true);
        check("(id eq 'b2' or id eq '8a1ed7a3') and displayName eq 'nope'", false, false);
        check("id eq 'b2' OR id eq '8a1ed7a3'", true, true);
        check("startswith(displayName,'Duck')", true, false);
        check("endswith(displayName,'Note')", false, true);
        check("contains(displayName,'ks-')", true, false);
        check("contains(displayName,'KS-')", false, false);
        check("startswith(distributionMethod,'ORG')", true, false);
        check("true", true, true);
        check("false or id eq 'b2'", false, true);
        check("id eq 5", false, false); // mismatched types: false
        check("id ne 5", false, false);
        check("id gt 'a'", false, true);
        check("id lt 'a'", true, false);
        check("'b2' eq id", false, true);
        // complex collections and enum values inside complex types
        check(
            "appDefinitions/any(d:d/authorization/requiredPermissionSet/resourceSpecificPermissions/any(p:p/permissionType eq 'Application' and p/permissionValue eq 'Channel.Create.Group'))",
            true,
            true,
        );
        check("appDefinitions/any(d:d/authorization/clientAppId eq 'aad-1')", true, true);
        check("appDefinitions/any(d:d/createdBy/user/id eq 'x')", false, false);
        check("appDefinitions/any(d:d/createdBy eq null)", true, true);
        // unprefixed paths inside a lambda refer to the outer entity
        check("appDefinitions/any(d:d/teamsAppId eq 'app-1' and id eq 'b2')", false, true);
    }

    #[test]
    fn filter_on_installations() {
        let i = install();
        let yes = |src: &str, ty: fn(ApiVersion) -> &'static EntityType| {
            assert!(filter(src, ty).matches(&i), "{src}");
        };
        let no = |src: &str, ty: fn(ApiVersion) -> &'static EntityType| {
            assert!(!filter(src, ty).matches(&i), "{src}");
        };
        yes("teamsApp/externalId eq 'cf1ba4c7'", installation);
        no("teamsApp/externalId eq 'CF1BA4C7'", installation);
        yes("teamsApp/distributionMethod eq 'Sideloaded'", installation);
        yes("teamsAppDefinition/version eq '1.0.9'", installation);
        yes("teamsappdefinition/Version ge '1.0.0'", installation);
        no("teamsAppDefinition/bot ne null", installation);
        yes("teamsApp/appDefinitions/any(a:a/bot ne null)", installation);
        yes("consentedPermissionSet ne null", installation);
        yes("chat eq null", user_installation);
        yes(
            "consentedPermissionSet/resourceSpecificPermissions/any(p:p/permissionType eq 'application')",
            installation,
        );
        // absent navigation: eq null is true, any() is false, all() is vacuously true
        let bare = json!({"id": "x"});
        assert!(filter("teamsApp eq null", installation).matches(&bare));
        assert!(filter("teamsApp/externalId eq null", installation).matches(&bare));
        assert!(!filter("teamsApp/externalId ne null", installation).matches(&bare));
        assert!(!filter("teamsApp/appDefinitions/any()", installation).matches(&bare));
        assert!(filter("teamsApp/appDefinitions/all(a:a/bot ne null)", installation).matches(&bare));
        // non-object input never panics
        for v in [json!(null), json!([1, 2]), json!("s"), json!({"teamsApp": [1]})] {
            assert!(!filter("teamsApp/externalId eq 'x'", installation).matches(&v));
        }
    }

    #[test]
    fn beta_filters_use_beta_properties() {
        let d = definition("d", "published", None);
        let ty = teams_app_definition(BETA);
        let f = |src: &str| {
            ODataQuery::parse(&format!("$filter={src}"), ty, BETA).unwrap().filter.unwrap()
        };
        assert!(f("azureADAppId eq 'aad-1'").matches(&d));
        assert!(f(
            "requiredResourceSpecificApplicationPermissions/any(p:p eq 'ChatMessage.Read.Chat')"
        )
        .matches(&d));
        assert!(f("shortDescription eq 'short'").matches(&d)); // lookup falls back case-insensitively
        let e = parse_err("$filter=azureADAppId eq 'aad-1'", teams_app_definition, V1);
        assert!(
            e.contains("'azureADAppId'") && e.contains("microsoft.graph.teamsAppDefinition"),
            "{e}"
        );
    }

    // ---- errors ----

    #[test]
    fn error_paths() {
        let too_many_ors =
            format!("$filter=id eq 'a'{}", " or id eq 'b'".repeat(MAX_OPERATORS + 1));
        type Case<'a> = (fn(ApiVersion) -> &'static EntityType, &'a str, &'a str);
        let cases: &[Case] = &[
            (
                teams_app,
                "$select=foo",
                "Could not find a property named 'foo' on type 'microsoft.graph.teamsApp'.",
            ),
            (
                teams_app,
                "$filter=foo eq 'x'",
                "Could not find a property named 'foo' on type 'microsoft.graph.teamsApp'.",
            ),
            (
                installation,
                "$filter=teamsApp/nope eq 'x'",
                "'nope' on type 'microsoft.graph.teamsApp'",
            ),
            (
                installation,
                "$filter=chat eq null",
                "'chat' on type 'microsoft.graph.teamsAppInstallation'",
            ),
            (
                teams_app,
                "$filter=appDefinitions/any(a:a/nope ne null)",
                "'nope' on type 'microsoft.graph.teamsAppDefinition'",
            ),
            (
                teams_app,
                "$expand=foo",
                "Could not find a property named 'foo' on type 'microsoft.graph.teamsApp'.",
            ),
            (
                teams_app,
                "$expand=appDefinitions($expand=foo)",
                "'foo' on type 'microsoft.graph.teamsAppDefinition'",
            ),
            (
                teams_app,
                "$expand=appDefinitions($select=foo)",
                "'foo' on type 'microsoft.graph.teamsAppDefinition'",
            ),
            (teams_app, "$expand=id", "is not a navigation property"),
            (teams_app, "$expand=appDefinitions,appDefinitions", "more than once"),
            (teams_app, "$expand=*", "not supported"),
            (installation, "$expand=teamsAppDefinition/bot", "not supported"),
            (teams_app, "$expand=appDefinitions($top=1)", "'$top' is not supported"),
            (teams_app, "$expand=appDefinitions($select=id;$select=id)", "more than once"),
            (teams_app, "$expand=appDefinitions($select=)", "must not be empty"),
            (teams_app, "$expand=appDefinitions(bot)", "expected '$option=value'"),
            (teams_app, "$expand=appDefinitions(", "unbalanced parentheses"),
            (teams_app, "$expand=appDefinitions)", "unbalanced parentheses"),
            (teams_app, "$expand=appDefinitions($expand=bot)x", "unexpected text"),
            (
                teams_app,
                "$expand=appDefinitions($expand=bot)($select=id)",
                "unbalanced parentheses",
            ),
            (teams_app, "$expand=,appDefinitions", "empty item"),
            (teams_app, "$select=id,", "empty item"),
            (teams_app, "$select=appDefinitions", "only together with $expand"),
            (
                installation,
                "$select=id&$expand=teamsApp($select=appDefinitions)",
                "only together with $expand",
            ),
            (teams_app, "$top=1000", "The limit of '999' for Top query has been exceeded"),
            (teams_app, "$top=-1", "Invalid value '-1' for $top"),
            (teams_app, "$top=abc", "Invalid value 'abc' for $top"),
            (teams_app, "$top=1.5", "Invalid value"),
            (teams_app, "$top=99999999999999999999999", "Invalid value"),
            (teams_app, "$count=yes", "'yes' is not a valid count option."),
            (
                teams_app,
                "$search=ducks",
                "Query option '$search' is not supported on this resource.",
            ),
            (teams_app, "$orderby=id", "'$orderby' is not supported"),
            (teams_app, "$skip=1", "'$skip' is not supported"),
            (teams_app, "$apply=x", "'$apply' is not supported"),
            (teams_app, "$format=json", "'$format' is not supported"),
            (teams_app, "$bogus=1", "'$bogus' is not supported"),
            (teams_app, "$filter=id eq 'a'&$filter=id eq 'b'", "was specified more than once"),
            (teams_app, "$top=1&$TOP=2", "was specified more than once"),
            (teams_app, "$filter=", "must not be empty"),
            (teams_app, "$select=%20", "must not be empty"),
            (teams_app, "$count", "must not be empty"),
            (teams_app, "$filter=(id eq 'a'", "Invalid filter clause: expected ')'"),
            (teams_app, "$filter=id eq 'a')", "Invalid filter clause: unexpected ')'"),
            (teams_app, "$filter=id eq 'abc", "Invalid filter clause: unterminated string literal"),
            (teams_app, "$filter=id eq 'it''s", "unterminated string literal"),
            (teams_app, "$filter=id eq", "Invalid filter clause: unexpected end"),
            (teams_app, "$filter=id", "not a boolean expression"),
            (teams_app, "$filter=id eq 'a' and", "Invalid filter clause"),
            (teams_app, "$filter=id eq 'a' eq 'b'", "Invalid filter clause"),
            (teams_app, "$filter=id eq 5b649834-7412", "must be quoted"),
            (teams_app, &too_many_ors, "too many operators"),
            (teams_app, "$filter=id eq \"a\"", "unexpected character '\"'"),
            (teams_app, "$filter=tolower(id) eq 'a'", "unknown function 'tolower'"),
            (teams_app, "$filter=startswith(id)", "expected ','"),
            (teams_app, "$filter=appDefinitions eq null", "must be used with any or all"),
            (teams_app, "$filter=appDefinitions/id eq 'x'", "must be used with any or all"),
            (teams_app, "$filter=appDefinitions/all()", "all requires a lambda expression"),
            (teams_app, "$filter=id/any(a:a eq 'x')", "not collection-valued"),
            (
                teams_app,
                "$filter=appDefinitions/any(a:a/bot eq 'x')",
                "can only be compared with null",
            ),
            (teams_app, "$filter=appDefinitions/any(a:a/bot)", "not a boolean expression"),
            (teams_app, "$filter=appDefinitions/any(a a/bot ne null)", "expected ':'"),
            (teams_app, "$filter=(id eq 'a') eq true", "must be values"),
            (teams_app, "$filter=id/x eq 'a'", "on type 'Edm.String'"),
            (teams_app, "$filter=id eq 'a':", "unexpected ':'"),
            (teams_app, "$filter=%E2%82", "not valid UTF-8"),
        ];
        for (ty, raw, needle) in cases {
            let e = parse_err(raw, *ty, V1);
            assert!(e.contains(needle), "{raw}: {e:?} does not contain {needle:?}");
        }
        // v1.0 does not know beta-only properties or navigations.
        let e = parse_err("$expand=appDefinitions($select=azureADAppId)", teams_app, V1);
        assert!(e.contains("'azureADAppId'"), "{e}");
        let e = parse_err("$expand=appDefinitions($expand=colorIcon)", teams_app, V1);
        assert!(e.contains("'colorIcon'"), "{e}");
        assert!(ODataQuery::parse(
            "$expand=appDefinitions($expand=colorIcon)",
            teams_app(BETA),
            BETA
        )
        .is_ok());
    }

    #[test]
    fn hostile_input_never_panics() {
        let deep_parens = format!("$filter={}id eq 'a'{}", "(".repeat(5000), ")".repeat(5000));
        let deep_not = format!("$filter={}id eq 'a'", "not ".repeat(5000));
        let deep_expand = format!("$expand={}", "appDefinitions($expand=".repeat(2000));
        let long_or = format!("$filter=id eq 'a'{}", " or id eq 'b'".repeat(2000));
        let hostile: Vec<String> = [
            "",
            "?",
            "&",
            "=",
            "$",
            "$=",
            "==",
            "&&&=&",
            "%",
            "%%",
            "%2",
            "%zz",
            "%C3",
            "%FF%FE",
            "+",
            "$filter=%",
            "$filter=(",
            "$filter=)",
            "$filter='",
            "$filter=''",
            "$filter=''''",
            "$filter=-",
            "$filter=-1",
            "$filter=1e",
            "$filter=1e+",
            "$filter=1.",
            "$filter=.5",
            "$filter=é eq 'é'",
            "$filter=id eq 'é",
            "$filter=id eq 'ü'",
            "$filter=/",
            "$filter=a/",
            "$filter=id/",
            "$filter=any()",
            "$filter=appDefinitions/any(",
            "$filter=appDefinitions/any(a:",
            "$filter=appDefinitions/any(a:a/",
            "$filter=appDefinitions/any(a:a/bot ne null",
            "$filter=appDefinitions/any(a:a/bot ne null))",
            "$filter=appDefinitions/any(a:b/bot ne null)",
            "$filter=appDefinitions/any(a:a)",
            "$filter=appDefinitions/any(a:a eq null)",
            "$filter=not",
            "$filter=not not",
            "$filter=and",
            "$filter=or or or",
            "$filter=eq eq eq",
            "$filter=null eq null",
            "$filter=true eq false",
            "$filter=1 eq 1",
            "$filter=1e400 gt 1",
            "$filter=startswith(",
            "$filter=startswith(,)",
            "$filter=contains('a','b')",
            "$filter=contains(id,appDefinitions)",
            "$filter=id eq id",
            "$filter=\u{0}",
            "$select=",
            "$select=,",
            "$select=(",
            "$select=*,*",
            "$select=id(",
            "$expand=(",
            "$expand=)",
            "$expand=()",
            "$expand=appDefinitions(()",
            "$expand=appDefinitions($expand=bot(",
            "$expand=appDefinitions($filter=')",
            "$expand=appDefinitions($filter=bot ne null)",
            "$expand=appDefinitions(;;;)",
            "$expand=appDefinitions($select=id;)",
            "$top=",
            "$top=+1",
            "$top= 1",
            "$count=",
            "$skiptoken=%",
            "$filter=id eq 'a'%26$top=1",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([deep_parens, deep_not, deep_expand, long_or])
        .collect();
        let entities =
            [app(), app_without_bots(), install(), json!(null), json!({"id": 1}), json!([])];
        for raw in &hostile {
            for version in [V1, BETA] {
                for ty in [
                    teams_app(version),
                    installation(version),
                    user_installation(version),
                    teamwork_bot(version),
                ] {
                    if let Ok(q) = ODataQuery::parse(raw, ty, version) {
                        let _ = q.context_suffix();
                        for e in &entities {
                            let _ = q.matches(e);
                            let _ = q.shape(e.clone(), ty, version);
                        }
                    }
                }
            }
        }
    }

    // ---- shaping ----

    #[test]
    fn shape_catalog_rsc_example() {
        // v1_catalog_list_rsc_permissions
        let q = parse(
            "$filter=id+eq+'8a1ed7a3'&$expand=appDefinitions($select=id,authorization)",
            teams_app,
        );
        let a = app();
        assert!(q.matches(&a));
        let shaped = q.shape(a.clone(), teams_app(V1), V1);
        assert_eq!(
            shaped,
            json!({
                "id": "8a1ed7a3",
                "externalId": "3CAB7543",
                "displayName": "Ducks-3",
                "distributionMethod": "organization",
                "appDefinitions": [
                    {"@odata.etag": "\"etag\"", "id": "def-1", "authorization": a["appDefinitions"][0]["authorization"]},
                    {"@odata.etag": "\"etag\"", "id": "def-2", "authorization": a["appDefinitions"][1]["authorization"]},
                ]
            })
        );
    }

    #[test]
    fn shape_omits_null_single_navigation_and_versions_differ() {
        // v1_catalog_list_with_bots: definitions without a bot have no "bot" key.
        let q = parse("$expand=appDefinitions($expand=bot)", teams_app);
        let shaped = q.shape(app(), teams_app(V1), V1);
        let defs = shaped["appDefinitions"].as_array().unwrap();
        assert_eq!(defs[0]["bot"], json!({"id": "bot-1"}));
        assert!(defs[1].get("bot").is_none());
        let mut v1_keys: Vec<&String> = defs[0].as_object().unwrap().keys().collect();
        v1_keys.sort_unstable();
        let mut expected = vec![
            "@odata.etag",
            "id",
            "teamsAppId",
            "displayName",
            "version",
            "publishingState",
            "shortDescription",
            "description",
            "lastModifiedDateTime",
            "createdBy",
            "authorization",
            "bot",
        ];
        expected.sort_unstable();
        assert_eq!(v1_keys, expected);

        let q = ODataQuery::parse("$expand=appDefinitions", teams_app(BETA), BETA).unwrap();
        let shaped = q.shape(app(), teams_app(BETA), BETA);
        let def = shaped["appDefinitions"][0].as_object().unwrap();
        for k in [
            "azureADAppId",
            "requiredResourceSpecificApplicationPermissions",
            "allowedInstallationScopes",
        ] {
            assert!(def.contains_key(k), "beta lacks {k}");
        }
        // beta spells shortdescription in lower case; the value comes from either spelling
        assert_eq!(def["shortdescription"], json!("short"));
        assert!(!def.contains_key("shortDescription"));
        assert!(!def.contains_key("bot"), "non-expanded navigations are dropped");

        // Without $expand, navigations are dropped entirely.
        let shaped = ODataQuery::default().shape(app(), teams_app(V1), V1);
        assert!(shaped.get("appDefinitions").is_none());
        // An absent collection expands to [].
        let shaped =
            parse("$expand=appDefinitions", teams_app).shape(json!({"id": "x"}), teams_app(V1), V1);
        assert_eq!(shaped["appDefinitions"], json!([]));
        assert_eq!(shaped["displayName"], Value::Null, "missing properties are null");
    }

    #[test]
    fn shape_installations() {
        let i = install();
        let ty = installation(V1);
        // default: only id (consentedPermissionSet is select-only), navigations dropped
        assert_eq!(ODataQuery::default().shape(i.clone(), ty, V1), json!({"id": "inst-1"}));
        // v1_chat_list_installedApps_select_consentedPermissionSet
        let q = parse("$select=consentedPermissionSet,id", installation);
        assert_eq!(
            q.shape(i.clone(), ty, V1),
            json!({"id": "inst-1", "consentedPermissionSet": i["consentedPermissionSet"]})
        );
        assert_eq!(
            parse("$select=*", installation).shape(i.clone(), ty, V1),
            json!({"id": "inst-1"})
        );
        let q = parse("$select=consentedPermissionSet", installation);
        assert_eq!(q.shape(json!({"id": "x"}), ty, V1), json!({"consentedPermissionSet": null}));
        // v1_team_list_installedApps_expand_definition (v1.0 property set only)
        let q = parse("$expand=teamsAppDefinition", installation);
        let shaped = q.shape(i.clone(), ty, V1);
        let def = shaped["teamsAppDefinition"].as_object().unwrap();
        assert!(!def.contains_key("azureADAppId"));
        assert_eq!(def["version"], json!("1.0.9"));
        assert!(shaped.get("teamsApp").is_none());
        // nested select in expand, and a nested filter on a single-valued navigation
        let q = parse("$expand=teamsApp($select=externalId;$expand=appDefinitions($select=id)),teamsAppDefinition($filter=version eq '0')", installation);
        assert_eq!(
            q.shape(i.clone(), ty, V1),
            json!({"id": "inst-1", "teamsApp": {"externalId": "cf1ba4c7", "appDefinitions": [{"@odata.etag": "\"etag\"", "id": "def-9"}]}})
        );
        // user installation: expanded null chat is omitted, beta definitions carry beta props
        let q = ODataQuery::parse("$expand=chat,teamsAppDefinition", user_installation(BETA), BETA)
            .unwrap();
        let shaped = q.shape(i.clone(), user_installation(BETA), BETA);
        assert!(shaped.get("chat").is_none());
        assert_eq!(shaped["teamsAppDefinition"]["azureADAppId"], json!("aad-1"));
        // nested $filter on a collection
        let q = parse(
            "$expand=appDefinitions($filter=publishingState eq 'submitted';$select=id)",
            teams_app,
        );
        assert_eq!(
            q.shape(app(), teams_app(V1), V1)["appDefinitions"],
            json!([{"@odata.etag": "\"etag\"", "id": "def-2"}])
        );
    }

    #[test]
    fn decoding() {
        assert_eq!(decode_query_component("a+b%20c%27%2F").unwrap(), "a b c'/");
        assert_eq!(decode_query_component("100%").unwrap(), "100%");
        assert_eq!(decode_query_component("%g1%4").unwrap(), "%g1%4");
        assert_eq!(decode_query_component("%C3%A9").unwrap(), "é");
        assert!(decode_query_component("%C3").is_err());
        let q = parse("$filter=displayName eq 'a%26b' or displayName eq 'it''s'", teams_app);
        assert!(q.matches(&json!({"displayName": "a&b"})));
        assert!(q.matches(&json!({"displayName": "it's"})));
        assert!(!q.matches(&json!({"displayName": "it''s"})));
    }

    // The by-value shaping against the copying oracle, on every form of query.
    fn oracle_definition(id: &str, bot: Option<&str>) -> Value {
        json!({
            "@odata.etag": "\"e\"",
            "id": id,
            "teamsAppId": "app-1",
            "displayName": "Ducks",
            "version": "1.0.9",
            "publishingState": "published",
            "description": "long",
            "lastModifiedDateTime": null,
            "createdBy": {"user": {"id": "u1", "displayName": null}},
            "authorization": {"clientAppId": "c", "requiredPermissionSet":
                {"resourceSpecificPermissions": [{"permissionValue": "A", "permissionType": "application"}]}},
            "bot": bot.map(|b| json!({"id": b})),
            "shortdescription": "lower-case spelling (beta)",
            "azureADAppId": "c",
        })
    }

    fn oracle_installation() -> Value {
        json!({
            "id": "inst-1",
            "consentedPermissionSet": {"resourceSpecificPermissions": []},
            "teamsApp": {"id": "app-1", "externalId": "x", "displayName": "Ducks",
                "distributionMethod": "organization",
                "appDefinitions": [oracle_definition("d1", None), oracle_definition("d2", Some("b"))]},
            "teamsAppDefinition": oracle_definition("d2", Some("bot-1")),
            "chat": {"id": "19:c", "topic": null, "chatType": "oneOnOne", "tenantId": "t"},
        })
    }

    const QUERIES: &[&str] = &[
        "",
        "$expand=teamsApp",
        "$expand=teamsAppDefinition",
        "$expand=teamsApp,teamsAppDefinition,chat",
        "$expand=teamsAppDefinition($expand=bot)",
        "$expand=teamsAppDefinition($select=id,shortDescription,bot;$expand=bot)",
        "$expand=teamsApp($expand=appDefinitions($filter=id eq 'd2'))",
        "$expand=teamsApp($expand=appDefinitions($select=id,version))",
        "$expand=teamsAppDefinition($filter=id eq 'nope')",
        "$select=id",
        "$select=id,consentedPermissionSet&$expand=teamsAppDefinition",
        "$select=*&$expand=teamsApp",
        "$select=teamsApp&$expand=teamsApp",
    ];

    #[test]
    fn shape_moves_values_and_answers_as_the_copying_oracle() {
        let mut compared = 0;
        for v in [ApiVersion::V1, ApiVersion::Beta] {
            for ty in [installation(v), user_installation(v)] {
                for raw in QUERIES {
                    // Only user installations have `chat`.
                    let Ok(query) = ODataQuery::parse(raw, ty, v) else { continue };
                    let full = oracle_installation();
                    let want =
                        shape_by_reference(&full, ty, v, query.select.as_deref(), &query.expand);
                    assert_eq!(
                        query.shape(full, ty, v).to_string(),
                        want.to_string(),
                        "{v:?} {raw}"
                    );
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 4 * QUERIES.len() - 2);
    }

    #[test]
    fn a_member_read_twice_is_copied_not_lost() {
        // Two properties that differ only in case both read the one entry the view has.
        static TWICE: EntityType = EntityType {
            name: "twice",
            properties: &["shortDescription", "SHORTDESCRIPTION", "id"],
            select_only: &[],
            navigations: &[],
            kinds: &[],
        };
        let query = ODataQuery::default();
        let full = json!({"@a": 1, "id": "x", "shortdescription": {"deep": ["value"]}});
        let want = shape_by_reference(&full, &TWICE, V1, None, &[]);
        assert_eq!(want["SHORTDESCRIPTION"], json!({"deep": ["value"]}));
        assert_eq!(query.shape(full, &TWICE, V1).to_string(), want.to_string());
        assert_eq!(query.shape(json!("scalar"), &TWICE, V1), json!("scalar"));
    }
}

//! The `$filter` tokenizer and parser, resolving property paths against the metadata.

use std::fmt;

use super::ast::{CmpOp, Expr, LambdaKind, Literal, Operand, PropertyPath, StringFn};
use super::error::{invalid_filter, not_found, QueryError};
use crate::metadata::{ComplexType, EntityType, PropKind};
use crate::odata::ApiVersion;

/// Nesting limit for `$filter` expressions and `$expand` options (keeps recursion bounded).
pub(super) const MAX_DEPTH: usize = 64;
/// Limit on `and`/`or` operators in one `$filter` (keeps the expression tree shallow enough to
/// evaluate and drop recursively).
pub(super) const MAX_OPERATORS: usize = 500;

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

pub(super) fn parse_filter(
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

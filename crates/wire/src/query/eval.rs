//! Evaluation of a `$filter` on an entity's full JSON.

use std::cmp::Ordering;

use serde_json::Value;

use super::ast::{CmpOp, Expr, LambdaKind, Literal, Operand, PropertyPath, StringFn};

/// Whether `entity` passes an optional filter (true without one).
pub(super) fn passes(filter: Option<&Expr>, entity: &Value) -> bool {
    match filter {
        None => true,
        Some(f) => f.matches(entity),
    }
}

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
pub(super) fn member<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
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

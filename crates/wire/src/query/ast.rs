//! The `$filter` syntax tree, validated against the metadata while it is parsed.

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

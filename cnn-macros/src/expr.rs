//! The expressions of block parameters, loop bounds and conditions: integers, floats, booleans
//! and words, with `+ - * / %` (integer division and remainder floor, as Python's `//` and `%`),
//! comparisons, `&& || !`, parentheses and `(a, b)` pairs. Parsed from tokens once, evaluated
//! for each use of a block with its arguments bound.

use crate::error::at;
use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

/// A parsed expression.
#[derive(Clone, Debug)]
pub enum Expr {
    Int(i64, Span),
    Float(f64, Span),
    Bool(bool, Span),
    Str(String, Span),
    /// `_`: take the size from the previous layer.
    Infer(Span),
    /// A parameter, a loop variable, or else a plain word such as `nearest`.
    Name(String, Span),
    /// `-x` or `!x`.
    Unary(char, Box<Expr>, Span),
    /// `a OP b`, with the operator's span.
    Binary(Op, Box<Expr>, Box<Expr>, Span),
    /// `(h, w)`.
    Pair(Box<Expr>, Box<Expr>, Span),
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Rem => "%",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::And => "&&",
            Op::Or => "||",
        }
    }
    /// Binding strength: higher binds tighter.
    fn precedence(self) -> u8 {
        match self {
            Op::Or => 1,
            Op::And => 2,
            Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => 3,
            Op::Add | Op::Sub => 4,
            Op::Mul | Op::Div | Op::Rem => 5,
        }
    }
}

/// A value an expression evaluates to.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Word(String),
    Str(String),
    Infer,
    Pair(i64, i64),
}

impl fmt::Display for Value {
    /// The value as the DSL would spell it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v:?}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Word(w) => write!(f, "{w}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Infer => write!(f, "_"),
            Value::Pair(h, w) => write!(f, "({h}, {w})"),
        }
    }
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Word(_) | Value::Str(_) => "a word",
            Value::Infer => "`_`",
            Value::Pair(..) => "a pair",
        }
    }
}

/// The names in scope and their values: a block's parameters and the loop variables around.
pub type Env = HashMap<String, Value>;

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Int(_, s)
            | Expr::Float(_, s)
            | Expr::Bool(_, s)
            | Expr::Str(_, s)
            | Expr::Infer(s)
            | Expr::Name(_, s)
            | Expr::Unary(_, _, s)
            | Expr::Binary(_, _, _, s)
            | Expr::Pair(_, _, s) => *s,
        }
    }

    /// The span of the expression's first token, where an error about its value points.
    pub fn first_span(&self) -> Span {
        match self {
            Expr::Binary(_, a, _, _) => a.first_span(),
            other => other.span(),
        }
    }

    /// Evaluates the expression with `env`'s names bound; a name not in `env` is a word.
    pub fn eval(&self, env: &Env) -> syn::Result<Value> {
        match self {
            Expr::Int(v, _) => Ok(Value::Int(*v)),
            Expr::Float(v, _) => Ok(Value::Float(*v)),
            Expr::Bool(v, _) => Ok(Value::Bool(*v)),
            Expr::Str(v, _) => Ok(Value::Str(v.clone())),
            Expr::Infer(_) => Ok(Value::Infer),
            Expr::Name(n, _) => Ok(env.get(n).cloned().unwrap_or_else(|| Value::Word(n.clone()))),
            Expr::Pair(h, w, span) => match (h.eval(env)?, w.eval(env)?) {
                (Value::Int(h), Value::Int(w)) => Ok(Value::Pair(h, w)),
                (h, w) => Err(at(*span, format!("a pair holds two integers, not ({h}, {w})"), None)),
            },
            Expr::Unary(op, x, span) => match (op, x.eval(env)?) {
                ('-', Value::Int(v)) => {
                    v.checked_neg().map(Value::Int).ok_or_else(|| at(*span, format!("-{v} overflows an integer"), None))
                }
                ('-', Value::Float(v)) => Ok(Value::Float(-v)),
                ('!', Value::Bool(b)) => Ok(Value::Bool(!b)),
                (op, v) => Err(operand(*span, &op.to_string(), x, &v, env)),
            },
            Expr::Binary(op, a, b, span) => binary(*op, a, b, *span, env),
        }
    }

    /// The expression as written, normalized.
    pub fn text(&self) -> String {
        match self {
            Expr::Int(v, _) => v.to_string(),
            Expr::Float(v, _) => format!("{v:?}"),
            Expr::Bool(v, _) => v.to_string(),
            Expr::Str(v, _) => format!("{v:?}"),
            Expr::Infer(_) => "_".into(),
            Expr::Name(n, _) => n.clone(),
            Expr::Unary(op, x, _) => format!("{op}{}", x.wrapped(6)),
            Expr::Binary(op, a, b, _) => {
                let p = op.precedence();
                format!("{} {} {}", a.wrapped(p), op.text(), b.wrapped(p + 1))
            }
            Expr::Pair(h, w, _) => format!("({}, {})", h.text(), w.text()),
        }
    }

    /// The text, parenthesized if it binds looser than `precedence`.
    fn wrapped(&self, precedence: u8) -> String {
        match self {
            Expr::Binary(op, ..) if op.precedence() < precedence => format!("({})", self.text()),
            _ => self.text(),
        }
    }
}

/// An error for an operand of the wrong kind, naming the operand's text and value.
fn operand(span: Span, op: &str, x: &Expr, v: &Value, env: &Env) -> syn::Error {
    let shown = if x.text() == v.to_string() { format!("`{v}`") } else { format!("`{}` ({v})", x.text()) };
    let hint = match (x, v) {
        (Expr::Name(n, _), Value::Word(_)) => {
            let names = crate::error::names_here(n, env.keys().map(String::as_str).collect());
            Some(match names {
                Some(names) => format!("`{n}` is not a parameter or loop variable; {names}"),
                None => format!("`{n}` is not a parameter or loop variable"),
            })
        }
        _ => None,
    };
    at(span, format!("`{op}` cannot take {shown}, which is {}", v.kind()), hint)
}

fn binary(op: Op, a: &Expr, b: &Expr, span: Span, env: &Env) -> syn::Result<Value> {
    let x = a.eval(env)?;
    // `&&` and `||` short-circuit, so that `b != 0 && n / b > 1` is safe.
    match (op, &x) {
        (Op::And, Value::Bool(false)) => return Ok(Value::Bool(false)),
        (Op::Or, Value::Bool(true)) => return Ok(Value::Bool(true)),
        (Op::And | Op::Or, Value::Bool(_)) => {
            return match b.eval(env)? {
                Value::Bool(y) => Ok(Value::Bool(y)),
                y => Err(operand(span, op.text(), b, &y, env)),
            }
        }
        (Op::And | Op::Or, _) => return Err(operand(span, op.text(), a, &x, env)),
        _ => {}
    }
    let y = b.eval(env)?;
    let overflow = || at(span, format!("`{}` overflows an integer ({x} {} {y})", op.text(), op.text()), None);
    match (&x, &y) {
        (Value::Int(p), Value::Int(q)) => {
            let (p, q) = (*p, *q);
            let v = match op {
                Op::Add => p.checked_add(q).ok_or_else(overflow)?,
                Op::Sub => p.checked_sub(q).ok_or_else(overflow)?,
                Op::Mul => p.checked_mul(q).ok_or_else(overflow)?,
                Op::Div | Op::Rem if q == 0 => {
                    return Err(at(
                        span,
                        format!(
                            "division by zero: `{}` is {p} {} 0",
                            Expr::Binary(op, a.clone().into(), b.clone().into(), span).text(),
                            op.text()
                        ),
                        Some("make the divisor nonzero for every use, or guard it with `if`".into()),
                    ))
                }
                // Python's floor division and modulo: the quotient rounds toward -infinity and
                // the remainder takes the divisor's sign.
                Op::Div => {
                    let d = p.checked_div_euclid(q).ok_or_else(overflow)?;
                    if q < 0 && p.rem_euclid(q) != 0 {
                        d - 1
                    } else {
                        d
                    }
                }
                Op::Rem => {
                    let r = p.checked_rem_euclid(q).ok_or_else(overflow)?;
                    if q < 0 && r != 0 {
                        r + q
                    } else {
                        r
                    }
                }
                _ => return Ok(Value::Bool(compare(op, p.cmp(&q)))),
            };
            Ok(Value::Int(v))
        }
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let (p, q) = (as_float(&x), as_float(&y));
            let v = match op {
                Op::Add => p + q,
                Op::Sub => p - q,
                Op::Mul => p * q,
                Op::Div | Op::Rem if q == 0.0 => {
                    return Err(at(span, format!("division by zero: {x} {} {y}", op.text()), None))
                }
                // A float quotient is a true division, as Python's `/` on floats.
                Op::Div => p / q,
                Op::Rem => p - q * (p / q).floor(),
                _ => {
                    return match p.partial_cmp(&q) {
                        Some(o) => Ok(Value::Bool(compare(op, o))),
                        None => Ok(Value::Bool(op == Op::Ne)),
                    }
                }
            };
            Ok(Value::Float(v))
        }
        _ if matches!(op, Op::Eq | Op::Ne) => Ok(Value::Bool((x == y) == (op == Op::Eq))),
        (Value::Int(_) | Value::Float(_), _) => Err(operand(span, op.text(), b, &y, env)),
        _ => Err(operand(span, op.text(), a, &x, env)),
    }
}

fn as_float(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

fn compare(op: Op, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => o == Equal,
        Op::Ne => o != Equal,
        Op::Lt => o == Less,
        Op::Le => o != Greater,
        Op::Gt => o == Greater,
        Op::Ge => o != Less,
        _ => false,
    }
}

/// Parses `tokens` as one expression (an argument: a stray token after it is taken for a
/// missing comma).
pub fn parse(tokens: &[TokenTree]) -> syn::Result<Expr> {
    let mut p = Parser { tokens, at: 0, operators: Rc::new(Cell::new(0)) };
    let e = p.expr(0)?;
    if let Some(tt) = p.tokens.get(p.at) {
        let before = &p.tokens[p.at - 1];
        return Err(syn::Error::new(
            tt.span(),
            format!("unexpected `{tt}` after `{before}`; separate arguments with commas"),
        ));
    }
    Ok(e)
}

/// Parses a whole token stream as one expression (a loop bound, a condition).
pub fn parse_stream(tokens: TokenStream, span: Span) -> syn::Result<Expr> {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    if tokens.is_empty() {
        return Err(syn::Error::new(span, "expected an expression here"));
    }
    parse(&tokens)
}

struct Parser<'t> {
    tokens: &'t [TokenTree],
    at: usize,
    /// Binary operators read so far in the whole expression, parenthesized parts included.
    operators: Rc<Cell<usize>>,
}

/// Expressions nest at most this deep (parentheses, unary operators), so that no input
/// recurses without bound.
pub const MAX_NESTING: usize = 64;

/// An expression has at most this many binary operators: a chain of them is a tree as deep as
/// it is long, which evaluating, printing and dropping walk recursively.
pub const MAX_OPERATORS: usize = 256;

impl Parser<'_> {
    fn punct(&self, i: usize) -> Option<(char, bool)> {
        match self.tokens.get(self.at + i) {
            Some(TokenTree::Punct(p)) => Some((p.as_char(), p.spacing() == proc_macro2::Spacing::Joint)),
            _ => None,
        }
    }

    /// The binary operator at the cursor and how many tokens it takes.
    fn operator(&self) -> Option<(Op, usize)> {
        let (c, joint) = self.punct(0)?;
        let next = if joint { self.punct(1).map(|(c, _)| c) } else { None };
        Some(match (c, next) {
            ('=', Some('=')) => (Op::Eq, 2),
            ('!', Some('=')) => (Op::Ne, 2),
            ('<', Some('=')) => (Op::Le, 2),
            ('>', Some('=')) => (Op::Ge, 2),
            ('&', Some('&')) => (Op::And, 2),
            ('|', Some('|')) => (Op::Or, 2),
            ('<', _) => (Op::Lt, 1),
            ('>', _) => (Op::Gt, 1),
            ('+', _) => (Op::Add, 1),
            ('-', _) => (Op::Sub, 1),
            ('*', _) => (Op::Mul, 1),
            ('/', _) => (Op::Div, 1),
            ('%', _) => (Op::Rem, 1),
            _ => return None,
        })
    }

    /// Precedence climbing: operands joined by operators binding at least `min`.
    fn expr(&mut self, depth: usize) -> syn::Result<Expr> {
        self.climb(0, depth)
    }

    fn climb(&mut self, min: u8, depth: usize) -> syn::Result<Expr> {
        let mut lhs = self.unary(depth)?;
        while let Some((op, len)) = self.operator() {
            if op.precedence() < min.max(1) {
                break;
            }
            let span = self.tokens[self.at].span();
            self.operators.set(self.operators.get() + 1);
            if self.operators.get() > MAX_OPERATORS {
                return Err(crate::error::at(
                    span,
                    format!("this expression has more than {MAX_OPERATORS} operators"),
                    Some("the DSL's expressions are short arithmetic on parameters and loop variables; split the computation, or write the value".into()),
                ));
            }
            self.at += len;
            let rhs = self.climb(op.precedence() + 1, depth)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs), span);
        }
        Ok(lhs)
    }

    fn unary(&mut self, depth: usize) -> syn::Result<Expr> {
        if depth > MAX_NESTING {
            let span = self.tokens.get(self.at).map_or_else(Span::call_site, TokenTree::span);
            return Err(syn::Error::new(span, format!("expression nests more than {MAX_NESTING} deep")));
        }
        match self.punct(0) {
            Some((c @ ('-' | '!'), _)) => {
                let span = self.tokens[self.at].span();
                self.at += 1;
                let x = self.unary(depth + 1)?;
                // `-3` is the number itself, as a literal would be.
                Ok(match x {
                    Expr::Int(v, _) if c == '-' => Expr::Int(-v, span),
                    Expr::Float(v, _) if c == '-' => Expr::Float(-v, span),
                    x => Expr::Unary(c, Box::new(x), span),
                })
            }
            _ => self.primary(depth),
        }
    }

    fn primary(&mut self, depth: usize) -> syn::Result<Expr> {
        let Some(tt) = self.tokens.get(self.at) else {
            let span = self.tokens.last().map_or_else(Span::call_site, TokenTree::span);
            return Err(syn::Error::new(span, "expected a value after this operator"));
        };
        self.at += 1;
        let span = tt.span();
        match tt {
            TokenTree::Ident(i) if i == "_" => Ok(Expr::Infer(span)),
            TokenTree::Ident(i) if i == "true" || i == "false" => Ok(Expr::Bool(i == "true", span)),
            TokenTree::Ident(i) => Ok(Expr::Name(i.to_string(), span)),
            TokenTree::Punct(p) if p.as_char() == '_' => Ok(Expr::Infer(span)),
            TokenTree::Literal(lit) => literal(lit),
            TokenTree::Group(g) if matches!(g.delimiter(), Delimiter::Parenthesis | Delimiter::None) => {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                let comma = inner.iter().position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','));
                let sub = |part: &[TokenTree]| -> syn::Result<Expr> {
                    if part.is_empty() {
                        return Err(syn::Error::new(g.span(), "expected an expression inside these parentheses"));
                    }
                    let mut p = Parser { tokens: part, at: 0, operators: Rc::clone(&self.operators) };
                    let e = p.expr(depth + 1)?;
                    match p.tokens.get(p.at) {
                        Some(extra) => {
                            Err(syn::Error::new(extra.span(), format!("unexpected `{extra}` in this expression")))
                        }
                        None => Ok(e),
                    }
                };
                match comma {
                    None => sub(&inner),
                    Some(c) => {
                        let rest = &inner[c + 1..];
                        let rest = match rest.last() {
                            Some(TokenTree::Punct(p)) if p.as_char() == ',' => &rest[..rest.len() - 1],
                            _ => rest,
                        };
                        let (h, w) = (sub(&inner[..c])?, sub(rest)?);
                        Ok(Expr::Pair(Box::new(h), Box::new(w), g.span()))
                    }
                }
            }
            other => Err(syn::Error::new(span, format!("expected a number, a name or `(`, found `{other}`"))),
        }
    }
}

fn literal(lit: &proc_macro2::Literal) -> syn::Result<Expr> {
    let span = lit.span();
    match syn::Lit::new(lit.clone()) {
        syn::Lit::Int(i) if !i.suffix().is_empty() => Err(syn::Error::new(
            span,
            format!("write `{}` without the `{}` suffix: sizes are plain integers", i.base10_digits(), i.suffix()),
        )),
        syn::Lit::Int(i) => {
            i.base10_parse::<i64>().map(|v| Expr::Int(v, span)).map_err(|_| crate::error::too_large(&i, span))
        }
        syn::Lit::Float(f) if !f.suffix().is_empty() => {
            Err(syn::Error::new(span, format!("write `{}` without the `{}` suffix", f.base10_digits(), f.suffix())))
        }
        syn::Lit::Float(f) => match f.base10_parse::<f64>()? {
            v if v.is_infinite() => Err(crate::error::float_out_of_range(&f, span)),
            v => Ok(Expr::Float(v, span)),
        },
        syn::Lit::Str(s) => Ok(Expr::Str(s.value(), span)),
        _ => Err(syn::Error::new(span, format!("expected a number, a word or an `(h, w)` pair, found `{lit}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, env: &[(&str, Value)]) -> Result<Value, String> {
        let tokens: TokenStream = text.parse().unwrap();
        let env: Env = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        parse_stream(tokens, Span::call_site()).and_then(|e| e.eval(&env)).map_err(|e| e.to_string())
    }

    #[test]
    fn arithmetic_follows_python() {
        assert_eq!(eval("64 + 32 * 3", &[]), Ok(Value::Int(160)));
        assert_eq!(eval("(64 + 32) * 3", &[]), Ok(Value::Int(288)));
        assert_eq!(eval("7 / 2", &[]), Ok(Value::Int(3)));
        assert_eq!(eval("-7 / 2", &[]), Ok(Value::Int(-4)));
        assert_eq!(eval("7 / -2", &[]), Ok(Value::Int(-4)));
        assert_eq!(eval("-7 % 3", &[]), Ok(Value::Int(2)));
        assert_eq!(eval("7 % -3", &[]), Ok(Value::Int(-2)));
        assert_eq!(eval("10 - 3 - 2", &[]), Ok(Value::Int(5)));
        assert_eq!(eval("0.2 * i / 16", &[("i", Value::Int(4))]), Ok(Value::Float(0.2 * 4.0 / 16.0)));
        assert_eq!(eval("planes * 4", &[("planes", Value::Int(64))]), Ok(Value::Int(256)));
        assert_eq!(eval("(k, k / 2)", &[("k", Value::Int(7))]), Ok(Value::Pair(7, 3)));
        assert_eq!(eval("nearest", &[]), Ok(Value::Word("nearest".into())));
        assert_eq!(eval("m", &[("m", Value::Word("bilinear".into()))]), Ok(Value::Word("bilinear".into())));
    }

    #[test]
    fn conditions() {
        let env = [("s", Value::Int(2)), ("cin", Value::Int(64)), ("planes", Value::Int(64))];
        assert_eq!(eval("s != 1 || cin != planes * 4", &env), Ok(Value::Bool(true)));
        assert_eq!(eval("s == 2 && !(cin < planes)", &env), Ok(Value::Bool(true)));
        assert_eq!(eval("cin >= 65 || planes <= 63", &env), Ok(Value::Bool(false)));
        // Short-circuit: the division is never evaluated.
        assert_eq!(eval("false && 1 / 0 == 1", &[]), Ok(Value::Bool(false)));
        assert_eq!(eval("1 + 2 == 3 && 2 * 2 > 3", &[]), Ok(Value::Bool(true)));
    }

    #[test]
    fn errors_name_the_values() {
        let e = eval("cin / (s - 1)", &[("cin", Value::Int(64)), ("s", Value::Int(1))]).unwrap_err();
        assert!(e.contains("division by zero: `cin / (s - 1)` is 64 / 0"), "{e}");
        let e = eval("plnes * 4", &[("planes", Value::Int(64))]).unwrap_err();
        assert!(e.contains("did you mean `planes`"), "{e}");
        let e = eval("1 +", &[]).unwrap_err();
        assert!(e.contains("expected a value"), "{e}");
        let e = eval("1 2", &[]).unwrap_err();
        assert!(e.contains("unexpected `2`"), "{e}");
        assert!(eval("9223372036854775807 + 1", &[]).unwrap_err().contains("overflows"));
        assert!(eval("-9223372036854775807 - 2", &[]).unwrap_err().contains("overflows"));
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        assert!(eval(&deep, &[]).unwrap_err().contains("nests"));
    }
}

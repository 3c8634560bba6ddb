//! The item tree a `cnn!` invocation parses into: block definitions and networks, their
//! statements (items, `for`, `if`), name templates with `{...}` interpolations, and argument
//! templates; [`crate::instance`] evaluates it into the plain [`ItemSyntax`] tree.

use super::*;

/// The DSL's own words beside the layer kinds and blocks: the input, block definitions, loops
/// and conditions, and the values an argument may be.
pub const KEYWORDS: &[&str] =
    &["input", "block", "for", "in", "if", "else", "true", "false", "None", "let", "from", "output", "reuse"];

/// The whole invocation: its block definitions and its networks, each network with the errors
/// parsing it found.
pub struct Invocation {
    pub blocks: Vec<BlockSyntax>,
    pub nets: Vec<(NetSyntax, Errors)>,
}

/// `block NAME(PARAMS) { ITEMS }`.
pub struct BlockSyntax {
    pub name: Ident,
    pub params: Vec<ParamSyntax>,
    pub body: Vec<Stmt>,
    /// Whether its body had syntax errors (reported once, with the definition): its uses then
    /// expand to nothing more, so that they add no errors of their own.
    pub broken: bool,
}

/// A block's parameter, with its default value if it has one (`s = 1`).
pub struct ParamSyntax {
    pub name: Ident,
    pub default: Option<Expr>,
}

/// One network struct, as written.
pub struct NetSyntax {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub items: Vec<Stmt>,
}

/// One statement of a struct or block body.
pub enum Stmt {
    Item(ItemTemplate),
    /// `for VAR in A..B { ... }` (`..=` includes B); `var` is `None` for `_`.
    For {
        var: Option<Ident>,
        from: Expr,
        to: Expr,
        inclusive: bool,
        span: Span,
        body: Vec<Stmt>,
    },
    /// `if COND { ... } else { ... }`.
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
}

/// An item as written: its arguments may be expressions and its name may interpolate them.
pub struct ItemTemplate {
    pub name: Option<NameTemplate>,
    pub kind: Ident,
    pub args: Option<(Span, Vec<ArgTemplate>)>,
    pub body: Option<(Span, Vec<Stmt>)>,
}

/// A name as written: segments, each plain or a string with `{expr}` parts.
pub struct NameTemplate {
    pub segments: Vec<Segment>,
    pub span: Span,
}

/// One segment of a name.
pub enum Segment {
    Plain(String),
    /// The stand-in for a segment already reported as wrong.
    Reported(String),
    /// A quoted segment with interpolations: text and expressions in turn.
    Interpolated(Vec<Piece>, Span),
}

/// A part of an interpolated string.
pub enum Piece {
    Text(String),
    Expr(Expr),
}

/// One argument as written, positional or `key = value`.
pub struct ArgTemplate {
    pub key: Option<Ident>,
    pub value: ValueTemplate,
}

/// An argument's value: a plain value, or an expression to evaluate.
pub enum ValueTemplate {
    Plain(ValueSyntax),
    Expr(Expr),
}

/// One item, evaluated: `name: kind(args)` or `name: kind { items }`, name and arguments
/// optional.
#[derive(Clone)]
pub struct ItemSyntax {
    /// Its position among all items of the network as evaluated (for error ordering).
    pub index: usize,
    pub name: Option<NameSyntax>,
    pub kind: Ident,
    pub args: Option<ArgsSyntax>,
    /// The braced body of a block.
    pub body: Option<(Span, Vec<ItemSyntax>)>,
    /// For a use of a defined block (a `seq` of its items): the use as the summary shows it,
    /// `bottleneck(256, 64, 1)`.
    pub shown: Option<String>,
    /// Already reported as an error (an unknown block, a use with bad arguments): it outputs
    /// an unknown shape and adds no errors of its own.
    pub reported: bool,
}

/// A name: an identifier, a dotted path of identifiers, integers and strings (`layer1.0`,
/// `"block1-0"`), or `_`, which adds no segment (no segment at all).
#[derive(Clone)]
pub struct NameSyntax {
    pub segments: Vec<String>,
    pub span: Span,
    /// Whether a segment is a stand-in for one already reported as wrong: such a name claims
    /// no key (its uses in a loop would all collide), so nothing more is said about it.
    pub reported: bool,
}

impl NameSyntax {
    pub fn text(&self) -> String {
        self.segments.join(".")
    }
    /// Whether the name is `_`: forward code that is not a module.
    pub fn is_blank(&self) -> bool {
        self.segments.is_empty()
    }
}

/// A parenthesized argument list.
#[derive(Clone)]
pub struct ArgsSyntax {
    pub span: Span,
    pub args: Vec<ArgSyntax>,
}

/// One argument, positional or `key = value`.
#[derive(Clone)]
pub struct ArgSyntax {
    pub key: Option<Ident>,
    pub value: ValueSyntax,
}

/// An argument value.
#[derive(Clone, Debug)]
pub enum ValueSyntax {
    /// An integer literal.
    Int(usize, Span),
    /// A float literal, or a negative number.
    Float(f64, Span),
    /// `_`: infer from the previous layer.
    Infer(Span),
    /// `(h, w)`.
    Pair(usize, usize, Span),
    /// `true` or `false`.
    Bool(bool, Span),
    /// A bare word such as `same`.
    Word(String, Span),
    /// A string literal such as `"same"`.
    Str(String, Span),
    /// Already reported as an error.
    Bad(Span),
}

impl ValueSyntax {
    pub fn span(&self) -> Span {
        match *self {
            ValueSyntax::Int(_, s)
            | ValueSyntax::Float(_, s)
            | ValueSyntax::Infer(s)
            | ValueSyntax::Pair(_, _, s)
            | ValueSyntax::Bool(_, s)
            | ValueSyntax::Word(_, s)
            | ValueSyntax::Str(_, s)
            | ValueSyntax::Bad(s) => s,
        }
    }

    /// The value as the DSL spells it.
    pub fn text(&self) -> String {
        match self {
            ValueSyntax::Int(v, _) => v.to_string(),
            ValueSyntax::Float(v, _) => format!("{v:?}"),
            ValueSyntax::Infer(_) => "_".into(),
            ValueSyntax::Pair(h, w, _) => format!("({h}, {w})"),
            ValueSyntax::Bool(b, _) => b.to_string(),
            ValueSyntax::Word(w, _) => w.clone(),
            ValueSyntax::Str(w, _) => format!("{w:?}"),
            ValueSyntax::Bad(_) => "?".into(),
        }
    }
}

impl ItemSyntax {
    /// For `let NAME`, `from NAME` and `output NAME`: the value's name, as written; `None` for
    /// any other item (and for one whose name was reported as wrong).
    pub fn value_name(&self) -> Option<&str> {
        if !self.is_value_step() {
            return None;
        }
        match self.args.as_ref()?.args.first()?.value {
            ValueSyntax::Word(ref w, _) => Some(w),
            _ => None,
        }
    }

    /// Whether the item is `let NAME`, `from NAME` or `output NAME`: no layer, no key, no
    /// position.
    pub fn is_value_step(&self) -> bool {
        self.kind == "let" || self.kind == "from" || self.kind == "output"
    }

    /// The item as the DSL spells it, with normalized spacing: `conv(1, 6, k=5, p=2)`, or
    /// `residual { .. }` for a block.
    pub fn text(&self) -> String {
        if let Some(shown) = &self.shown {
            return shown.clone();
        }
        let mut s = self.kind.to_string();
        if let Some(value) = self.value_name() {
            return format!("{s} {value}");
        }
        if let Some(args) = &self.args {
            let parts: Vec<String> = args
                .args
                .iter()
                .map(|a| match &a.key {
                    Some(k) => format!("{k}={}", a.value.text()),
                    None => a.value.text(),
                })
                .collect();
            s += &format!("({})", parts.join(", "));
        }
        if self.body.is_some() {
            s += " {";
        }
        s
    }
}

/// A network with every block use, loop and condition expanded.
pub struct Net {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub items: Vec<ItemSyntax>,
}

//! Token-level syntax of a `cnn!` invocation: block definitions (`block NAME(PARAMS) { ... }`)
//! and network structs, in any order, each holding a tree of statements: items (a layer
//! `name: kind(args)`, a block `name: kind { items }` or a use of a defined block
//! `name: NAME(args)`), `for` loops and `if` conditions. Arguments may be expressions over the
//! block's parameters and the loop variables; [`crate::instance`] evaluates them into the plain
//! [`ItemSyntax`] tree the graph reads.
//!
//! The parser is lenient: a malformed item or argument is recorded as an error and parsing goes
//! on with the next one, so a single compile reports every mistake. Only a malformed header (a
//! struct's attributes, visibility, `struct Name { ... }`, or a block's `block NAME(...)`) stops
//! it.

use crate::error::Errors;
use crate::expr::{self, Expr};
use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Ident, Token, Visibility};

/// The DSL's own words beside the layer kinds and blocks: the input, block definitions, loops
/// and conditions, and the values an argument may be.
pub const KEYWORDS: &[&str] = &["input", "block", "for", "in", "if", "else", "true", "false", "None"];

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
pub struct ArgsSyntax {
    pub span: Span,
    pub args: Vec<ArgSyntax>,
}

/// One argument, positional or `key = value`.
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
    /// The item as the DSL spells it, with normalized spacing: `conv(1, 6, k=5, p=2)`, or
    /// `residual { .. }` for a block.
    pub fn text(&self) -> String {
        if let Some(shown) = &self.shown {
            return shown.clone();
        }
        let mut s = self.kind.to_string();
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

/// The struct's attributes with `Clone` and `Debug` taken out of its derives (the macro
/// implements both: a copy with fresh training buffers, and the summary rather than the
/// weights); any other derive is an error on its name, as the fields are internal buffers.
fn derives(attrs: Vec<Attribute>, errors: &mut Errors) -> Vec<Attribute> {
    let mut kept = Vec::new();
    for attr in attrs {
        // A condition would have to be put on every item generated for the network (its
        // gradients type, its impls); in a module, the attribute covers them all.
        if attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr") {
            let word = if attr.path().is_ident("cfg") { "cfg" } else { "cfg_attr" };
            errors.push(crate::error::at(
                syn::spanned::Spanned::span(attr.path()),
                format!("`#[{word}]` on a `cnn!` network is not supported: it would not reach the items generated beside the struct"),
                Some(format!("put the `cnn!` invocation in a module with the attribute: `#[{word}(...)] mod nets {{ cnn! {{ ... }} }}`")),
            ));
            continue;
        }
        if !attr.path().is_ident("derive") {
            kept.push(attr);
            continue;
        }
        let paths = match attr.parse_args_with(syn::punctuated::Punctuated::<syn::Path, Token![,]>::parse_terminated) {
            Ok(paths) => paths,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for path in &paths {
            let name = path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
            if name != "Clone" && name != "Debug" {
                errors.push(crate::error::at(
                    syn::spanned::Spanned::span(path),
                    format!("a `cnn!` network cannot derive `{name}`: its fields are the macro's internal buffers"),
                    Some("`cnn!` implements `Clone` and `Debug` itself; implement other traits by hand".into()),
                ));
            }
        }
    }
    kept
}

/// `tokens` with every invisible (`Delimiter::None`) group replaced by what it holds, at any
/// depth: `macro_rules!` hands a `$k:literal` or `$e:expr` fragment over wrapped in one, and the
/// DSL reads it as if it were written bare, wherever it reads a number, a word or a name.
pub fn unwrap_invisible(tokens: TokenStream) -> TokenStream {
    unwrap_below(tokens, 0)
}

/// [`unwrap_invisible`] at group depth `depth`: past what the parser reads
/// ([`MAX_DEPTH`] blocks, each a brace group with argument groups inside) groups are left as
/// they are, so that no input recurses without bound.
fn unwrap_below(tokens: TokenStream, depth: usize) -> TokenStream {
    if depth > 4 * MAX_DEPTH + 8 {
        return tokens;
    }
    let mut out = TokenStream::new();
    for tt in tokens {
        match tt {
            TokenTree::Group(g) if g.delimiter() == Delimiter::None => out.extend(unwrap_below(g.stream(), depth + 1)),
            TokenTree::Group(g) => {
                let mut inner = proc_macro2::Group::new(g.delimiter(), unwrap_below(g.stream(), depth + 1));
                inner.set_span(g.span());
                out.extend([TokenTree::Group(inner)]);
            }
            other => out.extend([other]),
        }
    }
    out
}

/// Parses an invocation: block definitions and structs in any order. Errors in a block's body
/// are pushed to `errors`; errors in a struct's body come back with the struct.
pub fn parse(input: TokenStream, errors: &mut Errors) -> syn::Result<Invocation> {
    let input = unwrap_invisible(input);
    let parser = |stream: ParseStream| -> syn::Result<Invocation> {
        let mut blocks = Vec::new();
        let mut nets = Vec::new();
        while !stream.is_empty() {
            let attrs = stream.call(Attribute::parse_outer)?;
            if stream.peek(Ident::peek_any) && stream.fork().call(Ident::parse_any)? == "block" {
                blocks.push(parse_block(stream, attrs, errors)?);
                continue;
            }
            let mut net_errors = Errors::default();
            let attrs = derives(attrs, &mut net_errors);
            let vis: Visibility = stream.parse()?;
            if !stream.peek(Token![struct]) {
                return Err(stream.error("expected `struct Name { ... }` or `block name(parameters) { ... }`"));
            }
            stream.parse::<Token![struct]>()?;
            let ident: Ident = stream.parse()?;
            if stream.peek(Token![<]) {
                return Err(
                    stream.error("a network struct cannot have generic parameters: every size is fixed in the macro")
                );
            }
            let content;
            syn::braced!(content in stream);
            let mut counter = 0;
            let items = parse_items(&content, &mut net_errors, &mut counter, 0)?;
            nets.push((NetSyntax { attrs, vis, ident, items }, net_errors));
        }
        if nets.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "expected a network: `struct Name { input(...) layers }` after the blocks",
            ));
        }
        Ok(Invocation { blocks, nets })
    };
    parser.parse2(input)
}

/// `block NAME(PARAMS) { ITEMS }`, after its attributes (doc comments only).
fn parse_block(stream: ParseStream, attrs: Vec<Attribute>, errors: &mut Errors) -> syn::Result<BlockSyntax> {
    for attr in attrs.iter().filter(|a| !a.path().is_ident("doc")) {
        errors.push(crate::error::at(
            syn::spanned::Spanned::span(attr),
            "a block takes doc comments only",
            Some("attributes go on the network struct".into()),
        ));
    }
    stream.call(Ident::parse_any)?;
    let name = stream.call(Ident::parse_any)?;
    let list;
    syn::parenthesized!(list in stream);
    let mut params: Vec<ParamSyntax> = Vec::new();
    let before = errors.count();
    while !list.is_empty() {
        let param = list.call(Ident::parse_any)?;
        let default = if list.peek(Token![=]) {
            list.parse::<Token![=]>()?;
            let mut tokens = Vec::new();
            while !list.is_empty() && !list.peek(Token![,]) {
                tokens.push(list.parse::<TokenTree>()?);
            }
            match tokens.is_empty() {
                true => {
                    errors.push(syn::Error::new(param.span(), format!("expected a default value after `{param} =`")));
                    None
                }
                false => expr::parse(&tokens).map_err(|e| errors.push(e)).ok(),
            }
        } else {
            None
        };
        if params.iter().any(|p| p.name == param) {
            errors.push(syn::Error::new(param.span(), format!("block `{name}` has two parameters named `{param}`")));
        } else if params.last().is_some_and(|p| p.default.is_some()) && default.is_none() {
            errors.push(crate::error::at(
                param.span(),
                format!("parameter `{param}` has no default, but one before it has"),
                Some("put the parameters with defaults last, as in Python".into()),
            ));
        }
        params.push(ParamSyntax { name: param, default });
        if !list.is_empty() {
            list.parse::<Token![,]>()?;
        }
    }
    let content;
    syn::braced!(content in stream);
    let mut counter = 0;
    let body = parse_items(&content, errors, &mut counter, 1)?;
    let broken = errors.count() > before;
    Ok(BlockSyntax { name, params, body, broken })
}

/// Whether the stream starts a name: a word or integer followed by `:` or `.`.
fn at_name(input: ParseStream) -> bool {
    // Any literal: `1e3:` is a bad name (one error on it), not a layer and a stray `:`.
    let starts = input.peek(Ident::peek_any) || input.peek(syn::Lit) || input.peek(Token![_]);
    starts && ((input.peek2(Token![:]) && !input.peek2(Token![::])) || input.peek2(Token![.]))
}

fn parse_name(input: ParseStream, errors: &mut Errors) -> syn::Result<NameTemplate> {
    let mut segments = Vec::new();
    let mut span = input.span();
    let mut first = true;
    loop {
        let tt: TokenTree = input.parse()?;
        if !first {
            span = span.join(tt.span()).unwrap_or(span);
        }
        first = false;
        match &tt {
            // `_` alone: no segment.
            TokenTree::Ident(i) if i == "_" && segments.is_empty() && input.peek(Token![:]) => {}
            TokenTree::Ident(i) => segments.push(Segment::Plain(i.unraw().to_string())),
            TokenTree::Literal(l) if l.to_string().starts_with('"') => match syn::Lit::new(l.clone()) {
                syn::Lit::Str(text) if text.value().contains(['{', '}']) => {
                    match interpolation(&text.value(), l.span()) {
                        Ok(pieces) => segments.push(Segment::Interpolated(pieces, l.span())),
                        Err(e) => {
                            errors.push(e);
                            segments.push(written_stand_in(&text.value(), l.span()));
                        }
                    }
                }
                syn::Lit::Str(text) => match check_segment(&text.value(), l.span()) {
                    Ok(()) => segments.push(Segment::Plain(text.value())),
                    Err(e) => {
                        errors.push(e);
                        segments.push(written_stand_in(&text.value(), l.span()));
                    }
                },
                _ => {
                    errors.push(syn::Error::new(l.span(), format!("{l} is not a plain string")));
                    segments.push(written_stand_in(&l.to_string(), l.span()));
                }
            },
            // `a.0.1` reaches the macro as `a`, `.` and the float `0.1`.
            TokenTree::Literal(l) => {
                let text = l.to_string();
                for part in text.split('.') {
                    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                        errors.push(syn::Error::new(l.span(), format!("`{text}` cannot be part of a name: write identifiers and integers joined by dots, as in `layer1.0`")));
                        segments.push(written_stand_in(&text, l.span()));
                        break;
                    }
                    segments.push(Segment::Plain(part.to_string()));
                }
            }
            other => return Err(syn::Error::new(other.span(), format!("expected a name, found `{other}`"))),
        }
        if input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            continue;
        }
        break;
    }
    input.parse::<Token![:]>()?;
    Ok(NameTemplate { segments, span })
}

/// The segment that stands for a bad one, already reported: not `_` (whose rules would report
/// the item again) and made unique by `tag`, so that it claims no other item's key.
pub fn stand_in(text: &str, tag: impl std::fmt::Display) -> String {
    format!("{text}#{tag}")
}

/// [`stand_in`] for a name as written, unique to its place in the source.
fn written_stand_in(text: &str, span: Span) -> Segment {
    let start = span.start();
    Segment::Reported(stand_in(text, format_args!("{}:{}", start.line, start.column)))
}

/// Checks one string segment of a name, as written or as interpolated.
pub fn check_segment(text: &str, span: Span) -> syn::Result<()> {
    if text.is_empty() || text.contains('.') {
        return Err(crate::error::at(
            span,
            format!("{text:?} cannot be a name segment: a string name needs at least one character and no `.`"),
            Some("a string names one module, as in `\"block1-0\":`; write a path as `block.1:`".into()),
        ));
    }
    Ok(())
}

/// The text and `{expr}` parts of an interpolated name (`{{` and `}}` are literal braces); the
/// expressions' tokens carry the string's span, where their errors point.
fn interpolation(text: &str, span: Span) -> syn::Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut inner = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    inner.push(c);
                }
                if !closed {
                    return Err(crate::error::at(
                        span,
                        format!("unclosed `{{` in this name: `{{{inner}` has no `}}`"),
                        Some("write `{expr}` to insert a value, or `{{` for a brace".into()),
                    ));
                }
                let tokens: TokenStream = inner
                    .parse()
                    .map_err(|_| syn::Error::new(span, format!("`{{{inner}}}` in this name is not an expression")))?;
                let tokens = respan(tokens, span);
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Expr(expr::parse_stream(tokens, span)?));
            }
            '}' => {
                return Err(crate::error::at(
                    span,
                    "unmatched `}` in this name",
                    Some("write `}}` for a brace, or `{expr}` to insert a value".into()),
                ))
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

/// `tokens` with every span set to `span`.
pub fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Group(g) => {
                let mut out = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                out.set_span(span);
                TokenTree::Group(out)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// How deep blocks may nest (torchvision's deepest network nests 5): the parser, the graph and
/// the planner recurse once per level, and deeper input would overflow the compiler's stack.
pub const MAX_DEPTH: usize = 256;

fn parse_items(input: ParseStream, errors: &mut Errors, counter: &mut usize, depth: usize) -> syn::Result<Vec<Stmt>> {
    let mut items = Vec::new();
    while !input.is_empty() {
        if !at_name(input) && (input.peek(Token![for]) || input.peek(Token![if])) {
            items.push(parse_control(input, errors, counter, depth)?);
            continue;
        }
        let index = *counter;
        *counter += 1;
        errors.at_item(index);
        let name = if at_name(input) { Some(parse_name(input, errors)?) } else { None };
        if !input.peek(Ident::peek_any) {
            let tt: TokenTree = input.parse()?;
            // One token as the user sees it, one error: a multi-character operator (`=>`, `::`)
            // arrives as joint punctuation, a lifetime (`'a`) as `'` and a word.
            let mut text = tt.to_string();
            if let TokenTree::Punct(p) = &tt {
                let mut joint = p.spacing() == proc_macro2::Spacing::Joint;
                if p.as_char() == '\'' && input.peek(Ident::peek_any) {
                    text.push_str(&input.call(Ident::parse_any)?.to_string());
                    joint = false;
                }
                while joint {
                    match input.fork().parse::<Option<TokenTree>>()? {
                        Some(TokenTree::Punct(next)) => {
                            input.parse::<TokenTree>()?;
                            text.push(next.as_char());
                            joint = next.spacing() == proc_macro2::Spacing::Joint;
                        }
                        _ => break,
                    }
                }
            }
            errors.push(syn::Error::new(tt.span(), unexpected_token_message(&tt, &text, name.is_some())));
            continue;
        }
        let kind = input.call(Ident::parse_any)?;
        let mut args = None;
        let mut body = None;
        if let Some(TokenTree::Group(g)) = input.fork().parse::<Option<TokenTree>>()? {
            if g.delimiter() == Delimiter::Parenthesis {
                input.parse::<TokenTree>()?;
                args = Some((g.span(), parse_args(g.stream(), errors)));
            }
        }
        if let Some(g) = brace(input)? {
            if depth == MAX_DEPTH {
                errors.push(syn::Error::new(kind.span(), too_deep()));
                // What the block held is not read; an `identity` stands for it so that the
                // one error above is the only one.
                *counter += 1;
                let kind = Ident::new("identity", g.span());
                let stand_in = ItemTemplate { name: None, kind, args: None, body: None };
                body = Some((g.span(), vec![Stmt::Item(stand_in)]));
            } else {
                let inner = |stream: ParseStream| parse_items(stream, errors, counter, depth + 1);
                body = Some((g.span(), inner.parse2(g.stream())?));
            }
        }
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
        }
        items.push(Stmt::Item(ItemTemplate { name, kind, args, body }));
    }
    Ok(items)
}

/// The brace group at the cursor, taken, if there is one.
fn brace(input: ParseStream) -> syn::Result<Option<proc_macro2::Group>> {
    match input.fork().parse::<Option<TokenTree>>()? {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
            input.parse::<TokenTree>()?;
            Ok(Some(g))
        }
        _ => Ok(None),
    }
}

/// Reads past an `if` (with its `else` chain) or a `for` without looking inside its bodies.
fn skip_control(input: ParseStream) -> syn::Result<()> {
    loop {
        until_brace(input)?;
        if brace(input)?.is_none() {
            return Ok(());
        }
        if !input.peek(Token![else]) {
            return Ok(());
        }
        input.parse::<Token![else]>()?;
        if !input.peek(Token![if]) {
            brace(input)?;
            return Ok(());
        }
    }
}

/// The message for items nested past [`MAX_DEPTH`].
fn too_deep() -> String {
    format!("blocks, `if` and `for` nest more than {MAX_DEPTH} deep here: the macro reads at most {MAX_DEPTH} levels")
}

/// The tokens up to the next top-level brace group (a loop's range, a condition).
fn until_brace(input: ParseStream) -> syn::Result<Vec<TokenTree>> {
    let mut tokens = Vec::new();
    while !input.is_empty() && !input.peek(syn::token::Brace) {
        tokens.push(input.parse::<TokenTree>()?);
    }
    Ok(tokens)
}

/// What a loop or condition whose header is reported as an error stands for: no items, so
/// that the one error is the only one.
fn nothing(span: Span) -> Stmt {
    Stmt::If { cond: Expr::Bool(false, span), then: Vec::new(), otherwise: Vec::new() }
}

/// `for VAR in A..B { ... }` or `if COND { ... } else { ... }` (with `else if` chains). Each
/// `if`, `for` and `else if` is a level of nesting as a block is: past [`MAX_DEPTH`] levels the
/// construct is one error and its tokens are skipped, so no input recurses without bound.
fn parse_control(input: ParseStream, errors: &mut Errors, counter: &mut usize, depth: usize) -> syn::Result<Stmt> {
    if depth >= MAX_DEPTH {
        let span = input.span();
        errors.push(syn::Error::new(span, too_deep()));
        skip_control(input)?;
        // An `identity` stands for what is not read, as for a block nested too deep, so that
        // the block around it is not reported empty.
        *counter += 1;
        let kind = Ident::new("identity", span);
        return Ok(Stmt::Item(ItemTemplate { name: None, kind, args: None, body: None }));
    }
    let body = |input: ParseStream, errors: &mut Errors, counter: &mut usize, what: &str| -> syn::Result<Vec<Stmt>> {
        match brace(input)? {
            Some(g) => (|stream: ParseStream| parse_items(stream, errors, counter, depth + 1)).parse2(g.stream()),
            None => Err(input.error(format!("expected `{{ items }}` after the {what}"))),
        }
    };
    if input.peek(Token![if]) {
        let word = input.parse::<Token![if]>()?;
        let tokens = until_brace(input)?;
        let cond = expr::parse_stream(tokens.into_iter().collect(), word.span);
        let then = body(input, errors, counter, "condition")?;
        let otherwise = if input.peek(Token![else]) {
            input.parse::<Token![else]>()?;
            if input.peek(Token![if]) {
                vec![parse_control(input, errors, counter, depth + 1)?]
            } else {
                body(input, errors, counter, "`else`")?
            }
        } else {
            Vec::new()
        };
        return Ok(match cond {
            Ok(cond) => Stmt::If { cond, then, otherwise },
            Err(e) => {
                errors.push(e);
                nothing(word.span)
            }
        });
    }
    let word = input.parse::<Token![for]>()?;
    let var = input.call(Ident::parse_any)?;
    let var = (var != "_").then_some(var);
    input.parse::<Token![in]>()?;
    let tokens = until_brace(input)?;
    let dots = tokens.windows(2).position(|w| {
        matches!(&w[0], TokenTree::Punct(p) if p.as_char() == '.' && p.spacing() == proc_macro2::Spacing::Joint)
            && matches!(&w[1], TokenTree::Punct(p) if p.as_char() == '.')
    });
    let items = body(input, errors, counter, "range")?;
    let Some(dots) = dots else {
        errors.push(crate::error::at(
            word.span,
            "expected a range `A..B` after `in`",
            Some("write `for i in 0..4 { ... }`, or `for _ in 0..4` if the items do not read the count".into()),
        ));
        return Ok(nothing(word.span));
    };
    let mut rest = &tokens[dots + 2..];
    let inclusive = matches!(rest.first(), Some(TokenTree::Punct(p)) if p.as_char() == '=');
    if inclusive {
        rest = &rest[1..];
    }
    let span = tokens[dots].span();
    let bounds = (
        expr::parse_stream(tokens[..dots].iter().cloned().collect(), span),
        expr::parse_stream(rest.iter().cloned().collect(), span),
    );
    Ok(match bounds {
        (Ok(from), Ok(to)) => Stmt::For { var, from, to, inclusive, span, body: items },
        (from, to) => {
            errors.extend(from.err());
            errors.extend(to.err());
            nothing(span)
        }
    })
}

fn unexpected_token_message(tt: &TokenTree, text: &str, after_name: bool) -> String {
    let what = if after_name { "after a layer name" } else { "here" };
    let hint = match tt {
        TokenTree::Punct(p) if p.as_char() == ';' => "; separate layers with spaces or commas",
        TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis => {
            "; arguments follow a layer kind, as in `conv(1, 6, k=5)`"
        }
        TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
            "; a block starts with its kind, as in `seq { ... }` or `residual { ... }`"
        }
        _ => "",
    };
    format!("expected a layer such as `conv(1, 6, k=5)` or `relu` {what}, found `{text}`{hint}")
}

/// Splits an argument list at its top-level commas and parses each piece.
fn parse_args(stream: TokenStream, errors: &mut Errors) -> Vec<ArgTemplate> {
    let mut args = Vec::new();
    let mut piece: Vec<TokenTree> = Vec::new();
    for tt in stream {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if piece.is_empty() {
                    errors.push(syn::Error::new(p.span(), "expected an argument before this comma"));
                } else {
                    args.push(parse_arg(&piece, errors));
                }
                piece.clear();
            }
            _ => piece.push(tt),
        }
    }
    if !piece.is_empty() {
        args.push(parse_arg(&piece, errors));
    }
    args
}

fn is_eq(tt: &TokenTree) -> bool {
    matches!(tt, TokenTree::Punct(p) if p.as_char() == '=')
}

fn parse_arg(tokens: &[TokenTree], errors: &mut Errors) -> ArgTemplate {
    if let [TokenTree::Ident(key), eq, value @ ..] = tokens {
        // `k=5`, but not the comparison `a == b`.
        if is_eq(eq) && !value.first().is_some_and(is_eq) {
            if value.is_empty() {
                errors.push(syn::Error::new(eq.span(), format!("expected a value after `{key}=`")));
                return ArgTemplate {
                    key: Some(key.clone()),
                    value: ValueTemplate::Plain(ValueSyntax::Bad(eq.span())),
                };
            }
            return ArgTemplate { key: Some(key.clone()), value: value_template(value, errors) };
        }
    }
    ArgTemplate { key: None, value: value_template(tokens, errors) }
}

/// An argument's value: a plain literal, `_`, a pair of integers or `-number` as the layers
/// read them; a name or anything longer as an expression, evaluated where the item is used.
fn value_template(tokens: &[TokenTree], errors: &mut Errors) -> ValueTemplate {
    let literals = |g: &proc_macro2::Group| {
        g.stream().into_iter().all(|t| matches!(t, TokenTree::Literal(_) | TokenTree::Punct(_)))
    };
    let plain = match tokens {
        [TokenTree::Ident(i)] => i == "_" || i == "true" || i == "false",
        [TokenTree::Group(g)] if g.delimiter() == Delimiter::Parenthesis => literals(g),
        [_] => true,
        [TokenTree::Punct(p), TokenTree::Literal(_)] => p.as_char() == '-',
        [_, eq, ..] => is_eq(eq),
        [] => return ValueTemplate::Plain(ValueSyntax::Bad(Span::call_site())),
    };
    if plain {
        return ValueTemplate::Plain(parse_value(tokens, errors));
    }
    match expr::parse(tokens) {
        Ok(e) => ValueTemplate::Expr(e),
        Err(e) => {
            errors.push(e);
            ValueTemplate::Plain(ValueSyntax::Bad(tokens[0].span()))
        }
    }
}

fn parse_value(tokens: &[TokenTree], errors: &mut Errors) -> ValueSyntax {
    let first = &tokens[0];
    let span = first.span();
    // `-0.5`: a negative number, which only a float-valued argument accepts.
    if let [TokenTree::Punct(p), TokenTree::Literal(lit)] = tokens {
        if p.as_char() == '-' {
            let at = span.join(lit.span()).unwrap_or(span);
            return match number(lit) {
                Ok(v) => ValueSyntax::Float(-v, at),
                Err(e) => {
                    errors.push(e);
                    ValueSyntax::Bad(at)
                }
            };
        }
    }
    if let Some(extra) = tokens.get(1) {
        let msg = if is_eq(extra) {
            "argument names are plain words, such as `k` or `stride`".to_string()
        } else {
            format!("unexpected `{extra}` after `{first}`; separate arguments with commas")
        };
        errors.push(syn::Error::new(extra.span(), msg));
        return ValueSyntax::Bad(span);
    }
    match first {
        TokenTree::Ident(i) if i == "_" => ValueSyntax::Infer(span),
        TokenTree::Ident(i) if i == "true" || i == "false" => ValueSyntax::Bool(i == "true", span),
        TokenTree::Ident(i) => ValueSyntax::Word(i.to_string(), span),
        TokenTree::Punct(p) if p.as_char() == '_' => ValueSyntax::Infer(span),
        TokenTree::Literal(lit) => match syn::Lit::new(lit.clone()) {
            syn::Lit::Int(i) if !i.suffix().is_empty() => {
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "write `{}` without the `{}` suffix: sizes are plain integers",
                        i.base10_digits(),
                        i.suffix()
                    ),
                ));
                ValueSyntax::Bad(span)
            }
            syn::Lit::Int(i) => match i.base10_parse::<usize>() {
                Ok(v) if v <= MAX_INT => ValueSyntax::Int(v, span),
                _ => {
                    errors.push(too_large(&i, span));
                    ValueSyntax::Bad(span)
                }
            },
            syn::Lit::Float(f) if !f.suffix().is_empty() => {
                errors.push(syn::Error::new(
                    span,
                    format!("write `{}` without the `{}` suffix", f.base10_digits(), f.suffix()),
                ));
                ValueSyntax::Bad(span)
            }
            syn::Lit::Float(f) => match f.base10_parse::<f64>() {
                Ok(v) if v.is_infinite() => {
                    errors.push(float_out_of_range(&f, span));
                    ValueSyntax::Bad(span)
                }
                Ok(v) => ValueSyntax::Float(v, span),
                Err(e) => {
                    errors.push(syn::Error::new(span, e.to_string()));
                    ValueSyntax::Bad(span)
                }
            },
            syn::Lit::Str(s) => ValueSyntax::Str(s.value(), span),
            _ => {
                errors.push(syn::Error::new(
                    span,
                    format!("expected a number, a word or an `(h, w)` pair, found `{lit}`"),
                ));
                ValueSyntax::Bad(span)
            }
        },
        TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis => {
            let parts: Vec<TokenTree> = g.stream().into_iter().collect();
            match parts.as_slice() {
                [h, TokenTree::Punct(c), w] | [h, TokenTree::Punct(c), w, TokenTree::Punct(_)]
                    if c.as_char() == ',' =>
                {
                    match (parse_int(h), parse_int(w)) {
                        (Ok(h), Ok(w)) => ValueSyntax::Pair(h, w, g.span()),
                        // Neither side an integer (`(1.5, 0.5)`): one error on the pair.
                        (Err(_), Err(_)) => {
                            errors.push(crate::error::at(
                                g.span(),
                                format!("expected an `(h, w)` pair of integers, found `{}`", g.to_string().replace(" ,", ",")),
                                Some("pairs hold sizes; a float such as a scale factor is one number for both sides, as in `scale_factor=1.5`".into()),
                            ));
                            ValueSyntax::Bad(span)
                        }
                        (h, w) => {
                            errors.extend(h.err());
                            errors.extend(w.err());
                            ValueSyntax::Bad(span)
                        }
                    }
                }
                _ => {
                    errors.push(syn::Error::new(g.span(), "expected an `(h, w)` pair of integers"));
                    ValueSyntax::Bad(span)
                }
            }
        }
        other => {
            errors.push(syn::Error::new(span, format!("expected a number, `_` or an `(h, w)` pair, found `{other}`")));
            ValueSyntax::Bad(span)
        }
    }
}

/// The largest integer the DSL reads: its expressions compute in i64, so a literal past it
/// would wrap (`18446744073709551615` read as -1).
pub const MAX_INT: usize = i64::MAX as usize;

/// The error for an integer literal past [`MAX_INT`], with its text.
pub fn too_large(i: &syn::LitInt, span: Span) -> syn::Error {
    crate::error::at(
        span,
        format!("`{i}` is too large: integers in the DSL go up to {MAX_INT}"),
        Some("sizes, counts and indices are far smaller; check the number".into()),
    )
}

/// The error for a float literal past f64's range (it would read as infinity), with its text.
pub fn float_out_of_range(f: &syn::LitFloat, span: Span) -> syn::Error {
    crate::error::at(
        span,
        format!(
            "`{f}` is out of the range of a float: f64 holds up to {:e}, and the network computes in f32 (up to {:e})",
            f64::MAX,
            f32::MAX
        ),
        None,
    )
}

/// An unsuffixed integer or float literal as a float.
fn number(lit: &proc_macro2::Literal) -> syn::Result<f64> {
    match syn::Lit::new(lit.clone()) {
        syn::Lit::Int(i) if i.suffix().is_empty() => i.base10_parse::<f64>(),
        syn::Lit::Float(f) if f.suffix().is_empty() => match f.base10_parse::<f64>()? {
            v if v.is_infinite() => Err(float_out_of_range(&f, lit.span())),
            v => Ok(v),
        },
        _ => Err(syn::Error::new(lit.span(), format!("expected a number, found `{lit}`"))),
    }
}

fn parse_int(tt: &TokenTree) -> syn::Result<usize> {
    let TokenTree::Literal(lit) = tt else {
        return Err(syn::Error::new(tt.span(), format!("expected an integer, found `{tt}`")));
    };
    match syn::Lit::new(lit.clone()) {
        syn::Lit::Int(i) if !i.suffix().is_empty() => Err(syn::Error::new(
            tt.span(),
            format!("write `{}` without the `{}` suffix: sizes are plain integers", i.base10_digits(), i.suffix()),
        )),
        syn::Lit::Int(i) => match i.base10_parse::<usize>() {
            Ok(v) if v <= MAX_INT => Ok(v),
            _ => Err(too_large(&i, tt.span())),
        },
        _ => Err(syn::Error::new(tt.span(), format!("expected an integer, found `{lit}`"))),
    }
}

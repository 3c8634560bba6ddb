//! Token-level syntax of a `cnn!` invocation: a tree of items, each a layer `name: kind(args)` or
//! a block `name: kind { items }`.
//!
//! The parser is lenient: a malformed item or argument is recorded as an error and parsing goes
//! on with the next one, so a single compile reports every mistake. Only a malformed struct
//! header (attributes, visibility, `struct Name { ... }`) stops it.

use crate::error::Errors;
use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Ident, Token, Visibility};

/// The whole invocation, as written.
pub struct NetSyntax {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub items: Vec<ItemSyntax>,
}

/// One item: `name: kind(args)` or `name: kind { items }`, name and arguments optional.
pub struct ItemSyntax {
    /// Its position in source order among all items of the network (for error ordering).
    pub index: usize,
    pub name: Option<NameSyntax>,
    pub kind: Ident,
    pub args: Option<ArgsSyntax>,
    /// The braced body of a block.
    pub body: Option<(Span, Vec<ItemSyntax>)>,
}

/// A name: an identifier, a dotted path of identifiers, integers and strings (`layer1.0`,
/// `"block1-0"`), or `_`, which adds no segment (no segment at all).
pub struct NameSyntax {
    pub segments: Vec<String>,
    pub span: Span,
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

/// Parses an invocation; errors inside the item list are pushed to `errors`.
pub fn parse(input: TokenStream, errors: &mut Errors) -> syn::Result<NetSyntax> {
    let input = unwrap_invisible(input);
    let parser = |stream: ParseStream| -> syn::Result<NetSyntax> {
        let attrs = derives(stream.call(Attribute::parse_outer)?, errors);
        let vis: Visibility = stream.parse()?;
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
        let items = parse_items(&content, errors, &mut counter, 0)?;
        if !stream.is_empty() {
            return Err(stream.error("expected one network per `cnn!`; write another `cnn! { ... }` for a second one"));
        }
        Ok(NetSyntax { attrs, vis, ident, items })
    };
    parser.parse2(input)
}

/// Whether the stream starts a name: a word or integer followed by `:` or `.`.
fn at_name(input: ParseStream) -> bool {
    let starts =
        input.peek(Ident::peek_any) || input.peek(syn::LitInt) || input.peek(syn::LitStr) || input.peek(Token![_]);
    starts && ((input.peek2(Token![:]) && !input.peek2(Token![::])) || input.peek2(Token![.]))
}

fn parse_name(input: ParseStream, errors: &mut Errors) -> syn::Result<NameSyntax> {
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
            TokenTree::Ident(i) if i == "_" && first_segment(&segments, input) => {}
            TokenTree::Ident(i) => segments.push(i.unraw().to_string()),
            TokenTree::Literal(l) if l.to_string().starts_with('"') => {
                match syn::Lit::new(l.clone()) {
                    syn::Lit::Str(text) => {
                        let text = text.value();
                        if text.is_empty() || text.contains('.') {
                            errors.push(crate::error::at(
                            l.span(),
                            format!("{l} cannot be a name segment: a string name needs at least one character and no `.`"),
                            Some("a string names one module, as in `\"block1-0\":`; write a path as `block.1:`".into()),
                        ));
                        } else {
                            segments.push(text);
                        }
                    }
                    _ => errors.push(syn::Error::new(l.span(), format!("{l} is not a plain string"))),
                }
            }
            // `a.0.1` reaches the macro as `a`, `.` and the float `0.1`.
            TokenTree::Literal(l) => {
                let text = l.to_string();
                for part in text.split('.') {
                    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                        errors.push(syn::Error::new(l.span(), format!("`{text}` cannot be part of a name: write identifiers and integers joined by dots, as in `layer1.0`")));
                        break;
                    }
                    segments.push(part.to_string());
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
    Ok(NameSyntax { segments, span })
}

/// Whether a `_` being read is the whole name (nothing before it, `:` after it).
fn first_segment(segments: &[String], input: ParseStream) -> bool {
    segments.is_empty() && input.peek(Token![:])
}

/// How deep blocks may nest (torchvision's deepest network nests 5): the parser, the graph and
/// the planner recurse once per level, and deeper input would overflow the compiler's stack.
pub const MAX_DEPTH: usize = 256;

fn parse_items(
    input: ParseStream,
    errors: &mut Errors,
    counter: &mut usize,
    depth: usize,
) -> syn::Result<Vec<ItemSyntax>> {
    let mut items = Vec::new();
    while !input.is_empty() {
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
            match g.delimiter() {
                Delimiter::Parenthesis => {
                    input.parse::<TokenTree>()?;
                    args = Some(ArgsSyntax { span: g.span(), args: parse_args(g.stream(), errors) });
                }
                Delimiter::Brace => {}
                _ => {}
            }
        }
        if let Some(TokenTree::Group(g)) = input.fork().parse::<Option<TokenTree>>()? {
            if g.delimiter() == Delimiter::Brace {
                input.parse::<TokenTree>()?;
                if depth == MAX_DEPTH {
                    errors.push(syn::Error::new(
                        kind.span(),
                        format!(
                            "blocks nest more than {MAX_DEPTH} deep here: the macro reads at most {MAX_DEPTH} levels"
                        ),
                    ));
                    // What the block held is not read; an `identity` stands for it so that the
                    // one error above is the only one.
                    let index = *counter;
                    *counter += 1;
                    let kind = Ident::new("identity", g.span());
                    body = Some((g.span(), vec![ItemSyntax { index, name: None, kind, args: None, body: None }]));
                } else {
                    let inner = |stream: ParseStream| parse_items(stream, errors, counter, depth + 1);
                    body = Some((g.span(), inner.parse2(g.stream())?));
                }
            }
        }
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
        }
        items.push(ItemSyntax { index, name, kind, args, body });
    }
    Ok(items)
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
fn parse_args(stream: TokenStream, errors: &mut Errors) -> Vec<ArgSyntax> {
    let mut args = Vec::new();
    let mut piece: Vec<TokenTree> = Vec::new();
    for tt in stream {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if piece.is_empty() {
                    errors.push(syn::Error::new(p.span(), "expected an argument before this comma"));
                } else if let Some(arg) = parse_arg(&piece, errors) {
                    args.push(arg);
                }
                piece.clear();
            }
            _ => piece.push(tt),
        }
    }
    if !piece.is_empty() {
        if let Some(arg) = parse_arg(&piece, errors) {
            args.push(arg);
        }
    }
    args
}

fn is_eq(tt: &TokenTree) -> bool {
    matches!(tt, TokenTree::Punct(p) if p.as_char() == '=')
}

fn parse_arg(tokens: &[TokenTree], errors: &mut Errors) -> Option<ArgSyntax> {
    if let [TokenTree::Ident(key), eq, value @ ..] = tokens {
        if is_eq(eq) {
            if value.is_empty() {
                errors.push(syn::Error::new(eq.span(), format!("expected a value after `{key}=`")));
                return Some(ArgSyntax { key: Some(key.clone()), value: ValueSyntax::Bad(eq.span()) });
            }
            let value = parse_value(value, errors);
            return Some(ArgSyntax { key: Some(key.clone()), value });
        }
    }
    Some(ArgSyntax { key: None, value: parse_value(tokens, errors) })
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
                Ok(v) => ValueSyntax::Int(v, span),
                Err(_) => {
                    errors.push(syn::Error::new(span, format!("`{i}` is too large for a size")));
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

/// An unsuffixed integer or float literal as a float.
fn number(lit: &proc_macro2::Literal) -> syn::Result<f64> {
    match syn::Lit::new(lit.clone()) {
        syn::Lit::Int(i) if i.suffix().is_empty() => i.base10_parse::<f64>(),
        syn::Lit::Float(f) if f.suffix().is_empty() => f.base10_parse::<f64>(),
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
        syn::Lit::Int(i) => {
            i.base10_parse::<usize>().map_err(|_| syn::Error::new(tt.span(), format!("`{i}` is too large for a size")))
        }
        _ => Err(syn::Error::new(tt.span(), format!("expected an integer, found `{lit}`"))),
    }
}

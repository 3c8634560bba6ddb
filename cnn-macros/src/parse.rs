//! Token-level syntax of a `cnn!` invocation.
//!
//! The parser is lenient: a malformed layer or argument is recorded as an error and parsing goes
//! on with the next one, so a single compile reports every mistake. Only a malformed struct
//! header (attributes, visibility, `struct Name { ... }`) stops it.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use crate::error::Errors;
use syn::{Attribute, Ident, Token, Visibility};

/// The whole invocation, as written.
pub struct NetSyntax {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub layers: Vec<LayerSyntax>,
}

/// One layer: `name: kind(args)`, name and arguments optional.
pub struct LayerSyntax {
    pub name: Option<Ident>,
    pub kind: Ident,
    pub args: Option<ArgsSyntax>,
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
#[derive(Clone, Copy)]
pub enum ValueSyntax {
    /// An integer literal.
    Int(usize, Span),
    /// `_`: infer from the previous layer.
    Infer(Span),
    /// `(h, w)`.
    Pair(usize, usize, Span),
    /// Already reported as an error.
    Bad(Span),
}

impl ValueSyntax {
    pub fn span(&self) -> Span {
        match *self {
            ValueSyntax::Int(_, s) | ValueSyntax::Infer(s) | ValueSyntax::Pair(_, _, s) | ValueSyntax::Bad(s) => s,
        }
    }

    /// The value as the DSL spells it.
    pub fn text(&self) -> String {
        match *self {
            ValueSyntax::Int(v, _) => v.to_string(),
            ValueSyntax::Infer(_) => "_".into(),
            ValueSyntax::Pair(h, w, _) => format!("({h}, {w})"),
            ValueSyntax::Bad(_) => "?".into(),
        }
    }
}

impl LayerSyntax {
    /// The layer as the DSL spells it, with normalized spacing: `conv(1, 6, k=5, p=2)`.
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
        s
    }
}

/// Parses an invocation; errors inside the layer list are pushed to `errors`.
pub fn parse(input: TokenStream, errors: &mut Errors) -> syn::Result<NetSyntax> {
    let parser = |stream: ParseStream| -> syn::Result<NetSyntax> {
        let attrs = stream.call(Attribute::parse_outer)?;
        let vis: Visibility = stream.parse()?;
        stream.parse::<Token![struct]>()?;
        let ident: Ident = stream.parse()?;
        if stream.peek(Token![<]) {
            return Err(stream.error("a network struct cannot have generic parameters: every size is fixed in the macro"));
        }
        let content;
        syn::braced!(content in stream);
        let layers = parse_layers(&content, errors)?;
        if !stream.is_empty() {
            return Err(stream.error("expected one network per `cnn!`; write another `cnn! { ... }` for a second one"));
        }
        Ok(NetSyntax { attrs, vis, ident, layers })
    };
    parser.parse2(input)
}

fn parse_layers(input: ParseStream, errors: &mut Errors) -> syn::Result<Vec<LayerSyntax>> {
    let mut layers = Vec::new();
    while !input.is_empty() {
        errors.at_layer(layers.len());
        let name = if input.peek(Ident::peek_any) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
            let name = input.call(Ident::parse_any)?;
            input.parse::<Token![:]>()?;
            Some(name)
        } else {
            None
        };
        if !input.peek(Ident::peek_any) {
            let tt: TokenTree = input.parse()?;
            errors.push(syn::Error::new(tt.span(), unexpected_token_message(&tt, name.is_some())));
            continue;
        }
        let kind = input.call(Ident::parse_any)?;
        let args = if let Some(TokenTree::Group(g)) = input.fork().parse::<Option<TokenTree>>()? {
            if g.delimiter() == Delimiter::Parenthesis {
                input.parse::<TokenTree>()?;
                Some(ArgsSyntax { span: g.span(), args: parse_args(g.stream(), errors) })
            } else {
                None
            }
        } else {
            None
        };
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
        }
        layers.push(LayerSyntax { name, kind, args });
    }
    Ok(layers)
}

fn unexpected_token_message(tt: &TokenTree, after_name: bool) -> String {
    let what = if after_name { "after a layer name" } else { "here" };
    let hint = match tt {
        TokenTree::Punct(p) if p.as_char() == ';' => "; separate layers with spaces or commas",
        TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis => "; arguments follow a layer kind, as in `conv(1, 6, k=5)`",
        _ => "",
    };
    format!("expected a layer such as `conv(1, 6, k=5)` or `relu` {what}, found `{tt}`{hint}")
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
    if let Some(extra) = tokens.get(1) {
        let msg = match first {
            TokenTree::Punct(p) if p.as_char() == '-' => "sizes cannot be negative".to_string(),
            _ if is_eq(extra) => "argument names are plain words, such as `k` or `stride`".to_string(),
            _ => format!("unexpected `{extra}` after `{first}`; separate arguments with commas"),
        };
        let at = if matches!(first, TokenTree::Punct(_)) { span } else { extra.span() };
        errors.push(syn::Error::new(at, msg));
        return ValueSyntax::Bad(span);
    }
    match first {
        TokenTree::Ident(i) if i == "_" => ValueSyntax::Infer(span),
        TokenTree::Punct(p) if p.as_char() == '_' => ValueSyntax::Infer(span),
        TokenTree::Literal(_) => match parse_int(first) {
            Ok(v) => ValueSyntax::Int(v, span),
            Err(e) => {
                errors.push(e);
                ValueSyntax::Bad(span)
            }
        },
        TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis => {
            let parts: Vec<TokenTree> = g.stream().into_iter().collect();
            match parts.as_slice() {
                [h, TokenTree::Punct(c), w] | [h, TokenTree::Punct(c), w, TokenTree::Punct(_)] if c.as_char() == ',' => {
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
            errors.push(syn::Error::new(span, format!("expected an integer, `_` or an `(h, w)` pair, found `{other}`")));
            ValueSyntax::Bad(span)
        }
    }
}

fn parse_int(tt: &TokenTree) -> syn::Result<usize> {
    let TokenTree::Literal(lit) = tt else {
        return Err(syn::Error::new(tt.span(), format!("expected an integer, found `{tt}`")));
    };
    match syn::Lit::new(lit.clone()) {
        syn::Lit::Int(i) => i.base10_parse::<usize>().map_err(|_| syn::Error::new(tt.span(), format!("`{i}` is too large for a size"))),
        _ => Err(syn::Error::new(tt.span(), format!("expected an integer, found `{lit}`"))),
    }
}

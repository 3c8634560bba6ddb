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

mod items;
mod names;
mod syntax;
mod values;

use crate::error::Errors;
use crate::expr::{self, Expr};
pub use items::MAX_DEPTH;
use items::*;
use names::*;
pub use names::{check_segment, respan, stand_in};
use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Ident, Token, Visibility};
pub use syntax::*;
use values::*;

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

//! Arguments: the list split at top-level commas, each `name=value` or positional, each value a
//! number, word, pair, `None` or an expression over the block's parameters.

use super::*;
use crate::error::{float_out_of_range, too_large, MAX_INT};

/// Splits an argument list at its top-level commas and parses each piece.
pub(super) fn parse_args(stream: TokenStream, errors: &mut Errors) -> Vec<ArgTemplate> {
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

pub(super) fn is_eq(tt: &TokenTree) -> bool {
    matches!(tt, TokenTree::Punct(p) if p.as_char() == '=')
}

pub(super) fn parse_arg(tokens: &[TokenTree], errors: &mut Errors) -> ArgTemplate {
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
pub(super) fn value_template(tokens: &[TokenTree], errors: &mut Errors) -> ValueTemplate {
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

pub(super) fn parse_value(tokens: &[TokenTree], errors: &mut Errors) -> ValueSyntax {
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

/// An unsuffixed integer or float literal as a float.
pub(super) fn number(lit: &proc_macro2::Literal) -> syn::Result<f64> {
    match syn::Lit::new(lit.clone()) {
        syn::Lit::Int(i) if i.suffix().is_empty() => i.base10_parse::<f64>(),
        syn::Lit::Float(f) if f.suffix().is_empty() => match f.base10_parse::<f64>()? {
            v if v.is_infinite() => Err(float_out_of_range(&f, lit.span())),
            v => Ok(v),
        },
        _ => Err(syn::Error::new(lit.span(), format!("expected a number, found `{lit}`"))),
    }
}

pub(super) fn parse_int(tt: &TokenTree) -> syn::Result<usize> {
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

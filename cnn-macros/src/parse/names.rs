//! Item names: plain, quoted (`"features.0"`) or templates with `{expr}` interpolations, and
//! the stand-ins that carry a written name's text to messages.

use super::*;

/// Whether the stream starts a name: a word or integer followed by `:` or `.`.
pub(super) fn at_name(input: ParseStream) -> bool {
    // Any literal: `1e3:` is a bad name (one error on it), not a layer and a stray `:`.
    let starts = input.peek(Ident::peek_any) || input.peek(syn::Lit) || input.peek(Token![_]);
    starts && ((input.peek2(Token![:]) && !input.peek2(Token![::])) || input.peek2(Token![.]))
}

pub(super) fn parse_name(input: ParseStream, errors: &mut Errors) -> syn::Result<NameTemplate> {
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
pub(super) fn written_stand_in(text: &str, span: Span) -> Segment {
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
pub(super) fn interpolation(text: &str, span: Span) -> syn::Result<Vec<Piece>> {
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

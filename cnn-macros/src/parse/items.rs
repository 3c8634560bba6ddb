//! Statements: items (`name: kind(args)`, blocks with bodies), `for` loops and `if`
//! conditions, nested at most [`MAX_DEPTH`] deep; a malformed one is an error and parsing goes
//! on with the next.

use super::*;

/// How deep blocks may nest (torchvision's deepest network nests 5): the parser, the graph and
/// the planner recurse once per level, and deeper input would overflow the compiler's stack.
pub const MAX_DEPTH: usize = 256;

pub(super) fn parse_items(
    input: ParseStream,
    errors: &mut Errors,
    counter: &mut usize,
    depth: usize,
) -> syn::Result<Vec<Stmt>> {
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
        if (kind == "let" || kind == "from" || kind == "output") && !input.peek(syn::token::Paren) {
            items.push(Stmt::Item(value_name(input, errors, name, kind)?));
            continue;
        }
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

/// `let NAME` (the current value is named NAME), `from NAME` (the items after it read the value
/// named NAME) or `output NAME` (the current value is the network's output NAME): the name is the
/// item's one argument, a word. A layer name before either, or a
/// missing value name, is an error; the item then stands for nothing.
fn value_name(
    input: ParseStream,
    errors: &mut Errors,
    name: Option<NameTemplate>,
    kind: Ident,
) -> syn::Result<ItemTemplate> {
    if let Some(name) = &name {
        errors.push(crate::error::at(
            name.span,
            format!("`{kind}` names a value, not a layer: it takes no layer name"),
            Some(format!("write `{kind} x` without `name:` before it")),
        ));
    }
    let value = if input.peek(Ident::peek_any) && !at_name(input) {
        let word = input.call(Ident::parse_any)?;
        if word == "_" || crate::vocabulary::builtin(&word.to_string()).is_some() {
            errors.push(crate::error::at(
                word.span(),
                format!("`{word}` cannot name a value: the DSL already calls it a {}", value_word_kind(&word)),
                Some(format!("choose another name, as in `{kind} c3`")),
            ));
            ValueSyntax::Bad(word.span())
        } else {
            ValueSyntax::Word(word.to_string(), word.span())
        }
    } else {
        errors.push(crate::error::at(
            kind.span(),
            format!("expected the name of a value after `{kind}`"),
            Some(if kind == "let" {
                "write `let c3` to name the value at this point, and `from c3` to read it later".to_string()
            } else if kind == "output" {
                "write `output p3` to make the value at this point an output of the network, read as `out.p3`"
                    .to_string()
            } else {
                "write `from c3` to read the value named by an earlier `let c3`".to_string()
            }),
        ));
        ValueSyntax::Bad(kind.span())
    };
    if input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
    }
    let span = value.span();
    let args = vec![ArgTemplate { key: None, value: ValueTemplate::Plain(value) }];
    Ok(ItemTemplate { name: None, kind, args: Some((span, args)), body: None })
}

fn value_word_kind(word: &Ident) -> &'static str {
    if *word == "_" {
        "placeholder"
    } else {
        crate::vocabulary::builtin(&word.to_string()).unwrap_or("word")
    }
}

/// The brace group at the cursor, taken, if there is one.
pub(super) fn brace(input: ParseStream) -> syn::Result<Option<proc_macro2::Group>> {
    match input.fork().parse::<Option<TokenTree>>()? {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
            input.parse::<TokenTree>()?;
            Ok(Some(g))
        }
        _ => Ok(None),
    }
}

/// Reads past an `if` (with its `else` chain) or a `for` without looking inside its bodies.
pub(super) fn skip_control(input: ParseStream) -> syn::Result<()> {
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
pub(super) fn too_deep() -> String {
    format!("blocks, `if` and `for` nest more than {MAX_DEPTH} deep here: the macro reads at most {MAX_DEPTH} levels")
}

/// The tokens up to the next top-level brace group (a loop's range, a condition).
pub(super) fn until_brace(input: ParseStream) -> syn::Result<Vec<TokenTree>> {
    let mut tokens = Vec::new();
    while !input.is_empty() && !input.peek(syn::token::Brace) {
        tokens.push(input.parse::<TokenTree>()?);
    }
    Ok(tokens)
}

/// What a loop or condition whose header is reported as an error stands for: no items, so
/// that the one error is the only one.
pub(super) fn nothing(span: Span) -> Stmt {
    Stmt::If { cond: Expr::Bool(false, span), then: Vec::new(), otherwise: Vec::new() }
}

/// `for VAR in A..B { ... }` or `if COND { ... } else { ... }` (with `else if` chains). Each
/// `if`, `for` and `else if` is a level of nesting as a block is: past [`MAX_DEPTH`] levels the
/// construct is one error and its tokens are skipped, so no input recurses without bound.
pub(super) fn parse_control(
    input: ParseStream,
    errors: &mut Errors,
    counter: &mut usize,
    depth: usize,
) -> syn::Result<Stmt> {
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

pub(super) fn unexpected_token_message(tt: &TokenTree, text: &str, after_name: bool) -> String {
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

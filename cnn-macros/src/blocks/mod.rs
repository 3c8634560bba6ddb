//! The block kinds of the DSL, one module each, all behind one [`BlockDef`] table like the layer
//! kinds': a block reads its body (and, for `residual`, the `shortcut` after it) through the
//! graph [`Builder`] and joins what its branches output with a merge node from
//! [`crate::layers`].

mod cat;
mod dense;
mod gate;
mod mul;
mod residual;
mod seq;
mod split;
mod sub;
mod sum;

use crate::error::at;
use crate::graph::{BlockDef, Builder, Call, Flow, ValueId};
use crate::parse::ItemSyntax;
use crate::shape::Shape;

/// Every block kind.
pub const BLOCKS: &[&BlockDef] = &[
    &seq::SEQ,
    &residual::RESIDUAL,
    &residual::SHORTCUT,
    &cat::CAT,
    &dense::DENSE,
    &gate::GATE,
    &split::SPLIT,
    &sum::SUM,
    &sub::SUB,
    &mul::MUL,
];

/// The blocks as the messages list them, from their usages.
pub fn list() -> String {
    let usages: Vec<&str> = BLOCKS.iter().map(|b| b.usage).collect();
    match usages.split_last() {
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The block named `word`, if any.
pub fn find(word: &str) -> Option<&'static BlockDef> {
    BLOCKS.iter().copied().find(|b| b.name == word)
}

/// Every block word, for "did you mean" hints.
pub fn names() -> impl Iterator<Item = &'static str> {
    BLOCKS.iter().map(|b| b.name)
}

/// The body of a block, after checking that it has no arguments and has a body; an empty body is
/// an error unless `empty_ok`.
fn body<'a>(b: &mut Builder<'_>, call: &Call<'a>, empty_ok: bool) -> Option<&'a [ItemSyntax]> {
    body_with_args(b, call, empty_ok, false)
}

/// [`body`], for a block that reads arguments of its own (`takes_args`) or takes none.
fn body_with_args<'a>(
    b: &mut Builder<'_>,
    call: &Call<'a>,
    empty_ok: bool,
    takes_args: bool,
) -> Option<&'a [ItemSyntax]> {
    let word = call.item.kind.to_string();
    if call.item.body.is_none() && word == "dense" {
        // Keras' fully connected layer.
        b.errors.push(at(
            call.item.kind.span(),
            "`dense` is a block, `dense { ... }`: DenseNet's join of a value with what its body computes",
            Some("for a fully connected layer write `linear`".into()),
        ));
        return None;
    }
    if let Some(args) = call.item.args.as_ref().filter(|_| !takes_args) {
        b.errors.push(at(args.span, format!("`{word}` takes no arguments"), Some(format!("write `{word} {{ ... }}`"))));
    }
    let Some((_, body)) = &call.item.body else {
        b.errors.push(at(
            call.item.kind.span(),
            format!("`{word}` needs a body"),
            Some(format!("write `{word} {{ layers }}`")),
        ));
        return None;
    };
    if body.is_empty() && !empty_ok {
        b.errors.push(at(
            call.item.kind.span(),
            format!("`{word}` block is empty"),
            Some("put layers inside, or remove it".into()),
        ));
        return None;
    }
    Some(body)
}

/// A block of exactly two branches on its input joined by `op` (`mul { a b }`, `sub { a b }`);
/// another count is the error `message(count)` with `hint`.
fn two_branches(
    b: &mut Builder<'_>,
    call: Call<'_>,
    op: Box<dyn crate::layers::Layer>,
    message: impl Fn(usize) -> String,
    hint: &str,
) -> (Flow, bool) {
    let Some(items) = body(b, &call, false) else { return (None, false) };
    let outs = b.branches(items, call.flow, call.key, call.depth + 1);
    if outs.len() != 2 {
        b.errors.push(at(call.item.kind.span(), message(outs.len()), Some(hint.into())));
        return (None, false);
    }
    let branches: Vec<_> = outs.iter().map(|(f, item)| (*f, item.kind.span())).collect();
    (join(b, &call, op, &branches), false)
}

/// Joins branch outputs with `op` under the block's key; branches whose shape is unknown leave
/// the join unknown too (their errors are already reported).
fn join(
    b: &mut Builder<'_>,
    call: &Call<'_>,
    op: Box<dyn crate::layers::Layer>,
    branches: &[(Flow, proc_macro2::Span)],
) -> Flow {
    let inputs: Option<Vec<(ValueId, Shape)>> = branches.iter().map(|(f, _)| *f).collect();
    let inputs = inputs?;
    let spans: Vec<proc_macro2::Span> = branches.iter().map(|&(_, s)| s).collect();
    b.errors.at_item(call.item.index);
    let word = call.item.kind.to_string();
    b.node(call.key, &word, op, &inputs, call.item.kind.span(), &spans, true)
}

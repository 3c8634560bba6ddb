//! `mul { a b }`: `a(x) * b(x)`, two branches on the same input multiplied element by element,
//! the second broadcast over each channel's map when it is `[C, 1, 1]` (LR-ASPP's head,
//! `cbr(x) * scale(x)`), keyed by name or position under the block. `gate { body }` is the case
//! where the first branch is the identity.

use super::{body, join, BlockDef, Call};
use crate::error::at;
use crate::graph::{Builder, Flow};
use crate::merges::mul::Mul;

pub const MUL: BlockDef = BlockDef { name: "mul", usage: "`mul { ... }`", build };

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    let Some(items) = body(b, &call, false) else { return (None, false) };
    let outs = b.branches(items, call.flow, call.key, call.depth + 1);
    if outs.len() != 2 {
        b.errors.push(at(
            call.item.kind.span(),
            format!("`mul` multiplies two branches, but this one has {}", outs.len()),
            Some("write `mul { a b }`: `b` may be [C, 1, 1], scaling each channel of `a`".into()),
        ));
        return (None, false);
    }
    let branches: Vec<_> = outs.iter().map(|(f, item)| (*f, item.kind.span())).collect();
    (join(b, &call, Box::new(Mul), &branches), false)
}

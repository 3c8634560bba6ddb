//! `mul { a b }`: `a(x) * b(x)`, two branches on the same input multiplied element by element,
//! the second broadcast over each channel's map when it is `[C, 1, 1]` (LR-ASPP's head,
//! `cbr(x) * scale(x)`), keyed by name or position under the block. `gate { body }` is the case
//! where the first branch is the identity.

use super::{two_branches, BlockDef, Call};
use crate::graph::{Builder, Flow};
use crate::merges::mul::Mul;

pub const MUL: BlockDef = BlockDef { name: "mul", usage: "`mul { ... }`", build };

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    two_branches(
        b,
        call,
        Box::new(Mul),
        |n| format!("`mul` multiplies two branches, but this one has {n}"),
        "write `mul { a b }`: `b` may be [C, 1, 1], scaling each channel of `a`",
    )
}

//! `gate { body }`: `x * body(x)`, as squeeze-and-excitation scales a map by per-channel
//! weights. The body outputs `[C, 1, 1]` (broadcast over the map) or `x`'s own shape; its items
//! are keyed directly under the block.

use super::{body, join, BlockDef, Call};
use crate::graph::{Builder, Flow};
use crate::merges::mul::Mul;

pub const GATE: BlockDef = BlockDef { name: "gate", usage: "`gate { ... }`", build };

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    let Some(items) = body(b, &call, false) else { return (call.flow, false) };
    let out = b.seq(items, call.flow, call.key, call.depth + 1);
    let span = call.item.kind.span();
    // Checking goes on from the input's shape, which a gate keeps.
    let joined = join(b, &call, Box::new(Mul), &[(call.flow, span), (out, span)]);
    (joined.or(call.flow.filter(|_| out.is_none())), false)
}

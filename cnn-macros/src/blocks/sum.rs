//! `sum { b0 b1 ... }`: `b0(x) + b1(x) + ...`, branches on the same input with one output shape,
//! keyed by name or position under the block.

use super::{body, join, BlockDef, Call};
use crate::graph::{Builder, Flow};
use crate::merges::add::Add;

pub const SUM: BlockDef = BlockDef { name: "sum", usage: "`sum { ... }`", build };

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    let Some(items) = body(b, &call, false) else { return (None, false) };
    let outs = b.branches(items, call.flow, call.key, call.depth + 1);
    let branches: Vec<_> = outs.iter().map(|(f, item)| (*f, item.kind.span())).collect();
    (join(b, &call, Box::new(Add), &branches), false)
}

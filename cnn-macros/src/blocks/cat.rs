//! `cat { b0 b1 ... }`: `torch.cat([b0(x), b1(x), ...], dim=1)`. Each direct child is a branch
//! on the block's input, keyed by name or position under the block.

use super::{body, join, BlockDef, Call};
use crate::graph::{Builder, Flow};
use crate::merges::concat::Concat;

pub const CAT: BlockDef = BlockDef { name: "cat", usage: "`cat { ... }`", build };

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    let Some(items) = body(b, &call, false) else { return (None, false) };
    let outs = b.branches(items, call.flow, call.key, call.depth + 1);
    let branches: Vec<_> = outs.iter().map(|(f, item)| (*f, item.kind.span())).collect();
    (join(b, &call, Box::new(Concat), &branches), false)
}

//! `dense { body }`: `torch.cat([x, body(x)], dim=1)`, a DenseNet layer. The body's items are
//! keyed directly under the block.

use super::{body, join, BlockDef, Call};
use crate::graph::{Builder, Flow};
use crate::merges::concat::Concat;

pub const DENSE: BlockDef = BlockDef { name: "dense", usage: "`dense { ... }`", build };

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    let Some(items) = body(b, &call, false) else { return (None, false) };
    let out = b.seq(items, call.flow, call.key, call.depth + 1);
    let span = call.item.kind.span();
    (join(b, &call, Box::new(Concat), &[(call.flow, span), (out, span)]), false)
}

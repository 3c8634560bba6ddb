//! `seq { ... }`: a nested `nn.Sequential`, its items numbered from 0 under the block's key.

use super::{body, BlockDef, Call};
use crate::graph::{Builder, Flow};

pub const SEQ: BlockDef = BlockDef { name: "seq", usage: "`seq { ... }`", build };

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    let Some(items) = body(b, &call, false) else { return (call.flow, false) };
    (b.seq(items, call.flow, call.key, call.depth + 1), false)
}

//! `sub { a b }`: `a(x) - b(x)`, two branches on the same input with one output shape, keyed by
//! name or position under the block (MetaFormer's token mixer, `self.pool(x) - x`:
//! `sub { pool: avgpool(3, 1, 1, count_include_pad=false) _: identity }`).

use super::{body, join, BlockDef, Call};
use crate::error::at;
use crate::graph::{Builder, Flow};
use crate::merges::sub::Sub;

pub const SUB: BlockDef = BlockDef { name: "sub", usage: "`sub { ... }`", build };

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    let Some(items) = body(b, &call, false) else { return (None, false) };
    let outs = b.branches(items, call.flow, call.key, call.depth + 1);
    if outs.len() != 2 {
        b.errors.push(at(
            call.item.kind.span(),
            format!("`sub` subtracts its second branch from its first, but this one has {} branches", outs.len()),
            Some("write `sub { a b }` for `a(x) - b(x)`".into()),
        ));
        return (None, false);
    }
    let branches: Vec<_> = outs.iter().map(|(f, item)| (*f, item.kind.span())).collect();
    (join(b, &call, Box::new(Sub), &branches), false)
}

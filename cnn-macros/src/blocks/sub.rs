//! `sub { a b }`: `a(x) - b(x)`, two branches on the same input with one output shape, keyed by
//! name or position under the block (MetaFormer's token mixer, `self.pool(x) - x`:
//! `sub { pool: avgpool(3, 1, 1, count_include_pad=false) _: identity }`).

use super::{two_branches, BlockDef, Call};
use crate::graph::{Builder, Flow};
use crate::merges::sub::Sub;

pub const SUB: BlockDef = BlockDef { name: "sub", usage: "`sub { ... }`", build };

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    two_branches(
        b,
        call,
        Box::new(Sub),
        |n| format!("`sub` subtracts its second branch from its first, but this one has {n} branches"),
        "write `sub { a b }` for `a(x) - b(x)`",
    )
}

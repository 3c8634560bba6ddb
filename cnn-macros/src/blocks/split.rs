//! `split { b0 b1 ... }`: `torch.cat([b_i(c_i) for c_i in x.chunk(n, dim=1)], dim=1)`. The
//! channels are cut into as many equal, contiguous chunks as there are branches; branch `i`
//! reads chunk `i`. Branches are keyed by name or position under the block; the chunks are not
//! modules, so no hook sees them.

use super::{body, join, BlockDef, Call};
use crate::error::{at, shape_message};
use crate::graph::{child_key, Builder, Flow};
use crate::merges::concat::Concat;
use crate::merges::slice::Slice;
use crate::shape::{Shape, ShapeError};

pub const SPLIT: BlockDef = BlockDef { name: "split", usage: "`split { ... }`", build };

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    let Some(items) = body(b, &call, false) else { return (None, false) };
    let parts = items.len();
    let chunks: Option<(usize, Shape)> = match call.flow {
        Some((_, shape)) => {
            let c = shape.channels();
            let fits = match shape {
                Shape::Hwc(..) => Err(ShapeError::ChannelsLast { input: shape }),
                _ if c % parts != 0 => Err(ShapeError::Divide { channels: c, parts, what: "chunks" }),
                _ => Ok(()),
            };
            match fits {
                Ok(()) => Some((c / parts, shape)),
                Err(e) => {
                    b.errors.at_item(call.item.index);
                    let (message, hint) = shape_message("split", &e);
                    b.errors.push(at(call.item.kind.span(), message, hint));
                    None
                }
            }
        }
        None => None,
    };
    let mut branches = Vec::new();
    for (k, item) in items.iter().enumerate() {
        let chunk = match (call.flow, chunks) {
            (Some((v, _)), Some((size, shape))) => {
                let op = Box::new(Slice { from: k * size, len: size });
                b.node(call.key, "split", op, &[(v, shape)], item.kind.span(), &[], false)
            }
            _ => None,
        };
        let key = child_key(call.key, item, k);
        let (out, _) = b.item(item, None, chunk, &key, call.depth + 1);
        branches.push((out, item.kind.span()));
    }
    (join(b, &call, Box::new(Concat), &branches), false)
}

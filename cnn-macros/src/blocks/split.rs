//! `split { b0 b1 ... }`: `torch.cat([b_i(c_i) for c_i in x.chunk(n, dim=1)], dim=1)`. The
//! channels are cut into as many equal, contiguous chunks as there are branches; branch `i`
//! reads chunk `i`. `split(s0, s1, ...) { ... }` cuts chunks of those sizes, as
//! `torch.split(x, [s0, s1, ...], dim=1)`. Branches are keyed by name or position under the
//! block; the chunks are not modules, so no hook sees them.

use super::{body_with_args, join, BlockDef, Call};
use crate::error::{at, shape_message};
use crate::graph::{child_key, Builder, Flow};
use crate::merges::concat::Concat;
use crate::merges::slice::Slice;
use crate::parse::ValueSyntax;
use crate::shape::{Shape, ShapeError};

pub const SPLIT: BlockDef = BlockDef { name: "split", usage: "`split { ... }` or `split(sizes...) { ... }`", build };

/// The chunk sizes written (`split(16, 48)`), one per branch, each at least 1; `None` when none
/// were written or they were reported as wrong.
fn sizes(b: &mut Builder<'_>, call: &Call<'_>, branches: usize) -> Result<Option<Vec<usize>>, ()> {
    let Some(args) = &call.item.args else { return Ok(None) };
    let mut sizes = Vec::new();
    for a in &args.args {
        match (&a.key, &a.value) {
            (None, ValueSyntax::Int(v, _)) if *v >= 1 => sizes.push(*v),
            (None, ValueSyntax::Bad(_)) => return Err(()),
            (key, value) => {
                let shown = key.as_ref().map_or(value.text(), |k| format!("{k}={}", value.text()));
                b.errors.push(at(
                    key.as_ref().map_or(value.span(), |k| k.span()),
                    format!("`split` takes chunk sizes, integers of at least 1, not `{shown}`"),
                    Some("write the size of each branch's chunk, as in `split(16, 48) { a b }`".into()),
                ));
                return Err(());
            }
        }
    }
    if sizes.len() != branches {
        b.errors.push(at(
            args.span,
            format!("`split` has {} chunk sizes for {branches} branches", sizes.len()),
            Some("write one size per branch, in the branches' order".into()),
        ));
        return Err(());
    }
    Ok(Some(sizes))
}

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    let Some(items) = body_with_args(b, &call, false, true) else { return (None, false) };
    let parts = items.len();
    b.errors.at_item(call.item.index);
    let Ok(written) = sizes(b, &call, parts) else { return (None, false) };
    let chunks: Option<(Vec<usize>, Shape)> = match call.flow {
        Some((_, shape)) => {
            let c = shape.channels();
            let fits = match (&written, shape) {
                (_, Shape::Hwc(..)) => Err(shape_message("split", &ShapeError::ChannelsLast { input: shape })),
                (Some(sizes), _) if sizes.iter().sum::<usize>() != c => Err((
                    format!(
                        "`split` chunk sizes {} add up to {}, but the input {shape} has {c} channels",
                        sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" + "),
                        sizes.iter().sum::<usize>()
                    ),
                    Some("the sizes must add up to the channels, as `torch.split(x, sizes, dim=1)` needs".into()),
                )),
                (Some(sizes), _) => Ok(sizes.clone()),
                (None, _) if c % parts != 0 => {
                    Err(shape_message("split", &ShapeError::Divide { channels: c, parts, what: "chunks" }))
                }
                (None, _) => Ok(vec![c / parts; parts]),
            };
            match fits {
                Ok(sizes) => Some((sizes, shape)),
                Err((message, hint)) => {
                    b.errors.at_item(call.item.index);
                    let span = call.item.args.as_ref().map_or(call.item.kind.span(), |a| a.span);
                    b.errors.push(at(span, message, hint));
                    None
                }
            }
        }
        None => None,
    };
    let mut branches = Vec::new();
    for (k, item) in items.iter().enumerate() {
        let chunk = match (call.flow, &chunks) {
            (Some((v, _)), Some((sizes, shape))) => {
                let op = Box::new(Slice { from: sizes[..k].iter().sum(), len: sizes[k] });
                b.node(call.key, "split", op, &[(v, *shape)], item.kind.span(), &[], false)
            }
            _ => None,
        };
        let key = child_key(call.key, item, k);
        let (out, _) = b.item(item, None, chunk, &key, call.depth + 1);
        branches.push((out, item.kind.span()));
    }
    (join(b, &call, Box::new(Concat), &branches), false)
}

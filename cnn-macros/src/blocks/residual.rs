//! `residual { body }`: `body(x) + x`; with `shortcut { ... }` right after it,
//! `body(x) + shortcut(x)` (where the body may be empty: `x + shortcut(x)`). The body's items are keyed directly under the block, the shortcut
//! under its name (`downsample: shortcut { ... }`) or `shortcut`.

use super::{body, join, BlockDef, Call};
use crate::error::at;
use crate::graph::{Builder, Flow};
use crate::merges::add::Add;

pub const RESIDUAL: BlockDef = BlockDef { name: "residual", usage: "`residual { ... }`", build };

/// `shortcut` on its own: only a residual block reads one.
pub const SHORTCUT: BlockDef =
    BlockDef { name: "shortcut", usage: "`shortcut { ... }` (after a `residual`)", build: misplaced };

fn misplaced(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    b.errors.push(at(
        call.item.kind.span(),
        "`shortcut` must follow a `residual { ... }` block",
        Some("write `residual { ... } shortcut { ... }`".into()),
    ));
    (call.flow, false)
}

fn build(b: &mut Builder<'_>, call: Call<'_>) -> (Flow, bool) {
    let shortcut = call.next.filter(|n| n.kind == "shortcut");
    // Empty, the block would add its input to itself; with a shortcut after it, it is
    // `x + shortcut(x)`.
    let Some(items) = body(b, &call, shortcut.is_some()) else { return (None, shortcut.is_some()) };
    let out = b.seq(items, call.flow, call.key, call.depth + 1);
    let side = match shortcut {
        Some(sc) => {
            b.errors.at_item(sc.index);
            let name = sc.name.as_ref().map_or("shortcut".to_string(), |n| n.text());
            let sc_key = if call.key.is_empty() { name } else { format!("{}.{name}", call.key) };
            b.claim(&sc_key, sc);
            if let Some(args) = &sc.args {
                b.errors.push(at(args.span, "`shortcut` takes no arguments", Some("write `shortcut { ... }`".into())));
            }
            let items = sc.body.as_ref().map_or(&[][..], |(_, items)| items);
            if items.is_empty() {
                b.errors.push(at(
                    sc.kind.span(),
                    "`shortcut` block is empty",
                    Some("leave the shortcut out for `body(x) + x`".into()),
                ));
                return (None, true);
            }
            let start = b.next_node();
            let out = b.seq(items, call.flow, &sc_key, call.depth + 2);
            if let Some(out) = out {
                b.row(call.depth + 1, &sc_key, sc, start, out);
            }
            out
        }
        None => call.flow,
    };
    let ((a, sa), (c, sc)) = match (out, side) {
        (Some(a), Some(c)) => (a, c),
        _ => return (None, shortcut.is_some()),
    };
    b.errors.at_item(call.item.index);
    if sa != sc {
        let what = if shortcut.is_some() { "its shortcut outputs" } else { "its input is" };
        let hint = if shortcut.is_some() {
            format!("make both sides end in {sa}")
        } else {
            format!(
                "add a `shortcut {{ ... }}` after the block that maps {sc} to {sa}, as torchvision's `downsample` does"
            )
        };
        b.errors.push(at(
            call.item.kind.span(),
            format!("residual block's body outputs {sa}, but {what} {sc}"),
            Some(hint),
        ));
        // The sum has no shape once its sides disagree: checking downstream stops here, so
        // nothing after it (the next layer, the next turn of a loop around it) says it again.
        return (None, shortcut.is_some());
    }
    let span = call.item.kind.span();
    let flow = join(b, &call, Box::new(Add), &[(Some((a, sa)), span), (Some((c, sc)), span)]);
    (flow, shortcut.is_some())
}

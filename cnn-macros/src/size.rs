//! How much Rust a network expands to, against what rustc can compile.
//!
//! rustc's memory grows with the generated code, not with the items as written (tokens are
//! counted as rustc gets them, primitive types qualified). Measured with
//! `cargo check` on networks of one kind repeated (rustc 1.95, AMD EPYC): about 300 KB per
//! `relu` (314 generated tokens), 800 KB per `conv` (935 tokens) and 1.3 MB per `batchnorm`
//! (1,515 tokens), linear in the count: about 0.9 KB of rustc memory per generated token, for
//! every kind. So the budget is in tokens: 5,500 `relu`s (1.73M tokens) checked in 23 s and
//! 1.67 GB, 1,150 `batchnorm`s (1.75M) in 27 s and 1.66 GB. A network whose expansion passes
//! [`MAX_TOKENS`] is one error on its name (20,000 `relu`s: refused in 22 s using 0.47 GB),
//! rather than a compiler out of memory.

use crate::graph::Graph;
use proc_macro2::{TokenStream, TokenTree};

/// The most tokens a network may expand to: under 2 GB of rustc memory and half a minute of
/// `cargo check` (some 5,700 `relu`s, 1,900 `conv`s or 1,150 `batchnorm`s; torchvision's
/// largest network here, DenseNet-169, expands to 583,000).
pub const MAX_TOKENS: usize = 1_800_000;

/// The tokens of `stream`, counted at every depth (a group and its delimiters count as one).
pub fn tokens(stream: &TokenStream) -> usize {
    let mut count = 0;
    let mut pending = vec![stream.clone()];
    while let Some(s) = pending.pop() {
        for tt in s {
            count += 1;
            if let TokenTree::Group(g) = tt {
                pending.push(g.stream());
            }
        }
    }
    count
}

/// Whether `code`, the expansion of `graph`, is small enough for rustc; else one error on the
/// network's name with the measured numbers.
pub fn check(graph: &Graph, code: &TokenStream) -> syn::Result<()> {
    let n = tokens(code);
    if n <= MAX_TOKENS {
        return Ok(());
    }
    Err(crate::error::at(
        graph.ident.span(),
        format!(
            "network `{}` expands to {n} tokens of Rust ({} layers), more than the {MAX_TOKENS} that rustc compiles in about 2 GB of memory",
            graph.ident,
            graph.nodes.len()
        ),
        Some("split it into networks chained by hand, or repeat fewer layers; rustc needs about 1 KB per generated token".into()),
    ))
}

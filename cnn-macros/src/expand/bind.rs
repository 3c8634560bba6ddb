//! How a node's code reaches its memory: the context a layer's code is written with, and the
//! bindings of its tensors, gradients and the regions of its inputs and output.

use crate::graph::Graph;
use crate::layers::{lit, Cx, Role};
use crate::plan::{Tables, TrainPlan};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// A region `(offset, len)` of a sample as the runtime's region helpers take it.
pub(super) fn region((at, len): (usize, usize)) -> TokenStream {
    let (at, len) = (lit(at), lit(len));
    quote!((#at, #len))
}

pub(super) fn geom_name(i: usize) -> Ident {
    format_ident!("__G{}", i)
}

/// The context of node `i`'s code, its tensors read from `p` and `bufs`, in a training pass or
/// at inference.
pub(super) fn cx(g: &Graph, tables: &Tables, train: &TrainPlan, i: usize, training: bool) -> Cx {
    let node = &g.nodes[i];
    let tensors = tables.per_node[i]
        .iter()
        .map(|&t| &tables.all[t])
        .filter(|t| t.role != Role::Counter)
        .map(|t| {
            let (a, b) = (lit(t.offset), lit(t.offset + t.len()));
            if t.role == Role::Param {
                quote!(&p[#a..#b])
            } else {
                quote!(&bufs[#a..#b])
            }
        })
        .collect();
    let geom = geom_name(i);
    let (params_before, param_index) = param_indices(tables, i);
    Cx {
        geom: quote!(#geom),
        inputs: node.shapes.clone(),
        output: node.output,
        train: training,
        placed: vec![false; node.inputs.len()],
        tensors,
        index: i,
        stats_at: train.nodes[i].stats_at,
        argmax_at: train.nodes[i].argmax_at,
        params_before,
        param_index,
    }
}

/// How many parameter tensors the nodes before node `i` introduced (the parameter table's first
/// ones), and the table index of each of node `i`'s own.
pub(super) fn param_indices(tables: &Tables, i: usize) -> (usize, Vec<usize>) {
    let own = tables.per_node[i].iter().filter(|&&t| tables.all[t].role == Role::Param).map(|&t| tables.param_rank[t]);
    (tables.params_before[i], own.collect())
}

/// `let [g0, g1, ...] = slices_mut(buf, [...]);` for node `i`'s tensors of `role`.
pub(super) fn bind_tensors(tables: &Tables, i: usize, role: Role, buf: TokenStream, prefix: &str) -> TokenStream {
    bind_ranges(tables, i, role, prefix, |ranges| quote!(::cnn::__private::slices_mut(#buf, #ranges)))
}

/// Binds node `i`'s parameter gradients in a tile's partial, which lends out their ranges alone.
pub(super) fn bind_grad_partial(tables: &Tables, i: usize) -> TokenStream {
    bind_ranges(tables, i, Role::Param, "g", |ranges| quote!(t.param_grads.slices_mut(#ranges)))
}

/// `let [p0, p1, ..] = take([(start, end), ..]);` over node `i`'s tensors of `role`.
pub(super) fn bind_ranges(
    tables: &Tables,
    i: usize,
    role: Role,
    prefix: &str,
    take: impl FnOnce(TokenStream) -> TokenStream,
) -> TokenStream {
    let mine: Vec<_> = tables.per_node[i].iter().map(|&t| &tables.all[t]).filter(|t| t.role == role).collect();
    if mine.is_empty() {
        return TokenStream::new();
    }
    let names = (0..mine.len()).map(|k| format_ident!("{}{}", prefix, k));
    let ranges = mine.iter().map(|t| {
        let (a, b) = (lit(t.offset), lit(t.offset + t.len()));
        quote!((#a, #b))
    });
    let call = take(quote!([#(#ranges),*]));
    quote!(let [#(#names),*] = #call;)
}

pub(super) fn identity() -> TokenStream {
    quote!(::cnn::Act::Identity)
}

/// Binds a node's output (`dst`, written) and the inputs it reads (`srcs`, and `src` for the
/// first) in the per-sample regions of `buf`, leaving empty the ones in `skip`: the output's own
/// memory (in place), or parts already written in their place in a concatenation, whose regions
/// lie inside the output's.
pub(super) fn bind(c: &Cx, buf: TokenStream, out: &TokenStream, ins: &[TokenStream], skip: &[bool]) -> TokenStream {
    let (n, dst, src, count) = (c.n(), c.dst(), c.src(), lit(ins.len()));
    let reads: Vec<&TokenStream> = ins.iter().zip(skip).filter(|(_, &s)| !s).map(|(r, _)| r).collect();
    let mut k = 0;
    let srcs = skip.iter().map(|&s| {
        if s {
            quote!(&[])
        } else {
            let at = lit(k);
            k += 1;
            quote!(rest[#at])
        }
    });
    quote! {
        let (#dst, rest) = ::cnn::__private::regions(#buf, #n, #out, [#(#reads),*]);
        let srcs: [&[f32]; #count] = [#(#srcs),*];
        let #src = srcs[0];
    }
}

//! The inference code of a tile: each planned step, with fused epilogues, folded batch norms
//! and in-place layers; the forward pass of a tile (batched, or one sample whose concatenations
//! are written in place) and `activations`, every module's output as PyTorch's hooks see it.

use super::bind::{bind, cx, identity, region};
use crate::graph::{self, Graph};
use crate::layers::{lit, Epi};
use crate::plan::{self, InferPlan, Layout, Tables, TrainPlan};
use proc_macro2::TokenStream;
use quote::quote;

/// The inference steps of a tile.
fn inference(g: &Graph, tables: &Tables, train: &TrainPlan, plan: &InferPlan) -> Vec<TokenStream> {
    plan.steps
        .iter()
        .map(|s| {
            let act = s.act.and_then(|k| g.nodes[k].layer().act()).unwrap_or_else(identity);
            let out = region(s.output);
            let ins: Vec<TokenStream> = s.inputs.iter().map(|&r| region(r)).collect();
            let node = &g.nodes[s.node];
            let layer = node.layer();
            let mut c = cx(g, tables, train, s.node, false);
            c.placed.clone_from(&s.placed);
            if s.placed.iter().all(|&p| p) {
                // A concatenation whose inputs were all written in their place: nothing to do.
                return TokenStream::new();
            }
            if s.in_place {
                // The output is the first input's memory; the others are read beside it.
                let epi = Epi { scale: TokenStream::new(), shift: TokenStream::new(), act: act.clone() };
                // The plan runs in place only a layer that offers it.
                let code = layer.in_place().map(|l| l.forward_in_place(&c, &epi)).unwrap_or_default();
                let mut skip = vec![false; ins.len()];
                skip[0] = true;
                let bind = bind(&c, quote!(arena), &out, &ins, &skip);
                return quote! {{
                    #bind
                    #code
                }};
            }
            let bind = bind(&c, quote!(arena), &out, &ins, &s.placed);
            if let Some(b) = s.bn {
                let channels = lit(node.output.dims()[0]);
                // The plan folds only a layer that offers it.
                let folding = g.nodes[b].layer().folding();
                let fold = folding.map(|l| l.fold(&cx(g, tables, train, b, false), layer.bias(&c))).unwrap_or_default();
                let epi = Epi {
                    scale: quote!(::core::option::Option::Some(&*scale)),
                    shift: quote!(::core::option::Option::Some(&*shift)),
                    act,
                };
                let code = layer.forward(&c, &epi);
                return quote! {{
                    #bind
                    let (fold, work) = work.split_at_mut(2 * #channels);
                    let (scale, shift) = fold.split_at_mut(#channels);
                    #fold
                    #code
                }};
            }
            let code =
                layer.forward(&c, &Epi { scale: quote!(::core::option::Option::None), shift: layer.bias(&c), act });
            quote! {{
                #bind
                #code
            }}
        })
        .collect()
}

/// The inference side of the network's `impl`.
pub(super) struct Code {
    /// `__forward_tile`'s body.
    pub forward_tile: TokenStream,
    /// `__activations`' body.
    pub activations: TokenStream,
    /// Per-sample arena of a forward tile, and of `activations`' pass.
    pub arena: proc_macro2::Literal,
    pub kept_arena: proc_macro2::Literal,
}

impl Code {
    pub fn new(g: &Graph, tables: &Tables, train: &TrainPlan) -> Self {
        let infer = plan::infer_plan(g, Layout::Batched);
        let single = plan::infer_plan(g, Layout::OneSample);
        let kept = plan::infer_plan(g, Layout::KeepAll);
        let (c, h, w) = g.input;
        // A tile's code: one-sample tiles write a concatenation's parts in their place in it,
        // wider ones copy them in; the two give the same numbers.
        let (in_len, out_len) = (lit(c * h * w), lit(g.output().len()));
        let tile_code = |plan: &InferPlan| {
            let steps = inference(g, tables, train, plan);
            let (arena, input_at, output_at) = (lit(plan.arena), lit(plan.input_at), lit(plan.output_at));
            quote! {
                let (arena, work) = scratch.split_at_mut(n * #arena);
                ::cnn::__private::region_mut(arena, n, #input_at, #in_len).copy_from_slice(x);
                #(#steps)*
                y.copy_from_slice(::cnn::__private::region(arena, n, #output_at, #out_len));
            }
        };
        let batched = tile_code(&infer);
        let body = if single.steps.iter().any(|s| s.placed.iter().any(|&p| p)) {
            let single_code = tile_code(&single);
            quote!(if n == 1 { #single_code } else { #batched })
        } else {
            batched
        };
        let forward_tile = quote! {
            let p = &state.params;
            let bufs: &[f32] = &state.buffers[..];
            #body
        };
        // Every layer's output, unfused and kept, under its key.
        let kept_steps = inference(g, tables, train, &kept);
        let kept_values = hooked_values(g, &kept);
        let (kept_arena, kept_input_at) = (lit(kept.arena), lit(kept.input_at));
        let activations = quote! {
            let n = 1usize;
            let mut scratch = ::std::vec![0.0f32; KEPT_SCRATCH];
            let p = &state.params;
            let bufs: &[f32] = &state.buffers[..];
            let (arena, work) = scratch.split_at_mut(#kept_arena);
            ::cnn::__private::region_mut(arena, n, #kept_input_at, #in_len).copy_from_slice(x);
            #(#kept_steps)*
            ::std::vec![#(#kept_values),*]
        };
        Code { forward_tile, activations, arena: lit(infer.arena.max(single.arena)), kept_arena }
    }
}

/// Each module's output once, as forward hooks see it, in the order they fire: a node's own,
/// then each block that outputs it (inner first: a `seq`'s or a `shortcut`'s output is its
/// last node's, or with `from` an earlier one). A key that several share (a `_` block's merge
/// and the module it ends) names the last of them.
/// The keys `activations` reports, each with the node whose output it is, in order: a hooked
/// layer's own, and each module's (a row with a key) at the node that ends it; of a key given
/// twice, the last.
pub(super) fn hooks(g: &Graph) -> Vec<(&str, usize)> {
    let mut hooks: Vec<(&str, usize)> = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        if node.hooked {
            hooks.push((&node.key, i));
        }
        let mut ending: Vec<&graph::Row> =
            g.rows.iter().filter(|r| !r.key.is_empty() && !r.nodes.is_empty() && r.value == i + 1).collect();
        ending.sort_by_key(|r| std::cmp::Reverse(r.depth));
        hooks.extend(ending.into_iter().map(|r| (r.key.as_str(), i)));
    }
    hooks
        .iter()
        .enumerate()
        .filter(|&(h, &(key, _))| !hooks[h + 1..].iter().any(|later| later.0 == key))
        .map(|(_, &hook)| hook)
        .collect()
}

fn hooked_values(g: &Graph, kept: &InferPlan) -> Vec<TokenStream> {
    hooks(g)
        .into_iter()
        .map(|(key, i)| {
            let dims = g.nodes[i].output.dims().into_iter().map(lit);
            let (at, len) = kept.values[i + 1];
            let (at, len) = (lit(at), lit(len));
            quote! {
                (#key, ::cnn::Tensor { shape: ::std::vec![#(#dims),*], data: ::cnn::__private::region(arena, n, #at, #len).to_vec() })
            }
        })
        .collect()
}

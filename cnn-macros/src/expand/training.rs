//! The training passes' code: the forward and backward passes cut into stages at batch-wide
//! reductions (batch statistics), and what runs after a forward pass (running statistics);
//! the `TrainLayout` that sizes a step's memory.

use super::bind::{bind, bind_grad_partial, bind_tensors, cx, region};
use crate::graph::{self, Graph};
use crate::layers::{lit, Role, Steps};
use crate::plan::{self, Tables, TrainPlan};
use proc_macro2::TokenStream;

/// Scratch elements all lanes of a training step may use together (64 MiB), and the most
/// samples a training tile takes.
const TRAIN_BUDGET: usize = 1 << 24;
const MAX_TRAIN_TILE_SAMPLES: usize = 16;
use quote::{format_ident, quote};

/// Code cut into stages at batch-wide reductions.
struct Staged {
    stages: Vec<Vec<TokenStream>>,
    reduces: Vec<TokenStream>,
    /// Per stage, the parameter ranges its tiles write gradients to (backward only).
    grad_ranges: Vec<Vec<(usize, usize)>>,
    /// Per reduction, the per-unit statistics it reads: `(offset, len)`.
    stats: Vec<(usize, usize)>,
}

impl Staged {
    fn new() -> Self {
        Staged { stages: vec![Vec::new()], reduces: Vec::new(), grad_ranges: vec![Vec::new()], stats: Vec::new() }
    }

    /// Notes that the current stage's tiles write the gradients of node `i`'s parameters.
    fn writes_grads(&mut self, tables: &Tables, i: usize) {
        let ranges = tables.per_node[i].iter().map(|&t| &tables.all[t]).filter(|t| t.role == Role::Param);
        let stage = self.grad_ranges.last_mut().expect("one stage at least");
        stage.extend(ranges.map(|t| (t.offset, t.offset + t.len())));
    }

    /// The `forward_stats` or `backward_stats` of a `TrainLayout`.
    fn stats_ranges(&self) -> TokenStream {
        let ranges = self.stats.iter().map(|&(a, n)| {
            let (a, n) = (lit(a), lit(n));
            quote!((#a, #n))
        });
        quote!(&[#(#ranges),*])
    }

    /// The `grad_ranges` of a `TrainLayout`: each stage's ranges sorted, adjacent and
    /// overlapping ones merged (a reused module's nodes write their first use's ranges again:
    /// each range is summed once).
    fn grad_ranges(&self) -> TokenStream {
        let stages = self.grad_ranges.iter().map(|ranges| {
            let mut ranges = ranges.clone();
            ranges.sort_unstable();
            let mut merged: Vec<(usize, usize)> = Vec::new();
            for (a, b) in ranges {
                match merged.last_mut() {
                    Some(last) if a <= last.1 => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            let merged = merged.into_iter().map(|(a, b)| {
                let (a, b) = (lit(a), lit(b));
                quote!((#a, #b))
            });
            quote!(&[#(#merged),*])
        });
        quote!(&[#(#stages),*])
    }

    /// Adds `steps`, each piece wrapped by `wrap` (its bindings); a reduction reads the per-unit
    /// statistics `stats` (`(offset, len)`).
    fn push(
        &mut self,
        steps: Steps,
        stats: (usize, usize),
        wrap: impl Fn(TokenStream) -> TokenStream,
        wrap_reduce: impl Fn(TokenStream) -> TokenStream,
    ) {
        match steps {
            Steps::One(code) if code.is_empty() => {}
            Steps::One(code) => self.stages.last_mut().expect("one stage at least").push(wrap(code)),
            Steps::Reduced { stage, reduce, then } => {
                self.stages.last_mut().expect("one stage at least").push(wrap(stage));
                self.reduces.push(wrap_reduce(reduce));
                self.stats.push(stats);
                self.stages.push(if then.is_empty() { Vec::new() } else { vec![wrap(then)] });
                self.grad_ranges.push(Vec::new());
            }
        }
    }

    fn stage_match(&self) -> TokenStream {
        let arms = self.stages.iter().enumerate().map(|(k, code)| {
            let k = lit(k);
            quote!(#k => { #(#code)* })
        });
        quote!(match stage { #(#arms)* _ => {} })
    }

    fn reduce_match(&self) -> TokenStream {
        let arms = self.reduces.iter().enumerate().map(|(k, code)| {
            let k = lit(k);
            quote!(#k => { #code })
        });
        quote!(match stage { #(#arms)* _ => {} })
    }
}

/// The per-unit statistics node `node` (planned as `t`) reduces: `(offset, len)`.
fn stats_range(node: &graph::Node, t: &plan::TrainNode) -> (usize, usize) {
    (t.stats_at.0, node.layer().stats_len(node.input()).0)
}

/// The training forward stages and their reductions.
fn train_forward(g: &Graph, tables: &Tables, plan: &TrainPlan) -> Staged {
    let mut staged = Staged::new();
    for (i, node) in g.nodes.iter().enumerate() {
        let t = &plan.nodes[i];
        let out = region(t.output);
        let ins: Vec<TokenStream> = t.inputs.iter().map(|&r| region(r)).collect();
        let c = cx(g, tables, plan, i, true);
        let steps = node.layer().train_forward(&c);
        let bind = bind(&c, quote!(&mut *t.acts), &out, &ins, &vec![false; ins.len()]);
        staged.push(steps, stats_range(node, t), |code| quote!({ #bind #code }), |code| code);
    }
    staged
}

/// The training backward stages (nodes in reverse) and their reductions.
fn train_backward(g: &Graph, tables: &Tables, plan: &TrainPlan) -> Staged {
    let mut staged = Staged::new();
    for (i, node) in g.nodes.iter().enumerate().rev() {
        let t = &plan.nodes[i];
        if !t.backward {
            continue;
        }
        let Some(gout) = t.grad_output else { continue };
        let gy = region(gout);
        let layer = node.layer();
        let c = cx(g, tables, plan, i, true);
        let (dx, dy) = (c.dx(), c.dy());
        if layer.per_input_backward() {
            // One input at a time: two inputs may be one value, whose gradient is then added to.
            let xs: Vec<TokenStream> = t.inputs.iter().map(|&r| region(r)).collect();
            for (k, gin) in t.grad_inputs.iter().enumerate() {
                let Some(gin) = gin else { continue };
                let (gx, code) = (region(*gin), layer.backward_input(&c, k, t.accumulate[k]));
                let count = lit(t.inputs.len());
                let xs = xs.iter().map(|x| quote!(::cnn::__private::region(acts, m, #x.0, #x.1)));
                let code = quote! {{
                    let (#dx, [#dy]) = ::cnn::__private::regions(&mut *t.grads, m, #gx, [#gy]);
                    let xs: [&[f32]; #count] = [#(#xs),*];
                    #code
                }};
                let code = if t.input_only || t.for_input[k] { only_for_input(code) } else { code };
                staged.push(Steps::One(code), (0, 0), |c| when_runs(tables, i, c), |c| c);
            }
            continue;
        }
        let acc = t.accumulate[0];
        let steps = if t.input_only {
            // Nothing here leads to a parameter: all of it only for the input's gradient.
            match layer.backward(&c, Some(acc)) {
                Steps::One(code) => Steps::One(only_for_input(code)),
                Steps::Reduced { stage, reduce, then } => Steps::Reduced {
                    stage: only_for_input(stage),
                    reduce: only_for_input(reduce),
                    then: only_for_input(then),
                },
            }
        } else if t.for_input[0] {
            // The parameters' gradients always, the input's only when asked for.
            either(layer.backward(&c, Some(acc)), layer.backward(&c, None))
        } else {
            layer.backward(&c, Some(acc))
        };
        let (x, y) = (region(t.inputs[0]), region(t.output));
        let (xn, yn) = (c.x(), c.y());
        let grads = match t.grad_inputs[0] {
            Some(gin) => {
                let gx = region(gin);
                quote!(let (#dx, [#dy]) = ::cnn::__private::regions(&mut *t.grads, m, #gx, [#gy]);)
            }
            None => quote!(let #dy = ::cnn::__private::region(&*t.grads, m, #gy.0, #gy.1);),
        };
        // A batch norm's parameter gradients are the reduction's to write, the rest its tiles'.
        let bind = bind_grad_partial(tables, i);
        let bind_reduce = bind_tensors(tables, i, Role::Param, quote!(&mut *grads), "g");
        if matches!(steps, Steps::One(_)) {
            staged.writes_grads(tables, i);
        }
        staged.push(
            steps,
            stats_range(node, t),
            |code| {
                when_runs(
                    tables,
                    i,
                    quote! {
                        let #xn = ::cnn::__private::region(acts, m, #x.0, #x.1);
                        let #yn = ::cnn::__private::region(acts, m, #y.0, #y.1);
                        #grads
                        #bind
                        #code
                    },
                )
            },
            |code| when_runs(tables, i, quote!(#bind_reduce #code)),
        );
    }
    staged
}

/// The table of `__KEY_GRADS`: for each key `activations` reports, where its gradient lies in a
/// training pass's activation gradients, its shape, and whether only a pass computing the
/// input's gradient computes it.
pub(super) fn key_grads(g: &Graph, tables: &Tables, plan: &TrainPlan) -> TokenStream {
    let rows = super::inference::hooks(g).into_iter().filter_map(|(key, i)| {
        let (at, len) = plan.nodes[i].grad_output?;
        let dims = g.nodes[i].output.dims().into_iter().map(lit);
        let (at, len, input_only) = (lit(at), lit(len), plan.nodes[i].input_only);
        // Its consumers compute its gradient when a parameter up to it trains (`grad_input`).
        let after = lit(params_through(tables, i));
        Some(quote! {
            ::cnn::__private::KeyGrad {
                key: #key, at: #at, len: #len, shape: &[#(#dims),*], input_only: #input_only, params_through: #after,
            }
        })
    });
    quote!(&[#(#rows),*])
}

/// Node `i`'s backward `code`, run unless every parameter it and the nodes before it hold is
/// frozen and the pass does not compute the input's gradient (then nothing it computes is
/// needed: nodes are in topological order, so nothing upstream of it has other parameters).
fn when_runs(tables: &Tables, i: usize, code: TokenStream) -> TokenStream {
    if code.is_empty() {
        return code;
    }
    let through = lit(params_through(tables, i));
    quote!(if flags.runs(#through) { #code })
}

/// How many parameter tensors nodes `0..=i` introduced (all of them from the last node on).
fn params_through(tables: &Tables, i: usize) -> usize {
    tables.params_before.get(i + 1).copied().unwrap_or_else(|| tables.of(Role::Param).count())
}

/// `code` run only when the backward pass computes the network input's gradient.
fn only_for_input(code: TokenStream) -> TokenStream {
    if code.is_empty() {
        return code;
    }
    quote!(if input_grad { #code })
}

/// The steps `with` (writing the input's gradient) when the input's gradient is asked for,
/// `without` otherwise: the same steps, each step's code chosen where the two differ.
fn either(with: Steps, without: Steps) -> Steps {
    let pick = |a: TokenStream, b: TokenStream| {
        if a.to_string() == b.to_string() {
            a
        } else {
            quote!(if input_grad { #a } else { #b })
        }
    };
    match (with, without) {
        (Steps::One(a), Steps::One(b)) => Steps::One(pick(a, b)),
        (Steps::Reduced { stage: s1, reduce: r1, then: t1 }, Steps::Reduced { stage: s2, reduce: r2, then: t2 }) => {
            Steps::Reduced { stage: pick(s1, s2), reduce: pick(r1, r2), then: pick(t1, t2) }
        }
        // Steps of another shape (no layer has them): the input's gradient always, which is
        // right, only not free.
        (with, _) => with,
    }
}

/// What runs after a training forward pass: running statistics and counters.
fn after_train_forward(g: &Graph, tables: &Tables, plan: &TrainPlan) -> Vec<TokenStream> {
    let mut out = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        let layer = node.layer();
        let mut c = cx(g, tables, plan, i, true);
        let mut b = 0usize;
        c.tensors = tables.per_node[i]
            .iter()
            .map(|&t| &tables.all[t])
            .filter(|t| t.role != Role::Counter)
            .map(|t| {
                if t.role == Role::Param {
                    let (a, e) = (lit(t.offset), lit(t.offset + t.len()));
                    quote!(&state.params[#a..#e])
                } else {
                    let name = format_ident!("b{}", b);
                    b += 1;
                    quote!(#name)
                }
            })
            .collect();
        let code = layer.after_train_forward(&c);
        if code.is_empty() {
            continue;
        }
        let bind = bind_tensors(tables, i, Role::Buffer, quote!(&mut state.buffers[..]), "b");
        let counters = tables.per_node[i]
            .iter()
            .map(|&t| &tables.all[t])
            .filter(|t| t.role == Role::Counter && layer.counts_batches())
            .map(|t| {
                let k = lit(t.offset);
                quote! {
                    state.counters[#k] = state.counters[#k].saturating_add(1);
                    let tracked = state.counters[#k];
                }
            });
        // As PyTorch: the counter moves first (a cumulative average divides by it), also for
        // an empty batch, whose statistics leave the running ones as they are.
        out.push(quote! {{
            #(#counters)*
            if n > 0 {
                #bind
                #code
            }
        }});
    }
    out
}

/// What runs once on the whole batch's parameter gradients after a backward pass (`grads`),
/// with the parameters (`params`).
fn after_backward(g: &Graph, tables: &Tables, plan: &TrainPlan) -> Vec<TokenStream> {
    let mut out = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        let mut c = cx(g, tables, plan, i, true);
        c.tensors = tables.per_node[i]
            .iter()
            .map(|&t| &tables.all[t])
            .filter(|t| t.role == Role::Param)
            .map(|t| {
                let (a, e) = (lit(t.offset), lit(t.offset + t.len()));
                quote!(&params[#a..#e])
            })
            .collect();
        let code = node.layer().after_backward(&c);
        if code.is_empty() {
            continue;
        }
        let bind = bind_tensors(tables, i, Role::Param, quote!(&mut *grads), "g");
        out.push(quote! {{
            #bind
            #code
        }});
    }
    out
}

/// The training side of the network's `impl`: the stage and reduction bodies of both passes and
/// what runs after a forward pass.
pub(super) struct Code {
    forward: Staged,
    backward: Staged,
    pub forward_stage: TokenStream,
    pub forward_reduce: TokenStream,
    pub backward_stage: TokenStream,
    pub backward_reduce: TokenStream,
    pub after_forward: TokenStream,
    pub after_backward: TokenStream,
}

impl Code {
    pub fn new(g: &Graph, tables: &Tables, plan: &TrainPlan) -> Self {
        let (forward, backward) = (train_forward(g, tables, plan), train_backward(g, tables, plan));
        let after = after_train_forward(g, tables, plan);
        let after_bwd = after_backward(g, tables, plan);
        let stats_len = lit(plan.stats_len);
        let (fwd_match, fwd_reduce, bwd_match, bwd_reduce) =
            (forward.stage_match(), forward.reduce_match(), backward.stage_match(), backward.reduce_match());
        Code {
            forward_stage: quote! {
                let m = t.m;
                #fwd_match
            },
            forward_reduce: quote! {
                const STATS_LEN: usize = #stats_len;
                #fwd_reduce
            },
            backward_stage: quote! {
                let m = t.m;
                let (input_grad, eval) = (flags.input_grad, flags.eval);
                let acts: &[f32] = &*t.acts;
                let argmax: &[u32] = &*t.argmax;
                #bwd_match
            },
            backward_reduce: quote! {
                const STATS_LEN: usize = #stats_len;
                let (input_grad, eval) = (flags.input_grad, flags.eval);
                #bwd_reduce
            },
            after_forward: quote! {
                let shared: &[f64] = state.train.shared();
                #(#after)*
            },
            after_backward: quote!(#(#after_bwd)*),
            forward,
            backward,
        }
    }

    /// The network's `TrainLayout`: where a step's values, gradients and statistics lie, its
    /// stages, and how many samples a tile takes.
    pub fn layout(&self, tables: &Tables, plan: &TrainPlan, in_len: usize, out_len: usize) -> TokenStream {
        let [in_len, out_len, param_count, acts_len, grad_len, out_at, grad_out_at, grad_in_at, argmax_len, stats_len, shared_len] =
            [
                in_len,
                out_len,
                tables.param_count,
                plan.acts_len,
                plan.grad_len,
                plan.out_at,
                plan.grad_out_at,
                plan.grad_in_at,
                plan.argmax_len,
                plan.stats_len,
                plan.shared_len,
            ]
            .map(lit);
        let (budget, max_tile) = (lit(TRAIN_BUDGET), lit(MAX_TRAIN_TILE_SAMPLES));
        let (fwd_stages, bwd_stages) = (lit(self.forward.stages.len()), lit(self.backward.stages.len()));
        let grad_ranges = self.backward.grad_ranges();
        let (forward_stats, backward_stats) = (self.forward.stats_ranges(), self.backward.stats_ranges());
        quote! {
            ::cnn::__private::TrainLayout {
                in_len: #in_len,
                out_len: #out_len,
                out_at: #out_at,
                acts_len: #acts_len,
                grad_len: #grad_len,
                grad_out_at: #grad_out_at,
                grad_in_at: #grad_in_at,
                argmax_len: #argmax_len,
                scratch_len: TRAIN_SCRATCH,
                // All lanes' tile scratch together stays within the training budget (in one
                // process; a distributed step keeps a lane per unit it holds); bigger
                // tiles give the products of small late layers wider operands.
                max_tile: ::cnn::__private::tile_size(
                    #budget / ::cnn::__private::train_groups(#param_count),
                    ::cnn::__private::max_of(&[TRAIN_SCRATCH, #acts_len]),
                    #max_tile,
                ),
                param_count: #param_count,
                stats_len: #stats_len,
                shared_len: #shared_len,
                forward_stages: #fwd_stages,
                backward_stages: #bwd_stages,
                grad_ranges: #grad_ranges,
                forward_stats: #forward_stats,
                backward_stats: #backward_stats,
            }
        }
    }
}

//! Code generation for a checked network: the struct, its constants, its per-layer geometry
//! types, and its inference and training passes, with every size written as a literal.

use crate::api;
use crate::graph::{self, Graph};
use crate::layers::{lit, Cx, Epi, InitKind, Role, Steps};
use crate::plan::{self, InferPlan, Layout, Tables, TrainPlan};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// Elements of scratch one tile of samples may use; the batch is cut into tiles of as many
/// samples as fit, at most [`MAX_TILE`], so that a tile's im2col matrix stays cache-friendly.
const TILE_BUDGET: usize = 1 << 20;
const MAX_TILE: usize = 64;
/// Scratch elements all lanes of a training step may use together (64 MiB), and the most
/// samples a training tile takes.
const TRAIN_BUDGET: usize = 1 << 24;
const MAX_TRAIN_TILE: usize = 16;

fn region((at, len): (usize, usize)) -> TokenStream {
    let (at, len) = (lit(at), lit(len));
    quote!((#at, #len))
}

/// The summary table: one row an item with its `state_dict` key, text (indented by depth),
/// output and parameters.
fn summary(g: &Graph, tables: &Tables) -> String {
    let (c, h, w) = g.input;
    let mut rows = vec![("".to_string(), g.input_text.clone(), format!("[{c}, {h}, {w}]"), "0".to_string())];
    for row in &g.rows {
        let params: usize = row.nodes.clone().map(|i| tables.node_params(i)).sum();
        rows.push((
            row.key.clone(),
            format!("{}{}", "  ".repeat(row.depth), row.text),
            row.output.to_string(),
            params.to_string(),
        ));
    }
    let total = tables.param_count;
    let head = ("#".to_string(), "layer".to_string(), "output".to_string(), "params".to_string());
    let foot = ("".to_string(), "total".to_string(), "".to_string(), total.to_string());
    let all: Vec<_> = std::iter::once(&head).chain(&rows).chain(std::iter::once(&foot)).collect();
    let w0 = all.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = all.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let w2 = all.iter().map(|r| r.2.len()).max().unwrap_or(0);
    let w3 = all.iter().map(|r| r.3.len()).max().unwrap_or(0);
    all.iter()
        .map(|r| format!("{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}", r.0, r.1, r.2, r.3).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn geom_name(i: usize) -> Ident {
    format_ident!("__G{}", i)
}

/// The context of node `i`'s code, its tensors read from `p` and `bufs`, in a training pass or
/// at inference.
fn cx(g: &Graph, tables: &Tables, train: &TrainPlan, i: usize, training: bool) -> Cx {
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
    }
}

/// `let [g0, g1, ...] = slices_mut(buf, [...]);` for node `i`'s tensors of `role`.
fn bind_tensors(tables: &Tables, i: usize, role: Role, buf: TokenStream, prefix: &str) -> TokenStream {
    bind_ranges(tables, i, role, prefix, |ranges| quote!(::cnn::__private::slices_mut(#buf, #ranges)))
}

/// Binds node `i`'s parameter gradients in a tile's partial, which lends out their ranges alone.
fn bind_grad_partial(tables: &Tables, i: usize) -> TokenStream {
    bind_ranges(tables, i, Role::Param, "g", |ranges| quote!(t.param_grads.slices_mut(#ranges)))
}

/// `let [p0, p1, ..] = take([(start, end), ..]);` over node `i`'s tensors of `role`.
fn bind_ranges(
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

fn identity() -> TokenStream {
    quote!(::cnn::Act::Identity)
}

/// Binds a node's output (`dst`, written) and the inputs it reads (`srcs`, and `src` for the
/// first) in the per-sample regions of `buf`, leaving empty the ones in `skip`: the output's own
/// memory (in place), or parts already written in their place in a concatenation, whose regions
/// lie inside the output's.
fn bind(c: &Cx, buf: TokenStream, out: &TokenStream, ins: &[TokenStream], skip: &[bool]) -> TokenStream {
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

    /// The `grad_ranges` of a `TrainLayout`: each stage's ranges sorted, adjacent ones merged.
    fn grad_ranges(&self) -> TokenStream {
        let stages = self.grad_ranges.iter().map(|ranges| {
            let mut ranges = ranges.clone();
            ranges.sort_unstable();
            let mut merged: Vec<(usize, usize)> = Vec::new();
            for (a, b) in ranges {
                match merged.last_mut() {
                    Some(last) if last.1 == a => last.1 = b,
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
                staged.push(
                    Steps::One(quote! {{
                        let (#dx, [#dy]) = ::cnn::__private::regions(&mut *t.grads, m, #gx, [#gy]);
                        let xs: [&[f32]; #count] = [#(#xs),*];
                        #code
                    }}),
                    (0, 0),
                    |c| c,
                    |c| c,
                );
            }
            continue;
        }
        let din = t.grad_inputs[0].map(|_| t.accumulate[0]);
        let steps = layer.backward(&c, din);
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
                quote! {{
                    let #xn = ::cnn::__private::region(acts, m, #x.0, #x.1);
                    let #yn = ::cnn::__private::region(acts, m, #y.0, #y.1);
                    #grads
                    #bind
                    #code
                }}
            },
            |code| quote!({ #bind_reduce #code }),
        );
    }
    staged
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

fn spec_table(tables: &Tables, role: Role) -> Vec<TokenStream> {
    tables
        .of(role)
        .map(|t| {
            let (name, offset) = (&t.name, lit(t.offset));
            let shape = t.shape.iter().map(|&d| lit(d));
            let init = match t.init {
                InitKind::Uniform(fan_in) => {
                    let f = lit(fan_in);
                    quote!(::cnn::Init::Uniform { fan_in: #f })
                }
                InitKind::Ones => quote!(::cnn::Init::Ones),
                InitKind::Zeros => quote!(::cnn::Init::Zeros),
                InitKind::Const(v) => {
                    let v = crate::layers::lit_f32(v);
                    quote!(::cnn::Init::Const(#v))
                }
            };
            quote! { ::cnn::ParamSpec { name: #name, shape: &[#(#shape),*], offset: #offset, init: #init } }
        })
        .collect()
}

pub fn expand(g: &Graph) -> TokenStream {
    let ident = &g.ident;
    let name = syn::ext::IdentExt::unraw(ident).to_string();
    let vis = &g.vis;
    let attrs = &g.attrs;
    let tables = plan::tables(g);
    let infer = plan::infer_plan(g, Layout::Batched);
    let single = plan::infer_plan(g, Layout::OneSample);
    let kept = plan::infer_plan(g, Layout::KeepAll);
    let train = plan::train_plan(g, &tables);
    let (c, h, w) = g.input;
    let in_len = c * h * w;
    let output = g.output();
    let out_len = output.len();
    let summary = summary(g, &tables);

    let mut geoms = Vec::new();
    let mut flops: u128 = 0;
    // Scratch per sample, as expressions the runtime evaluates at compile time: inference adds
    // room for a folded batch norm's scale and shift.
    let mut work = Vec::new();
    let mut train_work = Vec::new();
    let mut min_batch = 1;
    for (i, node) in g.nodes.iter().enumerate() {
        let l = node.layer();
        let name = geom_name(i);
        let doc = format!("layer `{}` -> {}", node.key, node.output);
        let body = l.geometry(&name, node.input(), node.output);
        geoms.push(quote! {
            #[doc = #doc]
            struct #name;
            #body
        });
        flops += l.flops(node.input(), node.output);
        let s = l.scratch(&cx(g, &tables, &train, i, false));
        let fold = lit(2 * node.output.dims()[0]);
        work.push(quote!(#s + #fold));
        train_work.push(s);
        min_batch = min_batch.max(l.min_train_batch(node.input()));
    }
    let flops = u64::try_from(flops).unwrap_or(u64::MAX);
    // A tile's code: one-sample tiles write a concatenation's parts in their place in it, wider
    // ones copy them in; the two give the same numbers.
    let (in_len_lit, out_len_lit) = (lit(c * h * w), lit(output.len()));
    let tile_code = |plan: &InferPlan| {
        let steps = inference(g, &tables, &train, plan);
        let (arena, input_at, output_at) = (lit(plan.arena), lit(plan.input_at), lit(plan.output_at));
        quote! {
            let (arena, work) = scratch.split_at_mut(n * #arena);
            ::cnn::__private::region_mut(arena, n, #input_at, #in_len_lit).copy_from_slice(x);
            #(#steps)*
            y.copy_from_slice(::cnn::__private::region(arena, n, #output_at, #out_len_lit));
        }
    };
    let batched_code = tile_code(&infer);
    let forward_body = if single.steps.iter().any(|s| s.placed.iter().any(|&p| p)) {
        let single_code = tile_code(&single);
        quote!(if n == 1 { #single_code } else { #batched_code })
    } else {
        batched_code
    };
    // Every layer's output, unfused and kept, under its key: what `activations` returns.
    let kept_steps = inference(g, &tables, &train, &kept);
    // Each module's output once, as forward hooks see it, in the order they fire: a node's
    // own, then each block that ends with it (inner first: a `seq`'s or a `shortcut`'s output
    // is its last node's). A key that several share (a `_` block's merge and the module it
    // ends) names the last of them.
    let mut hooks: Vec<(&str, usize)> = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        if node.hooked {
            hooks.push((&node.key, i));
        }
        let mut ending: Vec<&graph::Row> =
            g.rows.iter().filter(|r| !r.key.is_empty() && !r.nodes.is_empty() && r.nodes.end == i + 1).collect();
        ending.sort_by_key(|r| std::cmp::Reverse(r.depth));
        hooks.extend(ending.into_iter().map(|r| (r.key.as_str(), i)));
    }
    let kept_values: Vec<TokenStream> = hooks
        .iter()
        .enumerate()
        .filter(|&(h, &(key, _))| !hooks[h + 1..].iter().any(|later| later.0 == key))
        .map(|(_, &(key, i))| {
            let dims = g.nodes[i].output.dims().into_iter().map(lit);
            let (at, len) = kept.values[i + 1];
            let (at, len) = (lit(at), lit(len));
            quote! {
                (#key, ::cnn::Tensor { shape: ::std::vec![#(#dims),*], data: ::cnn::__private::region(arena, n, #at, #len).to_vec() })
            }
        })
        .collect();
    let (kept_arena, kept_input_at) = (lit(kept.arena), lit(kept.input_at));
    let whole_batch = g.nodes.iter().any(|n| n.layer().batch_statistics_in_eval());
    let (budget, max_tile, max_train_tile, train_budget) =
        (lit(TILE_BUDGET), lit(MAX_TILE), lit(MAX_TRAIN_TILE), lit(TRAIN_BUDGET));
    let infer_arena = lit(infer.arena.max(single.arena));
    let scratch_len = quote!(#infer_arena + ::cnn::__private::max_of(&[#(#work),*]));
    let train_scratch = quote!(::cnn::__private::max_of(&[1, #(#train_work),*]));
    let fwd = train_forward(g, &tables, &train);
    let bwd = train_backward(g, &tables, &train);
    let after = after_train_forward(g, &tables, &train);
    let (fwd_stages, bwd_stages) = (lit(fwd.stages.len()), lit(bwd.stages.len()));
    let grad_ranges = bwd.grad_ranges();
    let (forward_stats, backward_stats) = (fwd.stats_ranges(), bwd.stats_ranges());
    let (fwd_match, fwd_reduce, bwd_match, bwd_reduce) =
        (fwd.stage_match(), fwd.reduce_match(), bwd.stage_match(), bwd.reduce_match());

    let params = spec_table(&tables, Role::Param);
    let buffers = spec_table(&tables, Role::Buffer);
    let counters: Vec<String> = tables.of(Role::Counter).map(|t| t.name.clone()).collect();
    let struct_doc = format!(
        "\n\n# Layers\n\n```text\n{summary}\n```\n\nGenerated by `cnn!`: input `[{c}, {h}, {w}]`, output `{output}`, {} parameters.",
        tables.param_count
    );
    let [in_len_l, out_len_l, param_count_l] = [in_len, out_len, tables.param_count].map(lit);
    let [acts_len, grad_len, out_at, grad_out_at, argmax_len, stats_len, shared_len] = [
        train.acts_len,
        train.grad_len,
        train.out_at,
        train.grad_out_at,
        train.argmax_len,
        train.stats_len,
        train.shared_len,
    ]
    .map(lit);
    let tiling = quote! {
        ::cnn::__private::Tiling {
            in_len: #in_len_l,
            out_len: #out_len_l,
            scratch_len: SCRATCH,
            max_tile: ::cnn::__private::tile_size(#budget, SCRATCH, #max_tile),
            whole_batch: #whole_batch,
        }
    };
    let train_layout = quote! {
        ::cnn::__private::TrainLayout {
            in_len: #in_len_l,
            out_len: #out_len_l,
            out_at: #out_at,
            acts_len: #acts_len,
            grad_len: #grad_len,
            grad_out_at: #grad_out_at,
            argmax_len: #argmax_len,
            scratch_len: TRAIN_SCRATCH,
            // All lanes' tile scratch together stays within the training budget (in one
            // process; a distributed step keeps a lane per unit it holds); bigger
            // tiles give the products of small late layers wider operands.
            max_tile: ::cnn::__private::tile_size(
                #train_budget / ::cnn::__private::train_groups(#param_count_l),
                ::cnn::__private::max_of(&[TRAIN_SCRATCH, #acts_len]),
                #max_train_tile,
            ),
            param_count: #param_count_l,
            stats_len: #stats_len,
            shared_len: #shared_len,
            forward_stages: #fwd_stages,
            backward_stages: #bwd_stages,
            grad_ranges: #grad_ranges,
            forward_stats: #forward_stats,
            backward_stats: #backward_stats,
        }
    };
    let real = api::Real {
        input_shape: [c, h, w],
        out_shape: output.dims(),
        classes: match output {
            crate::shape::Shape::Chw(k, ..) => k,
            other => other.len(),
        },
        pixels: match output {
            crate::shape::Shape::Chw(_, h, w) => h * w,
            _ => 1,
        },
        param_count: tables.param_count,
        buffer_count: tables.buffer_count,
        layer_count: g.nodes.len(),
        flops,
        min_batch,
        summary,
        params,
        buffers,
        counters,
        tiling,
        train_layout,
        forward_tile: quote! {
            let p = &state.params;
            let bufs: &[f32] = &state.buffers[..];
            #forward_body
        },
        activations: quote! {
            let n = 1usize;
            let mut scratch = ::std::vec![0.0f32; KEPT_SCRATCH];
            let p = &state.params;
            let bufs: &[f32] = &state.buffers[..];
            let (arena, work) = scratch.split_at_mut(#kept_arena);
            ::cnn::__private::region_mut(arena, n, #kept_input_at, #in_len_l).copy_from_slice(x);
            #(#kept_steps)*
            ::std::vec![#(#kept_values),*]
        },
        after_train_forward: quote! {
            let shared: &[f64] = state.train.shared();
            #(#after)*
        },
        train_forward_stage: quote! {
            let m = t.m;
            #fwd_match
        },
        train_forward_reduce: quote! {
            const STATS_LEN: usize = #stats_len;
            #fwd_reduce
        },
        train_backward_stage: quote! {
            let m = t.m;
            let acts: &[f32] = &*t.acts;
            let argmax: &[u32] = &*t.argmax;
            #bwd_match
        },
        train_backward_reduce: quote! {
            const STATS_LEN: usize = #stats_len;
            #bwd_reduce
        },
    };
    let api = api::Api { vis, net: ident, name, real: Some(&real), stub_io: (None, None) };
    let outside = api.types_outside(attrs, &struct_doc);
    let impls = api.impls();
    quote! {
        #outside

        const _: () = {
            #(#geoms)*
            const SCRATCH: usize = #scratch_len;
            const KEPT_SCRATCH: usize = #kept_arena + ::cnn::__private::max_of(&[#(#work),*]);
            const TRAIN_SCRATCH: usize = #train_scratch;
            #impls
        };
    }
}

/// What a network with errors expands to beside its `compile_error!`s: a struct of its name with
/// every generated item, typed so that code using the network adds no errors of its own to the
/// real ones: its samples are the arrays the network would take and give where their sizes are
/// known in spite of the errors (`in_len`, `out_len`); otherwise an input is generic and an
/// output an empty array (indexing, iterating, printing it need no annotation). It is never
/// run: the crate does not compile.
pub fn stub(
    vis: &syn::Visibility,
    ident: &proc_macro2::Ident,
    in_len: Option<usize>,
    out_len: Option<usize>,
) -> TokenStream {
    let name = syn::ext::IdentExt::unraw(ident).to_string();
    let api = api::Api { vis, net: ident, name, real: None, stub_io: (in_len, out_len) };
    let outside = api.types_outside(&[], "");
    let impls = api.impls();
    quote! {
        #outside

        const _: () = {
            #impls
        };
    }
}

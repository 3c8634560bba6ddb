//! Code generation for a checked network: the struct, its constants, its per-layer geometry
//! types and its forward pass, all with the sizes written as literals.

use crate::check::{Plan, PlannedOp};
use crate::shape::Shape;
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// Elements of scratch one tile of samples may use; the batch is cut into tiles of as many
/// samples as fit, at most [`MAX_TILE`], so that a tile's im2col matrix stays cache-friendly.
const TILE_BUDGET: usize = 1 << 20;
const MAX_TILE: usize = 64;
const MAX_TRAIN_TILE: usize = 8;

fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// One parameter tensor: its name, shape, offset and fan-in.
struct Tensor {
    name: String,
    shape: Vec<usize>,
    offset: usize,
    fan_in: usize,
}

impl Tensor {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Weight and bias of each layer that has them, in `state_dict` order.
fn tensors(plan: &Plan) -> Vec<Vec<Tensor>> {
    let mut offset = 0;
    let mut push = |name: String, shape: Vec<usize>, fan_in: usize| {
        let t = Tensor { name, shape, offset, fan_in };
        offset += t.len();
        t
    };
    plan.layers
        .iter()
        .map(|l| match l.op {
            PlannedOp::Conv { c_in, c_out, k, .. } => {
                let fan_in = c_in * k.0 * k.1;
                vec![
                    push(format!("{}.weight", l.key), vec![c_out, c_in, k.0, k.1], fan_in),
                    push(format!("{}.bias", l.key), vec![c_out], fan_in),
                ]
            }
            PlannedOp::Linear { f_in, f_out } => vec![
                push(format!("{}.weight", l.key), vec![f_out, f_in], f_in),
                push(format!("{}.bias", l.key), vec![f_out], f_in),
            ],
            _ => Vec::new(),
        })
        .collect()
}

/// The summary table: one row a layer with its `state_dict` key, text, output and parameters.
fn summary(plan: &Plan, tensors: &[Vec<Tensor>]) -> String {
    let (c, h, w) = plan.input;
    let mut rows = vec![("".to_string(), plan.input_text.clone(), format!("[{c}, {h}, {w}]"), "0".to_string())];
    for (l, t) in plan.layers.iter().zip(tensors) {
        let params: usize = t.iter().map(Tensor::len).sum();
        rows.push((l.key.clone(), l.text.clone(), l.output.to_string(), params.to_string()));
    }
    let total: usize = tensors.iter().flatten().map(Tensor::len).sum();
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

/// Which buffer holds the current activation in the generated forward pass.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Buf {
    Input,
    A,
    B,
}

impl Buf {
    fn next(self) -> Buf {
        if self == Buf::A {
            Buf::B
        } else {
            Buf::A
        }
    }
    /// The gradient buffer standing for this one in the backward pass.
    fn ident_grad(self) -> proc_macro2::Ident {
        format_ident!("{}", if self == Buf::A { "ga" } else { "gb" })
    }

    fn ident(self) -> proc_macro2::Ident {
        format_ident!("{}", match self {
            Buf::Input => "x",
            Buf::A => "a",
            Buf::B => "b",
        })
    }
}


/// Where one layer reads and writes in the training activations: per-sample offsets and lengths
/// of its input and output regions, and of its argmax region for a pool.
struct Regions {
    input: (usize, usize),
    output: (usize, usize),
    argmax: (usize, usize),
}

/// The training forward and backward tile bodies, and the per-sample sizes of the activations
/// and argmax buffers. Every layer that computes something gets its own activation region,
/// because backward reads them all; a ReLU works in place on its input's region (its output is
/// all its backward needs), except on the network input, which it copies first.
fn training(plan: &Plan, tensors: &[Vec<Tensor>], geom_mod: &proc_macro2::Ident) -> (Vec<TokenStream>, Vec<TokenStream>, usize, usize) {
    let (c, h, w) = plan.input;
    let mut acts_len = c * h * w;
    let mut argmax_len = 0;
    let mut cur = (0, acts_len);
    let mut regions = Vec::new();
    for (i, layer) in plan.layers.iter().enumerate() {
        let absorbed = relu_absorbed(plan, i);
        let input = cur;
        let mut argmax = (0, 0);
        let own = match layer.op {
            PlannedOp::Conv { .. } | PlannedOp::Linear { .. } => true,
            PlannedOp::Pool { .. } => {
                argmax = (argmax_len, layer.output.len());
                argmax_len += layer.output.len();
                true
            }
            PlannedOp::Relu => !absorbed && input.0 == 0,
            PlannedOp::Flatten => false,
        };
        if own {
            cur = (acts_len, layer.output.len());
            acts_len += layer.output.len();
        }
        regions.push(Regions { input, output: cur, argmax });
    }

    let mut forward = Vec::new();
    let mut backward = Vec::new();
    let mut grad = Buf::A;
    for (i, (layer, t)) in plan.layers.iter().zip(tensors).enumerate().rev() {
        let r = &regions[i];
        let g = format_ident!("L{}", i);
        let fused = fuses_next_relu(plan, i);
        let absorbed = relu_absorbed(plan, i);
        let [io, il, oo, ol, ao, al] = [r.input.0, r.input.1, r.output.0, r.output.1, r.argmax.0, r.argmax.1].map(lit);
        let (cur, next) = (grad.ident_grad(), grad.next().ident_grad());
        let first = r.input.0 == 0;
        let grad_input = if first { quote!(::core::option::Option::None) } else { quote!(::core::option::Option::Some(&mut #next[..m * #il])) };
        let stop = if first { quote!(return;) } else { quote!() };
        match layer.op {
            PlannedOp::Conv { .. } | PlannedOp::Linear { .. } => {
                let (w0, w1, b0, b1) = param_ranges(t);
                let (fwd, bwd) = if matches!(layer.op, PlannedOp::Conv { .. }) {
                    (
                        quote!(::cnn::conv2d_forward::<#geom_mod::#g>(m, src, &p[#w0..#w1], &p[#b0..#b1], dst, scratch, #fused);),
                        quote!(::cnn::conv2d_backward::<#geom_mod::#g>(m, ::cnn::train::region(acts, m, #io, #il), ::cnn::train::region(acts, m, #oo, #ol), &p[#w0..#w1], &mut #cur[..m * #ol], #grad_input, grad_w, grad_b, work, #fused);),
                    )
                } else {
                    (
                        quote!(::cnn::linear_forward::<#geom_mod::#g>(m, src, &p[#w0..#w1], &p[#b0..#b1], dst, #fused);),
                        quote!(::cnn::linear_backward::<#geom_mod::#g>(m, ::cnn::train::region(acts, m, #io, #il), ::cnn::train::region(acts, m, #oo, #ol), &p[#w0..#w1], &mut #cur[..m * #ol], #grad_input, grad_w, grad_b, #fused);),
                    )
                };
                forward.push(quote! {{
                    let (src, dst) = ::cnn::train::split_regions(acts, m, #io, #il, #oo, #ol);
                    #fwd
                }});
                backward.push(quote! {{
                    let (lo, hi) = grads.split_at_mut(#b0);
                    let (grad_w, grad_b) = (&mut lo[#w0..#w1], &mut hi[..#b1 - #b0]);
                    #bwd
                    #stop
                }});
                grad = grad.next();
            }
            PlannedOp::Pool { .. } => {
                forward.push(quote! {{
                    let (src, dst) = ::cnn::train::split_regions(acts, m, #io, #il, #oo, #ol);
                    ::cnn::max_pool2d_forward_argmax::<#geom_mod::#g>(m, src, dst, ::cnn::train::region_mut(argmax, m, #ao, #al));
                }});
                if first {
                    backward.push(quote!(return;));
                } else {
                    backward.push(quote! {
                        ::cnn::max_pool2d_backward::<#geom_mod::#g>(m, &#cur[..m * #ol], ::cnn::train::region(argmax, m, #ao, #al), &mut #next[..m * #il]);
                    });
                    grad = grad.next();
                }
            }
            PlannedOp::Relu if !absorbed => {
                if r.input.0 == r.output.0 {
                    forward.push(quote!(::cnn::relu_in_place(::cnn::train::region_mut(acts, m, #oo, #ol));));
                } else {
                    forward.push(quote! {{
                        let (src, dst) = ::cnn::train::split_regions(acts, m, #io, #il, #oo, #ol);
                        dst.copy_from_slice(src);
                        ::cnn::relu_in_place(dst);
                    }});
                }
                backward.push(quote! {
                    ::cnn::relu_backward(::cnn::train::region(acts, m, #oo, #ol), &mut #cur[..m * #ol]);
                    #stop
                });
            }
            PlannedOp::Relu | PlannedOp::Flatten => {}
        }
    }
    forward.reverse();
    let (last, out_len) = (lit(regions.last().map_or(0, |r| r.output.0)), lit(plan.output().len()));
    let in_len = lit(c * h * w);
    forward.insert(0, quote!(::cnn::train::region_mut(acts, m, 0, #in_len).copy_from_slice(x);));
    forward.push(quote!(y.copy_from_slice(::cnn::train::region(acts, m, #last, #out_len));));
    (forward, backward, acts_len, argmax_len)
}

fn fuses_relu(op: PlannedOp) -> bool {
    matches!(op, PlannedOp::Conv { .. } | PlannedOp::Linear { .. })
}

/// Whether layer `i` applies the ReLU that follows it itself, in the same pass.
fn fuses_next_relu(plan: &Plan, i: usize) -> bool {
    fuses_relu(plan.layers[i].op) && matches!(plan.layers.get(i + 1).map(|l| l.op), Some(PlannedOp::Relu))
}

/// Whether layer `i` is a ReLU that the layer before it already applied.
fn relu_absorbed(plan: &Plan, i: usize) -> bool {
    i > 0 && plan.layers[i].op == PlannedOp::Relu && fuses_next_relu(plan, i - 1)
}

/// The weight and bias ranges of a conv or linear layer in the flat parameters:
/// `(weight start, weight end, bias start, bias end)`.
fn param_ranges(t: &[Tensor]) -> (Literal, Literal, Literal, Literal) {
    (lit(t[0].offset), lit(t[0].offset + t[0].len()), lit(t[1].offset), lit(t[1].offset + t[1].len()))
}

pub fn expand(plan: &Plan) -> TokenStream {
    let ident = &plan.ident;
    let vis = &plan.vis;
    let attrs = &plan.attrs;
    let geom_mod = format_ident!("__cnn_{}", ident);
    let tensors = tensors(plan);
    let param_count: usize = tensors.iter().flatten().map(Tensor::len).sum();
    let (c, h, w) = plan.input;
    let in_len = c * h * w;
    let output = plan.output();
    let out_len = output.len();
    let summary = summary(plan, &tensors);

    // Geometry types and the forward steps, layer by layer.
    let mut geoms = Vec::new();
    let mut steps = Vec::new();
    let mut max_act = in_len;
    let mut max_conv_scratch = 0;
    let mut flops: u64 = 0;
    let mut cur = Buf::Input;
    for (i, (layer, t)) in plan.layers.iter().zip(&tensors).enumerate() {
        max_act = max_act.max(layer.output.len());
        let fuse_relu = fuses_next_relu(plan, i);
        let g = format_ident!("L{}", i);
        let doc = format!("layer `{}`: {} -> {}", layer.key, layer.text, layer.output);
        let src = cur.ident();
        let (in_n, out_n) = (lit(layer.input.len()), lit(layer.output.len()));
        match layer.op {
            PlannedOp::Conv { c_in, c_out, k, s, p } => {
                let Shape::Chw(_, hi, wi) = layer.input else { continue };
                let Shape::Chw(_, ho, wo) = layer.output else { continue };
                max_conv_scratch = max_conv_scratch.max(c_in * k.0 * k.1 * ho * wo + c_out * ho * wo);
                flops += 2 * (c_out * c_in * k.0 * k.1 * ho * wo) as u64;
                let [c_in, c_out, hi, wi, kh, kw, sh, sw, ph, pw] = [c_in, c_out, hi, wi, k.0, k.1, s.0, s.1, p.0, p.1].map(lit);
                geoms.push(quote! {
                    #[doc = #doc]
                    pub struct #g;
                    impl ::cnn::Conv2dGeom for #g {
                        const SPEC: ::cnn::Conv2dSpec = ::cnn::Conv2dSpec {
                            c_in: #c_in, c_out: #c_out, h_in: #hi, w_in: #wi, kh: #kh, kw: #kw, sh: #sh, sw: #sw, ph: #ph, pw: #pw,
                        };
                    }
                });
                let dst = cur.next().ident();
                let (w0, w1, b0, b1) = param_ranges(t);
                steps.push(quote! {
                    ::cnn::conv2d_forward::<#geom_mod::#g>(n, &#src[..n * #in_n], &p[#w0..#w1], &p[#b0..#b1], &mut #dst[..n * #out_n], work, #fuse_relu);
                });
                cur = cur.next();
            }
            PlannedOp::Linear { f_in, f_out } => {
                flops += 2 * (f_in * f_out) as u64;
                let (fi, fo) = (lit(f_in), lit(f_out));
                geoms.push(quote! {
                    #[doc = #doc]
                    pub struct #g;
                    impl ::cnn::LinearGeom for #g {
                        const SPEC: ::cnn::LinearSpec = ::cnn::LinearSpec { in_features: #fi, out_features: #fo };
                    }
                });
                let dst = cur.next().ident();
                let (w0, w1, b0, b1) = param_ranges(t);
                steps.push(quote! {
                    ::cnn::linear_forward::<#geom_mod::#g>(n, &#src[..n * #in_n], &p[#w0..#w1], &p[#b0..#b1], &mut #dst[..n * #out_n], #fuse_relu);
                });
                cur = cur.next();
            }
            PlannedOp::Pool { k, s } => {
                let Shape::Chw(ch, hi, wi) = layer.input else { continue };
                let [ch, hi, wi, kh, kw, sh, sw] = [ch, hi, wi, k.0, k.1, s.0, s.1].map(lit);
                geoms.push(quote! {
                    #[doc = #doc]
                    pub struct #g;
                    impl ::cnn::Pool2dGeom for #g {
                        const SPEC: ::cnn::Pool2dSpec = ::cnn::Pool2dSpec { c: #ch, h_in: #hi, w_in: #wi, kh: #kh, kw: #kw, sh: #sh, sw: #sw };
                    }
                });
                let dst = cur.next().ident();
                steps.push(quote! {
                    ::cnn::max_pool2d_forward::<#geom_mod::#g>(n, &#src[..n * #in_n], &mut #dst[..n * #out_n]);
                });
                cur = cur.next();
            }
            PlannedOp::Relu if !relu_absorbed(plan, i) => {
                if cur == Buf::Input {
                    steps.push(quote! { a[..n * #in_n].copy_from_slice(&x[..n * #in_n]); });
                    cur = Buf::A;
                }
                let at = cur.ident();
                steps.push(quote! { ::cnn::relu_in_place(&mut #at[..n * #out_n]); });
            }
            PlannedOp::Relu => {}
            PlannedOp::Flatten => {}
        }
    }
    let last = cur.ident();
    let out_lit = lit(out_len);
    steps.push(quote! { y.copy_from_slice(&#last[..n * #out_lit]); });

    let scratch_len = 2 * max_act + max_conv_scratch;
    let max_tile = (TILE_BUDGET / scratch_len.max(1)).clamp(1, MAX_TILE);
    // Training tiles stay small enough that a batch of 64 still has a tile per group.
    let train_tile = (TILE_BUDGET / scratch_len.max(1)).clamp(1, MAX_TRAIN_TILE);
    let (train_forward, train_backward, acts_len, argmax_len) = training(plan, &tensors, &geom_mod);
    let grads_ident = format_ident!("{}Grads", ident);
    let grads_doc = format!("Parameter gradients of [`{ident}`], with the same `state_dict` names and layout as its parameters.");

    let specs = tensors.iter().flatten().map(|t| {
        let (name, offset, fan_in) = (&t.name, lit(t.offset), lit(t.fan_in));
        let shape = t.shape.iter().map(|&d| lit(d));
        quote! { ::cnn::ParamSpec { name: #name, shape: &[#(#shape),*], offset: #offset, fan_in: #fan_in } }
    });

    let [in_len, out_len, param_count, max_act, scratch_len, max_tile, train_tile, acts_len, argmax_len, c, h, w] =
        [in_len, out_len, param_count, max_act, scratch_len, max_tile, train_tile, acts_len, argmax_len, c, h, w].map(lit);
    let out_shape = output.dims().into_iter().map(lit);
    let struct_doc = format!(
        "\n\n# Layers\n\n```text\n{summary}\n```\n\nGenerated by `cnn!`: input `[{c}, {h}, {w}]`, output `{output}`, {param_count} parameters."
    );
    let in_ty = quote! { [f32; #in_len] };
    let out_ty = quote! { [f32; #out_len] };

    quote! {
        #(#attrs)*
        #[doc = #struct_doc]
        #vis struct #ident {
            params: ::std::boxed::Box<[f32; #param_count]>,
            train: ::cnn::TrainBuffers,
        }

        #[doc = #grads_doc]
        #vis struct #grads_ident {
            params: ::std::boxed::Box<[f32; #param_count]>,
        }

        #[allow(dead_code)]
        impl #grads_ident {
            /// All gradients zero.
            pub fn new() -> Self {
                Self { params: ::cnn::params::zeroed_array::<#param_count>() }
            }

            /// The gradient tensors, in `state_dict` order.
            pub fn params(&self) -> impl ::core::iter::ExactSizeIterator<Item = ::cnn::Param<'_>> + '_ {
                ::cnn::params::params(#ident::PARAMS, &self.params[..])
            }

            /// The gradient of the parameter with this `state_dict` name, such as `"0.weight"`.
            pub fn param(&self, name: &str) -> ::core::option::Option<::cnn::Param<'_>> {
                let spec = ::cnn::params::find(#ident::PARAMS, name)?;
                ::core::option::Option::Some(::cnn::Param { name: spec.name, shape: spec.shape, data: &self.params[spec.range()] })
            }

            /// Every gradient in one array, in the order of the network's `flat_params`.
            pub fn flat(&self) -> &[f32; #param_count] {
                &self.params
            }

            /// Every gradient in one array, mutably (to clip or scale them, say).
            pub fn flat_mut(&mut self) -> &mut [f32; #param_count] {
                &mut self.params
            }
        }

        impl ::core::default::Default for #grads_ident {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::core::clone::Clone for #grads_ident {
            fn clone(&self) -> Self {
                let mut params = ::cnn::params::zeroed_array::<#param_count>();
                params.copy_from_slice(&self.params[..]);
                Self { params }
            }
        }

        impl ::core::fmt::Debug for #grads_ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#grads_ident)).field("params", &#ident::PARAM_COUNT).finish_non_exhaustive()
            }
        }

        #[doc(hidden)]
        #[allow(non_snake_case, non_camel_case_types, dead_code)]
        mod #geom_mod {
            #(#geoms)*
        }

        #[allow(dead_code)]
        impl #ident {
            /// Shape of one input sample, `[channels, height, width]`.
            pub const INPUT_SHAPE: [usize; 3] = [#c, #h, #w];
            /// Elements in one input sample.
            pub const INPUT_LEN: usize = #in_len;
            /// Shape of one output sample.
            pub const OUTPUT_SHAPE: &'static [usize] = &[#(#out_shape),*];
            /// Elements in one output sample.
            pub const OUTPUT_LEN: usize = #out_len;
            /// Number of parameters (weights and biases).
            pub const PARAM_COUNT: usize = #param_count;
            /// Floating-point operations of one sample's forward pass, counting a multiply-add
            /// of a conv or linear layer as two (pools and activations are not counted).
            pub const FORWARD_FLOPS: u64 = #flops;
            /// One row a layer: `state_dict` key, layer as written, output shape, parameters.
            pub const SUMMARY: &'static str = #summary;
            /// The parameter tensors in PyTorch `state_dict` order, with names, shapes and places
            /// in [`Self::flat_params`].
            pub const PARAMS: &'static [::cnn::ParamSpec] = &[#(#specs),*];

            const TILING: ::cnn::Tiling = ::cnn::Tiling {
                in_len: #in_len,
                out_len: #out_len,
                scratch_len: #scratch_len,
                max_tile: #max_tile,
            };

            /// A network initialised as PyTorch initialises its layers (weights
            /// kaiming-uniform with `a = sqrt(5)`, biases uniform in `±1/sqrt(fan_in)`), from
            /// a deterministic generator seeded with `seed`.
            pub fn new(seed: u64) -> Self {
                let mut params = ::cnn::params::zeroed_array::<#param_count>();
                ::cnn::init_default(Self::PARAMS, &mut params[..], seed);
                Self { params, train: ::cnn::TrainBuffers::new() }
            }

            /// Runs one sample through the network.
            pub fn forward(&self, x: &#in_ty) -> #out_ty {
                let mut y = [0.0f32; #out_len];
                ::cnn::with_thread_workspace(|ws| {
                    self.forward_batch_into(::core::slice::from_ref(x), ::core::slice::from_mut(&mut y), ws)
                });
                y
            }

            /// Runs a batch, split across rayon's threads; each output equals
            /// [`Self::forward`] of its input, bit for bit.
            pub fn forward_batch(&self, xs: &[#in_ty]) -> ::std::vec::Vec<#out_ty> {
                let mut ys = ::std::vec![[0.0f32; #out_len]; xs.len()];
                ::cnn::with_thread_workspace(|ws| self.forward_batch_into(xs, &mut ys, ws));
                ys
            }

            /// Runs a batch into `ys`, using `ws` for scratch memory, without allocating once
            /// `ws` and the threads' packing buffers have served a batch this large.
            ///
            /// Called from outside rayon's pool, rayon's job queue still allocates a small
            /// block about once every 64 calls; run inside the pool (`pool.install(...)`) for
            /// no allocation at all.
            ///
            /// # Panics
            /// If `xs` and `ys` differ in length.
            #[track_caller]
            pub fn forward_batch_into(&self, xs: &[#in_ty], ys: &mut [#out_ty], ws: &mut ::cnn::Workspace) {
                ::cnn::for_each_tile(ws, Self::TILING, xs.as_flattened(), ys.as_flattened_mut(), |n, x, y, scratch| {
                    self.forward_tile(n, x, y, scratch)
                });
            }

            #[allow(unused_variables)]
            fn forward_tile(&self, n: usize, x: &[f32], y: &mut [f32], scratch: &mut [f32]) {
                let p: &[f32] = &self.params[..];
                let (a, rest) = scratch.split_at_mut(n * #max_act);
                let (b, work) = rest.split_at_mut(n * #max_act);
                #(#steps)*
            }

            const TRAIN_LAYOUT: ::cnn::TrainLayout = ::cnn::TrainLayout {
                in_len: #in_len,
                out_len: #out_len,
                acts_len: #acts_len,
                argmax_len: #argmax_len,
                scratch_len: #scratch_len,
                max_tile: #train_tile,
                param_count: #param_count,
            };

            /// One training step: forward, mean softmax cross-entropy against `labels` (class
            /// indices, as `nn.CrossEntropyLoss()`), backward, and one `opt` update. Returns
            /// the loss before the update. Gradients are bit-identical whatever the number of
            /// threads, and after the first step of a batch size the step allocates nothing.
            ///
            /// A NaN or infinite loss is returned as it is, with the parameters left unchanged.
            ///
            /// # Panics
            /// If `labels.len() != xs.len()` or a label is not below `OUTPUT_LEN`, with both
            /// numbers in the message; [`Self::try_train_step`] returns these as errors instead.
            #[track_caller]
            pub fn train_step<O: ::cnn::Optimizer + ?Sized>(&mut self, xs: &[#in_ty], labels: &[usize], opt: &mut O) -> f32 {
                match self.try_train_step(xs, labels, opt) {
                    ::core::result::Result::Ok(loss) => loss,
                    ::core::result::Result::Err(::cnn::TrainError::NonFiniteLoss { loss }) => loss,
                    ::core::result::Result::Err(e) => ::core::panic!("train_step: {}", e),
                }
            }

            /// [`Self::train_step`], with bad labels and a non-finite loss returned as errors
            /// (the parameters are unchanged after any error).
            pub fn try_train_step<O: ::cnn::Optimizer + ?Sized>(&mut self, xs: &[#in_ty], labels: &[usize], opt: &mut O) -> ::core::result::Result<f32, ::cnn::TrainError> {
                if labels.len() != xs.len() {
                    return ::core::result::Result::Err(::cnn::TrainError::LabelCount { labels: labels.len(), batch: xs.len() });
                }
                self.forward_train(xs);
                let p: &[f32] = &self.params[..];
                let loss = self.train.cross_entropy_backward(Self::TRAIN_LAYOUT, labels, |m, acts, argmax, g, scratch, grads| {
                    Self::backward_tile(p, m, acts, argmax, g, scratch, grads)
                })?;
                opt.step(&mut self.params[..], self.train.grads());
                ::core::result::Result::Ok(loss)
            }

            /// The forward pass for training: runs the batch and keeps what
            /// [`Self::backward`] needs. Returns the outputs (logits), one row a sample.
            pub fn forward_train(&mut self, xs: &[#in_ty]) -> &[#out_ty] {
                let p: &[f32] = &self.params[..];
                self.train.forward(Self::TRAIN_LAYOUT, xs.as_flattened(), |tile| Self::forward_train_tile(p, tile));
                self.train.outputs().as_chunks::<#out_len>().0
            }

            /// The backward pass of the last [`Self::forward_train`]: from the loss gradient
            /// with respect to its outputs, writes every parameter gradient to `grads`
            /// (overwriting, not accumulating).
            ///
            /// # Panics
            /// If no training forward pass came first, or `grad_output` has another batch size.
            #[track_caller]
            pub fn backward(&mut self, grad_output: &[#out_ty], grads: &mut #grads_ident) {
                let p: &[f32] = &self.params[..];
                self.train.backward(Self::TRAIN_LAYOUT, grad_output.as_flattened(), &mut grads.params[..], |m, acts, argmax, g, scratch, grads| {
                    Self::backward_tile(p, m, acts, argmax, g, scratch, grads)
                });
            }

            /// One optimizer update with `grads`.
            pub fn apply_gradients<O: ::cnn::Optimizer + ?Sized>(&mut self, opt: &mut O, grads: &#grads_ident) {
                opt.step(&mut self.params[..], &grads.params[..]);
            }

            #[allow(unused_variables)]
            fn forward_train_tile(p: &[f32], (m, x, acts, argmax, scratch, y): ::cnn::train::ForwardTile<'_>) {
                #(#train_forward)*
            }

            #[allow(unused_variables, unreachable_code, clippy::needless_return)]
            fn backward_tile(p: &[f32], m: usize, acts: &[f32], argmax: &[u32], g: &[f32], scratch: &mut [f32], grads: &mut [f32]) {
                let (ga, rest) = scratch.split_at_mut(m * #max_act);
                let (gb, work) = rest.split_at_mut(m * #max_act);
                ga[..m * #out_len].copy_from_slice(g);
                #(#train_backward)*
            }

            /// The parameter tensors, in `state_dict` order.
            pub fn params(&self) -> impl ::core::iter::ExactSizeIterator<Item = ::cnn::Param<'_>> + '_ {
                ::cnn::params::params(Self::PARAMS, &self.params[..])
            }

            /// The parameter tensors, mutably, in `state_dict` order.
            pub fn params_mut(&mut self) -> ::cnn::ParamsMut<'_> {
                ::cnn::params::params_mut(Self::PARAMS, &mut self.params[..])
            }

            /// The tensor with this `state_dict` name, such as `"0.weight"`.
            pub fn param(&self, name: &str) -> ::core::option::Option<::cnn::Param<'_>> {
                let spec = ::cnn::params::find(Self::PARAMS, name)?;
                ::core::option::Option::Some(::cnn::Param { name: spec.name, shape: spec.shape, data: &self.params[spec.range()] })
            }

            /// The tensor with this `state_dict` name, mutably.
            pub fn param_mut(&mut self, name: &str) -> ::core::option::Option<::cnn::ParamMut<'_>> {
                let spec = ::cnn::params::find(Self::PARAMS, name)?;
                ::core::option::Option::Some(::cnn::ParamMut { name: spec.name, shape: spec.shape, data: &mut self.params[spec.range()] })
            }

            /// Every parameter in one array, tensor after tensor in `state_dict` order.
            pub fn flat_params(&self) -> &[f32; #param_count] {
                &self.params
            }

            /// Every parameter in one array, mutably.
            pub fn flat_params_mut(&mut self) -> &mut [f32; #param_count] {
                &mut self.params
            }

            /// Loads a safetensors file with PyTorch `state_dict` names, as
            /// `load_state_dict(strict=True)` would: on any error the network is unchanged.
            pub fn load_safetensors(&mut self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<(), ::cnn::WeightsError> {
                ::cnn::weights::load_safetensors(Self::PARAMS, &mut self.params[..], path.as_ref())
            }

            /// As [`Self::load_safetensors`], from the bytes of a safetensors file.
            pub fn load_safetensors_bytes(&mut self, bytes: &[u8]) -> ::core::result::Result<(), ::cnn::WeightsError> {
                ::cnn::weights::load_safetensors_bytes(Self::PARAMS, &mut self.params[..], bytes)
            }

            /// Saves the parameters as a safetensors file that `safetensors.torch.load_file`
            /// reads into a `state_dict`. The file is replaced atomically.
            pub fn save_safetensors(&self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<(), ::cnn::WeightsError> {
                ::cnn::weights::save_safetensors(Self::PARAMS, &self.params[..], path.as_ref())
            }

            /// The bytes of the safetensors file [`Self::save_safetensors`] writes.
            pub fn to_safetensors_bytes(&self) -> ::std::vec::Vec<u8> {
                ::cnn::weights::save_safetensors_bytes(Self::PARAMS, &self.params[..])
            }
        }

        impl ::core::clone::Clone for #ident {
            fn clone(&self) -> Self {
                let mut params = ::cnn::params::zeroed_array::<#param_count>();
                params.copy_from_slice(&self.params[..]);
                Self { params, train: ::cnn::TrainBuffers::new() }
            }
        }

        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#ident)).field("params", &Self::PARAM_COUNT).finish_non_exhaustive()
            }
        }
    }
}

/// What a network with errors expands to beside its `compile_error!`s: a struct of its name with
/// every generated item, typed loosely enough (generic returns, zero constants) that code using
/// the network adds no errors of its own to the real ones. It is never run: the crate does not
/// compile.
pub fn stub(vis: &syn::Visibility, ident: &proc_macro2::Ident) -> TokenStream {
    let unavailable = |name: &str, receiver: TokenStream, out: TokenStream| {
        let name = format_ident!("{}", name);
        // A generic output takes whatever type the caller's code expects of it.
        let generics = if out.to_string() == "__Out" { quote!(<__In, __Out>) } else { quote!(<__In>) };
        quote! {
            /// Unavailable: the network has errors.
            pub fn #name #generics (#receiver __input: __In) -> #out { ::core::unreachable!() }
        }
    };
    let result = quote!(::core::result::Result<(), ::cnn::WeightsError>);
    let fns = [
        unavailable("new", quote!(), quote!(Self)),
        unavailable("forward", quote!(&self,), quote!(__Out)),
        unavailable("forward_batch", quote!(&self,), quote!(__Out)),
        unavailable("params", quote!(&self,), quote!(::core::iter::Empty<::cnn::Param<'static>>)),
        unavailable("params_mut", quote!(&mut self,), quote!(::core::iter::Empty<::cnn::ParamMut<'static>>)),
        unavailable("param", quote!(&self,), quote!(::core::option::Option<::cnn::Param<'static>>)),
        unavailable("param_mut", quote!(&mut self,), quote!(::core::option::Option<::cnn::ParamMut<'static>>)),
        unavailable("flat_params", quote!(&self,), quote!(&'static [f32])),
        unavailable("flat_params_mut", quote!(&mut self,), quote!(&'static mut [f32])),
        unavailable("load_safetensors", quote!(&mut self,), result.clone()),
        unavailable("load_safetensors_bytes", quote!(&mut self,), result.clone()),
        unavailable("save_safetensors", quote!(&self,), result),
        unavailable("to_safetensors_bytes", quote!(&self,), quote!(::std::vec::Vec<u8>)),
        unavailable("forward_train", quote!(&mut self,), quote!(__Out)),
    ];
    let grads_ident = format_ident!("{}Grads", ident);
    quote! {
        /// Unavailable: the network has errors.
        #[allow(dead_code)]
        #vis struct #ident;

        #[allow(dead_code, clippy::all)]
        impl #ident {
            pub const INPUT_SHAPE: [usize; 3] = [0; 3];
            pub const INPUT_LEN: usize = 0;
            pub const OUTPUT_SHAPE: &'static [usize] = &[];
            pub const OUTPUT_LEN: usize = 0;
            pub const PARAM_COUNT: usize = 0;
            pub const FORWARD_FLOPS: u64 = 0;
            pub const SUMMARY: &'static str = "";
            pub const PARAMS: &'static [::cnn::ParamSpec] = &[];
            #(#fns)*
            /// Unavailable: the network has errors.
            pub fn forward_batch_into<__In, __Out, __Ws>(&self, __input: __In, __output: __Out, __ws: __Ws) {
                ::core::unreachable!()
            }
            /// Unavailable: the network has errors.
            pub fn train_step<__In, __Labels, __Opt>(&mut self, __input: __In, __labels: __Labels, __opt: __Opt) -> f32 {
                ::core::unreachable!()
            }
            /// Unavailable: the network has errors.
            pub fn try_train_step<__In, __Labels, __Opt>(&mut self, __input: __In, __labels: __Labels, __opt: __Opt) -> ::core::result::Result<f32, ::cnn::TrainError> {
                ::core::unreachable!()
            }
            /// Unavailable: the network has errors.
            pub fn backward<__In, __Grads>(&mut self, __grad_output: __In, __grads: __Grads) {
                ::core::unreachable!()
            }
            /// Unavailable: the network has errors.
            pub fn apply_gradients<__Opt, __Grads>(&mut self, __opt: __Opt, __grads: __Grads) {
                ::core::unreachable!()
            }
        }

        /// Unavailable: the network has errors.
        #[allow(dead_code)]
        #vis struct #grads_ident;

        #[allow(dead_code, clippy::all)]
        impl #grads_ident {
            /// Unavailable: the network has errors.
            pub fn new() -> Self {
                ::core::unreachable!()
            }
            /// Unavailable: the network has errors.
            pub fn param<__In>(&self, __name: __In) -> ::core::option::Option<::cnn::Param<'static>> {
                ::core::unreachable!()
            }
            /// Unavailable: the network has errors.
            pub fn params(&self) -> ::core::iter::Empty<::cnn::Param<'static>> {
                ::core::unreachable!()
            }
            /// Unavailable: the network has errors.
            pub fn flat(&self) -> &'static [f32] {
                ::core::unreachable!()
            }
        }
    }
}

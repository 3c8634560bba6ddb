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
    fn ident(self) -> proc_macro2::Ident {
        format_ident!("{}", match self {
            Buf::Input => "x",
            Buf::A => "a",
            Buf::B => "b",
        })
    }
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
    let mut skip_relu = false;
    for (i, (layer, t)) in plan.layers.iter().zip(&tensors).enumerate() {
        max_act = max_act.max(layer.output.len());
        let fuse_relu = matches!(plan.layers.get(i + 1).map(|l| l.op), Some(PlannedOp::Relu));
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
                let (wr, br) = (t[0].offset..t[0].offset + t[0].len(), t[1].offset..t[1].offset + t[1].len());
                let (w0, w1, b0, b1) = (lit(wr.start), lit(wr.end), lit(br.start), lit(br.end));
                steps.push(quote! {
                    ::cnn::conv2d_forward::<#geom_mod::#g>(n, &#src[..n * #in_n], &p[#w0..#w1], &p[#b0..#b1], &mut #dst[..n * #out_n], work, #fuse_relu);
                });
                cur = cur.next();
                skip_relu = fuse_relu;
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
                let (w0, w1) = (lit(t[0].offset), lit(t[0].offset + t[0].len()));
                let (b0, b1) = (lit(t[1].offset), lit(t[1].offset + t[1].len()));
                steps.push(quote! {
                    ::cnn::linear_forward::<#geom_mod::#g>(n, &#src[..n * #in_n], &p[#w0..#w1], &p[#b0..#b1], &mut #dst[..n * #out_n], #fuse_relu);
                });
                cur = cur.next();
                skip_relu = fuse_relu;
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
                skip_relu = false;
            }
            PlannedOp::Relu => {
                if !skip_relu {
                    if cur == Buf::Input {
                        steps.push(quote! { a[..n * #in_n].copy_from_slice(&x[..n * #in_n]); });
                        cur = Buf::A;
                    }
                    let at = cur.ident();
                    steps.push(quote! { ::cnn::relu_in_place(&mut #at[..n * #out_n]); });
                }
                skip_relu = false;
            }
            PlannedOp::Flatten => {}
        }
    }
    let last = cur.ident();
    let out_lit = lit(out_len);
    steps.push(quote! { y.copy_from_slice(&#last[..n * #out_lit]); });

    let scratch_len = 2 * max_act + max_conv_scratch;
    let max_tile = (TILE_BUDGET / scratch_len.max(1)).clamp(1, MAX_TILE);

    let specs = tensors.iter().flatten().map(|t| {
        let (name, offset, fan_in) = (&t.name, lit(t.offset), lit(t.fan_in));
        let shape = t.shape.iter().map(|&d| lit(d));
        quote! { ::cnn::ParamSpec { name: #name, shape: &[#(#shape),*], offset: #offset, fan_in: #fan_in } }
    });

    let [in_len, out_len, param_count, max_act, scratch_len, max_tile, c, h, w] =
        [in_len, out_len, param_count, max_act, scratch_len, max_tile, c, h, w].map(lit);
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
                Self { params }
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
                Self { params }
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
    ];
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
        }
    }
}

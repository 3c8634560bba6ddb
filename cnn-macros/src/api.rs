//! The generated `impl cnn::Network` and the network's struct: the sample types, constants and
//! layer code that differ between networks, each item written once here with its signature. The
//! methods every network shares are `cnn::Network`'s default methods, not generated. A network
//! with errors gets the same items with empty values and no bodies, so that code using it adds
//! no errors of its own to the DSL's, and the two can never drift apart.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::layers::lit;

/// Output elements above which `forward` returns its output boxed: a larger array returned by
/// value would overflow a thread's stack (2 MiB for a spawned thread) on the way.
pub const MAX_BY_VALUE_OUTPUT: usize = 1 << 16;

/// What a real network's items are made of (each a token stream ready to interpolate).
pub struct Real {
    pub input_shape: [usize; 3],
    pub out_shape: Vec<usize>,
    /// The classes a label picks from (the output's channels for a `[K, H, W]` output) and the
    /// labels per sample (its pixels; 1 for a flat output).
    pub classes: usize,
    pub pixels: usize,
    pub param_count: usize,
    pub buffer_count: usize,
    pub layer_count: usize,
    pub flops: u64,
    pub min_batch: usize,
    pub summary: String,
    pub params: Vec<TokenStream>,
    pub buffers: Vec<TokenStream>,
    pub counters: Vec<String>,
    /// The values of `__TILING` and `__TRAIN_LAYOUT`.
    pub tiling: TokenStream,
    pub train_layout: TokenStream,
    /// The value of `__KEY_GRADS`.
    pub key_grads: TokenStream,
    /// The bodies of the hidden functions (see [`Api::hidden`]).
    pub forward_tile: TokenStream,
    pub activations: TokenStream,
    pub after_train_forward: TokenStream,
    pub after_backward: TokenStream,
    pub train_forward_stage: TokenStream,
    pub train_forward_reduce: TokenStream,
    pub train_backward_stage: TokenStream,
    pub train_backward_reduce: TokenStream,
}

/// The network's name and, for a real network, what its items are made of.
pub struct Api<'a> {
    pub vis: &'a syn::Visibility,
    pub net: &'a Ident,
    /// The name `Debug` prints (the network's name, never raw).
    pub name: String,
    pub real: Option<&'a Real>,
    /// For a stub: the sizes of one input and one output sample, where known.
    pub stub_io: (Option<usize>, Option<usize>),
    /// The named outputs (`output NAME`), in order, with their shapes (a stub's as `[len]`):
    /// the fields of the outputs struct. Empty for one unnamed output.
    pub outputs: Vec<(String, Vec<usize>)>,
}

/// A body, or for a stub `unreachable!()`.
fn body(real: Option<&Real>, f: impl FnOnce(&Real) -> TokenStream) -> TokenStream {
    match real {
        Some(r) => f(r),
        None => quote!(::core::unreachable!()),
    }
}

impl Api<'_> {
    /// The sizes of one input and one output sample: a stub's where known, else 0 (an output
    /// of `[f32; 0]` still needs no annotation where it is indexed, iterated or printed).
    fn io(&self) -> (usize, usize) {
        match self.real {
            Some(r) => (r.input_shape.iter().product(), r.out_shape.iter().product()),
            None => (self.stub_io.0.unwrap_or(0), self.stub_io.1.unwrap_or(0)),
        }
    }

    /// The outputs struct's name, for a network with named outputs.
    fn outputs_ident(&self) -> Option<Ident> {
        (!self.outputs.is_empty()).then(|| format_ident!("{}Outputs", self.net))
    }

    /// `type Input`, `type Output`, `type Prediction`.
    fn types(&self) -> TokenStream {
        let (i, o) = self.io();
        let (in_len, out_len) = (lit(i), lit(o));
        let output = match self.outputs_ident() {
            Some(outputs) => quote!(#outputs),
            None => quote!([f32; #out_len]),
        };
        let prediction = if o > MAX_BY_VALUE_OUTPUT { quote!(::std::boxed::Box<#output>) } else { quote!(#output) };
        quote! {
            type Input = [f32; #in_len];
            type Output = #output;
            type Prediction = #prediction;
        }
    }

    /// `OUTPUTS`' entries: the named outputs with their offsets, or the one unnamed output.
    fn output_specs(&self) -> Vec<TokenStream> {
        let spec = |name: &str, shape: &[usize], offset: usize| {
            let (dims, offset) = (shape.iter().map(|&d| lit(d)), lit(offset));
            quote!(::cnn::OutputSpec { name: #name, shape: &[#(#dims),*], offset: #offset })
        };
        if self.outputs.is_empty() {
            let shape = self.real.map_or(Vec::new(), |r| r.out_shape.clone());
            return vec![spec("", &shape, 0)];
        }
        let mut at = 0;
        self.outputs
            .iter()
            .map(|(name, shape)| {
                let s = spec(name, shape, at);
                at += shape.iter().product::<usize>();
                s
            })
            .collect()
    }

    /// The outputs struct of a network with named outputs: one `[f32; N]` field per output, in
    /// order, laid out as the flat output sample (`#[repr(C)]`, nothing but `f32` arrays).
    fn outputs_struct(&self) -> TokenStream {
        let Some(outputs) = self.outputs_ident() else {
            return TokenStream::new();
        };
        let vis = self.vis;
        // The fields' sum, which the `unsafe impl` promises (a stub's `io` may not know it).
        let len = lit(self.outputs.iter().map(|(_, shape)| shape.iter().product::<usize>()).sum());
        let fields = self.outputs.iter().map(|(name, shape)| {
            let field = format_ident!("{}", name);
            let n = lit(shape.iter().product());
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            let doc = format!(
                " `output {name}`: one sample's `[{}]`, flattened in that order (a contiguous PyTorch tensor of that shape).",
                dims.join(", ")
            );
            quote! {
                #[doc = #doc]
                pub #field: [f32; #n]
            }
        });
        let doc = format!(
            " The outputs of one sample of [`{}`], one field per `output NAME` of the network, in order: its `Output` (a batch's are `Vec<{outputs}>`, a gradient for `backward` is one too).",
            self.name
        );
        let allow = if self.real.is_some() { TokenStream::new() } else { quote!(#[allow(dead_code)]) };
        quote! {
            #[doc = #doc]
            #[repr(C)]
            #[derive(Clone, Copy, Debug, PartialEq)]
            #allow
            #vis struct #outputs {
                #(#fields,)*
            }

            // SAFETY: `#[repr(C)]` with only `[f32; N]` fields, `LEN` elements in all: no
            // padding, and every bit pattern is a value.
            #[allow(unsafe_code)]
            unsafe impl ::cnn::__private::NamedOutputs for #outputs {
                const LEN: usize = #len;
            }

            /// Every output zero (a gradient to fill in).
            impl ::core::default::Default for #outputs {
                fn default() -> Self {
                    ::cnn::__private::zeroed_outputs()
                }
            }
        }
    }

    /// The constants, a stub's all empty.
    fn consts(&self) -> TokenStream {
        let r = self.real;
        let (i, o) = self.io();
        let name = &self.name;
        let n = |f: fn(&Real) -> usize| lit(r.map_or(0, f));
        let (c, h, w) = match r {
            Some(r) => (lit(r.input_shape[0]), lit(r.input_shape[1]), lit(r.input_shape[2])),
            None => (lit(0), lit(0), lit(0)),
        };
        let out_shape = r.map_or(Vec::new(), |r| r.out_shape.iter().map(|&d| lit(d)).collect());
        let (in_len, out_len) = (lit(i), lit(o));
        let outputs = self.output_specs();
        let (classes, pixels, param_count, buffer_count, layers, min_batch) = (
            n(|r| r.classes),
            n(|r| r.pixels),
            n(|r| r.param_count),
            n(|r| r.buffer_count),
            n(|r| r.layer_count),
            n(|r| r.min_batch),
        );
        let flops = r.map_or(0, |r| r.flops);
        let summary = r.map_or("", |r| &r.summary);
        let (params, buffers) = r.map_or((&[][..], &[][..]), |r| (&r.params[..], &r.buffers[..]));
        let counters = r.map_or(&[][..], |r| &r.counters[..]);
        let (tiling, train_layout) = match r {
            Some(r) => (r.tiling.clone(), r.train_layout.clone()),
            None => (quote!(::cnn::__private::Tiling::EMPTY), quote!(::cnn::__private::TrainLayout::EMPTY)),
        };
        let key_grads = r.map_or(quote!(&[]), |r| r.key_grads.clone());
        quote! {
            const INPUT_SHAPE: [usize; 3] = [#c, #h, #w];
            const INPUT_LEN: usize = #in_len;
            const OUTPUT_SHAPE: &'static [usize] = &[#(#out_shape),*];
            const OUTPUT_LEN: usize = #out_len;
            const OUTPUTS: &'static [::cnn::OutputSpec] = &[#(#outputs),*];
            const CLASSES: usize = #classes;
            const LABELS_PER_SAMPLE: usize = #pixels;
            const PARAM_COUNT: usize = #param_count;
            const FORWARD_FLOPS: u64 = #flops;
            const SUMMARY: &'static str = #summary;
            const PARAMS: &'static [::cnn::ParamSpec] = &[#(#params),*];
            const BUFFERS: &'static [::cnn::ParamSpec] = &[#(#buffers),*];
            const COUNTERS: &'static [&'static str] = &[#(#counters),*];
            const MIN_TRAIN_BATCH: usize = #min_batch;
            const __NAME: &'static str = #name;
            const __BUFFER_LEN: usize = #buffer_count;
            const __LAYERS: usize = #layers;
            const __TILING: ::cnn::__private::Tiling = #tiling;
            const __TRAIN_LAYOUT: ::cnn::__private::TrainLayout = #train_layout;
            const __KEY_GRADS: &'static [::cnn::__private::KeyGrad] = #key_grads;
        }
    }

    /// The hidden functions the default methods call: the state, and the layers' code.
    fn hidden(&self) -> TokenStream {
        let r = self.real;
        let (_, o) = self.io();
        let state = body(r, |_| quote!(&self.state));
        let state_mut = body(r, |_| quote!(&mut self.state));
        let from_state = body(r, |_| quote!(Self { state }));
        let outputs = self.outputs_ident();
        let zeroed = body(r, |_| {
            let out_len = lit(o);
            if let Some(outputs) = outputs {
                if o > MAX_BY_VALUE_OUTPUT {
                    quote!(::cnn::__private::zeroed_outputs_box::<#outputs>())
                } else {
                    quote!(::cnn::__private::zeroed_outputs::<#outputs>())
                }
            } else if o > MAX_BY_VALUE_OUTPUT {
                quote!(::cnn::__private::zeroed_array::<#out_len>())
            } else {
                quote!([0.0f32; #out_len])
            }
        });
        let forward_tile = body(r, |r| r.forward_tile.clone());
        let activations = body(r, |r| r.activations.clone());
        let after = body(r, |r| r.after_train_forward.clone());
        let after_bwd = body(r, |r| r.after_backward.clone());
        let fwd_stage = body(r, |r| r.train_forward_stage.clone());
        let fwd_reduce = body(r, |r| r.train_forward_reduce.clone());
        let bwd_stage = body(r, |r| r.train_backward_stage.clone());
        let bwd_reduce = body(r, |r| r.train_backward_reduce.clone());
        let (state_ty, params_ty, tile_ty) =
            (quote!(::cnn::__private::NetState), quote!(::cnn::__private::Params), quote!(::cnn::__private::Tile<'_>));
        quote! {
            fn __from_state(state: #state_ty) -> Self { #from_state }
            fn __state(&self) -> &#state_ty { #state }
            fn __state_mut(&mut self) -> &mut #state_ty { #state_mut }
            fn __zeroed_prediction() -> Self::Prediction { #zeroed }

            #[allow(unused_variables, clippy::let_unit_value)]
            fn __forward_tile(state: &#state_ty, n: usize, x: &[f32], y: &mut [f32], scratch: &mut [f32]) { #forward_tile }

            #[allow(unused_variables, clippy::let_unit_value)]
            fn __activations(state: &#state_ty, x: &[f32]) -> ::std::vec::Vec<(&'static str, ::cnn::Tensor)> { #activations }

            #[allow(unused_variables, clippy::needless_borrow)]
            fn __after_train_forward(state: &mut #state_ty, n: usize) { #after }

            #[allow(unused_variables)]
            fn __after_backward(params: &[f32], grads: &mut [f32]) { #after_bwd }

            #[allow(unused_variables, unused_mut, clippy::let_unit_value)]
            fn __train_forward_stage(p: &#params_ty, bufs: &[f32], seed: u64, step: u64, n: usize, stage: usize, mut t: #tile_ty, eval: bool) { #fwd_stage }

            #[allow(unused_variables)]
            fn __train_forward_reduce(n: usize, stage: usize, partials: &[f64], shared: &mut [f64], bufs: &[f32], eval: bool) { #fwd_reduce }

            #[allow(unused_variables, unused_mut, clippy::let_unit_value)]
            fn __train_backward_stage(p: &#params_ty, bufs: &[f32], seed: u64, step: u64, n: usize, stage: usize, mut t: #tile_ty, flags: ::cnn::__private::BackwardFlags<'_>) { #bwd_stage }

            #[allow(unused_variables)]
            fn __train_backward_reduce(n: usize, stage: usize, partials: &[f64], shared: &mut [f64], grads: &mut [f32], flags: ::cnn::__private::BackwardFlags<'_>) { #bwd_reduce }
        }
    }

    /// The network's struct (with its doc) and its gradients' name, which go where the
    /// network was written.
    pub fn types_outside(&self, attrs: &[syn::Attribute], doc: &str) -> TokenStream {
        let (vis, net) = (self.vis, self.net);
        let grads = format_ident!("{}Grads", net);
        let grads_doc = format!(
            " Parameter gradients of [`{}`], with the same `state_dict` names and layout as its parameters.",
            self.name
        );
        let body = match self.real {
            Some(_) => quote!({ state: ::cnn::__private::NetState }),
            None => quote!(;),
        };
        let (doc, allow) = match self.real {
            Some(_) => (doc.to_string(), TokenStream::new()),
            None => (" Unavailable: the network has errors.".to_string(), quote!(#[allow(dead_code)])),
        };
        let attrs = if self.real.is_some() { attrs } else { &[] };
        let outputs = self.outputs_struct();
        quote! {
            #outputs

            #(#attrs)*
            #[doc = #doc]
            #allow
            #vis struct #net #body

            #[doc = #grads_doc]
            #allow
            #vis type #grads = ::cnn::Grads<#net>;
        }
    }

    /// `impl cnn::Network`, `Clone` and `Debug`, to go inside an anonymous `const _` block.
    pub fn impls(&self) -> TokenStream {
        let net = self.net;
        let (types, consts, hidden) = (self.types(), self.consts(), self.hidden());
        let clone = body(self.real, |_| quote!(Self { state: self.state.clone() }));
        let allow = if self.real.is_some() {
            TokenStream::new()
        } else {
            quote!(#[allow(dead_code, unused_variables, clippy::all)])
        };
        quote! {
            #allow
            impl ::cnn::Network for #net {
                #types
                #consts
                #hidden
            }

            #allow
            impl ::core::clone::Clone for #net {
                fn clone(&self) -> Self { #clone }
            }

            impl ::core::fmt::Debug for #net {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::cnn::__debug::<Self>(f)
                }
            }
        }
    }
}

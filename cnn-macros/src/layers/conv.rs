//! `conv`: `nn.Conv2d(in, out, kernel_size, stride, padding, dilation, groups, bias,
//! padding_mode)`. A padding mode other than `zeros` pads the input into scratch memory (as
//! PyTorch's `F.pad` before an unpadded convolution) and convolves that.
//!
//! `ws=true` is timm's `ScaledStdConv2d`: the layer convolves with its weights standardized per
//! output channel and scaled by a learned `gain` and `ws_gamma / sqrt(fan_in)`; `ws_gain=false`
//! is `StdConv2d` (no gain, no scale). The runtime keeps the standardized weights beside the
//! packed ones and turns their gradient into the weight's and the gain's after the backward pass.
//!
//! `conv1d`: `nn.Conv1d(in, out, kernel_size, stride, padding, dilation, groups, bias)` on a
//! `[channels, length]` value, run as the 2-D convolution of `[C, L, 1]` by a `k x 1` kernel:
//! the same memory, and PyTorch's `[out, in / groups, k]` weight is its `[.., k, 1]` one.

use super::{
    grad_bias, grad_input, lit, lit_f32, opt, Cx, Epi, InitKind, Kind, KindDef, Layer, Names, Role, Steps, TensorDef,
};
use crate::args::{def, keyword, ArgKind, Default, Spans};
use crate::shape::{self, ConvPadding, Hw, Inferred, Pads, Shape, ShapeError};
use proc_macro2::{Ident, TokenStream};
use quote::{quote, ToTokens};

pub const CONV: KindDef = KindDef {
    keeps_shape: false,
    names: &["conv", "conv2d"],
    usage: "conv(in_channels, out_channels, k=3, s=1, p=0, d=1, g=1, bias=true, padding_mode=zeros), \
            as in `conv(1, 6, k=5, p=2)`",
    params: &[
        def("in_channels", None, ArgKind::CountOrInfer, Default::Required),
        def("out_channels", None, ArgKind::Count, Default::Required),
        def("kernel_size", Some("k"), ArgKind::Size, Default::Required),
        def("stride", Some("s"), ArgKind::Size, Default::Int(1)),
        def("padding", Some("p"), ArgKind::ConvPadding { pair: true }, Default::Int(0)),
        def("dilation", Some("d"), ArgKind::Size, Default::Int(1)),
        def("groups", Some("g"), ArgKind::Count, Default::Int(1)),
        def("bias", None, ArgKind::Bool, Default::Bool(true)),
        def(
            "padding_mode",
            None,
            ArgKind::Word(&["zeros", "reflect", "replicate", "circular"]),
            Default::Word("zeros"),
        ),
        keyword("ws", ArgKind::Bool, Default::Bool(false)),
        keyword("ws_eps", ArgKind::Float { min: 0.0, max: f64::MAX }, Default::Float(1e-6)),
        keyword("ws_gamma", ArgKind::Float { min: f64::MIN_POSITIVE, max: f64::MAX }, Default::Float(1.0)),
        keyword("ws_gain", ArgKind::Bool, Default::Bool(true)),
    ],
    build: |_, a| {
        let padding = match a["padding"].word() {
            "same" => ConvPadding::Same,
            "same_tf" => ConvPadding::SameTf,
            "valid" => ConvPadding::Symmetric((0, 0)),
            _ => ConvPadding::Symmetric(a["padding"].pair()),
        };
        let ws = Ws {
            on: a["ws"].flag(),
            eps: a["ws_eps"].float(),
            gamma: a["ws_gamma"].float(),
            gain: a["ws_gain"].flag(),
        };
        Box::new(Conv {
            ws,
            one_d: false,
            c_in: a["in_channels"].count_or_infer(),
            c_out: a["out_channels"].count(),
            k: a["kernel_size"].pair(),
            s: a["stride"].pair(),
            padding,
            d: a["dilation"].pair(),
            groups: a["groups"].count(),
            bias: a["bias"].flag(),
            padding_mode: match a["padding_mode"].word() {
                "reflect" => "reflect",
                "replicate" => "replicate",
                "circular" => "circular",
                _ => "zeros",
            },
            spans: a.spans(),
        })
    },
};

pub const CONV1D: KindDef = KindDef {
    keeps_shape: false,
    names: &["conv1d"],
    usage: "conv1d(in_channels, out_channels, k=3, s=1, p=0, d=1, g=1, bias=true) on [channels, length], \
            as in `conv1d(1, 1, k=3, p=1, bias=false)`",
    params: &[
        def("in_channels", None, ArgKind::CountOrInfer, Default::Required),
        def("out_channels", None, ArgKind::Count, Default::Required),
        def("kernel_size", Some("k"), ArgKind::Count, Default::Required),
        def("stride", Some("s"), ArgKind::Count, Default::Int(1)),
        def("padding", Some("p"), ArgKind::ConvPadding { pair: false }, Default::Int(0)),
        def("dilation", Some("d"), ArgKind::Count, Default::Int(1)),
        def("groups", Some("g"), ArgKind::Count, Default::Int(1)),
        def("bias", None, ArgKind::Bool, Default::Bool(true)),
    ],
    build: |_, a| {
        let padding = match a["padding"].word() {
            "same" => ConvPadding::Same,
            "same_tf" => ConvPadding::SameTf,
            "valid" => ConvPadding::Symmetric((0, 0)),
            _ => ConvPadding::Symmetric((a["padding"].count(), 0)),
        };
        Box::new(Conv {
            ws: Ws::OFF,
            one_d: true,
            c_in: a["in_channels"].count_or_infer(),
            c_out: a["out_channels"].count(),
            k: (a["kernel_size"].count(), 1),
            s: (a["stride"].count(), 1),
            padding,
            d: (a["dilation"].count(), 1),
            groups: a["groups"].count(),
            bias: a["bias"].flag(),
            padding_mode: "zeros",
            spans: a.spans(),
        })
    },
};

/// Weight standardisation (`ws=true`) and its options as written.
#[derive(Clone, Copy)]
struct Ws {
    on: bool,
    eps: f64,
    gamma: f64,
    /// A learned `gain` and the `gamma / sqrt(fan_in)` scale (`ScaledStdConv2d`), or neither.
    gain: bool,
}

impl Ws {
    const OFF: Ws = Ws { on: false, eps: 1e-6, gamma: 1.0, gain: true };

    /// The options written without `ws=true`, which would do nothing.
    fn stray(&self) -> Vec<&'static str> {
        let mut stray = Vec::new();
        if !self.on {
            for (name, given) in [
                ("ws_eps", self.eps != Self::OFF.eps),
                ("ws_gamma", self.gamma != Self::OFF.gamma),
                ("ws_gain", !self.gain),
            ] {
                if given {
                    stray.push(name);
                }
            }
        }
        if self.on && !self.gain && self.gamma != 1.0 {
            stray.push("ws_gamma");
        }
        stray
    }
}

pub struct Conv {
    /// Weight standardisation.
    ws: Ws,
    /// `conv1d`: the input is `[C, L]`, run as `[C, L, 1]`, and the kernel is `(k, 1)`.
    one_d: bool,
    c_in: Option<usize>,
    c_out: usize,
    k: Hw,
    s: Hw,
    padding: ConvPadding,
    d: Hw,
    groups: usize,
    bias: bool,
    /// PyTorch's `padding_mode`.
    padding_mode: &'static str,
    /// The arguments' tokens, for the spans of errors.
    spans: Spans,
}

impl Conv {
    /// The value the 2-D convolution sees: `[C, L]` as `[C, L, 1]`.
    fn as_2d(input: Shape) -> Shape {
        match input {
            Shape::Cl(c, l) => Shape::Chw(c, l, 1),
            other => other,
        }
    }

    /// `conv1d`'s output and errors from the 2-D ones on `[C, L, 1]`, in its own terms.
    fn infer_1d(&self, input: Shape) -> Inferred {
        let Shape::Cl(..) = input else {
            return Inferred::fail(ShapeError::Own {
                message: format!("conv1d needs a [channels, length] input, but the value is {input}"),
                hint: Some("`view` it first, as `x.view(N, 1, -1)` is `view(1, -1)`".into()),
            });
        };
        let inner =
            shape::conv2d(Self::as_2d(input), self.c_in, self.c_out, self.k, self.s, self.padding, self.d, self.groups)
                .0;
        let errors = inner
            .errors
            .into_iter()
            .map(|e| match e {
                ShapeError::Channels { expected, found, .. } => ShapeError::Channels { expected, found, input },
                ShapeError::Window { kernel, padded, padding, .. } => {
                    ShapeError::Window { kernel, padded, padding, input }
                }
                other => other,
            })
            .collect();
        let output = inner.output.map(|o| match o {
            Shape::Chw(c, l, _) => Shape::Cl(c, l),
            other => other,
        });
        Inferred { output, errors }
    }

    fn pads(&self, input: Shape) -> Pads {
        let input = Self::as_2d(input);
        shape::conv2d(input, self.c_in, self.c_out, self.k, self.s, self.padding, self.d, self.groups).1
    }

    /// The padding done apart from the convolution, `[left, right, top, bottom]`, when the mode
    /// is not zeros.
    fn padded(&self, input: Shape) -> Option<[usize; 4]> {
        let (ph, pw, ph_end, pw_end) = self.pads(input);
        (self.padding_mode != "zeros").then_some([pw, pw_end, ph, ph_end])
    }

    /// Per sample elements of the padded input, when the padding is done apart.
    fn padded_len(&self, input: Shape) -> Option<usize> {
        let [l, r, t, b] = self.padded(input)?;
        let Shape::Chw(c, h, w) = input else { return None };
        Some(c * (t + h + b) * (l + w + r))
    }

    fn c_in(&self, input: Shape) -> usize {
        match input {
            Shape::Chw(c, ..) | Shape::Cl(c, _) => c,
            Shape::Flat(..) | Shape::Hwc(..) => 0,
        }
    }
}

impl Conv {
    /// The gain tensor's index, when the layer has one.
    fn gain_index(&self) -> Option<usize> {
        (self.ws.on && self.ws.gain).then_some(1 + usize::from(self.bias))
    }

    /// `(out, gain, scale, eps)` of [`::cnn::__private::ws_weight`] and `ws_backward`.
    fn ws_args(&self, cx: &Cx) -> (TokenStream, TokenStream, TokenStream, TokenStream) {
        let fan_in = (self.c_in(cx.input()) / self.groups) * self.k.0 * self.k.1;
        let scale = if self.ws.gain { self.ws.gamma / (fan_in as f64).sqrt() } else { 1.0 };
        (
            lit(self.c_out).into_token_stream(),
            opt(cx, self.gain_index()),
            lit_f32(scale).into_token_stream(),
            lit_f32(self.ws.eps).into_token_stream(),
        )
    }

    /// The weights the convolution runs with: the parameter, or its standardisation.
    fn weight(&self, cx: &Cx) -> TokenStream {
        let w = &cx.tensors[0];
        if !self.ws.on {
            return w.clone();
        }
        let (out, gain, scale, eps) = self.ws_args(cx);
        let packed = cx.packed();
        quote!(::cnn::__private::ws_weight(#packed, #out, #w, #gain, #scale, #eps))
    }

    /// The forward pass with `epilogue`, through the padded input when the mode is not zeros.
    fn forward_with(&self, cx: &Cx, epilogue: TokenStream) -> TokenStream {
        let (g, w, packed) = (&cx.geom, &self.weight(cx), cx.packed());
        let Names { n, src, dst, work, .. } = cx.names();
        // Training passes keep every sum direct (no Winograd): see `conv2d_forward_train`.
        let forward = if cx.train { quote!(conv2d_forward_train) } else { quote!(conv2d_forward_cached) };
        let (Some(padding), Some(len)) = (self.padded(cx.input()), self.padded_len(cx.input())) else {
            return quote! {
                ::cnn::#forward::<#g>(#n, #src, #w, #packed, #epilogue, #dst, #work);
            };
        };
        let (pad, len) = (super::pad::spec(cx.input(), padding, self.padding_mode), lit(len));
        quote! {{
            let (padded_src, rest) = (#work).split_at_mut(#n * #len);
            ::cnn::pad2d_forward(#pad, #n, #src, padded_src);
            ::cnn::#forward::<#g>(#n, padded_src, #w, #packed, #epilogue, #dst, rest);
        }}
    }
}

impl Layer for Conv {
    fn reuse_refusal(&self) -> Option<&'static str> {
        self.ws.on.then_some("standardizes its weights, whose gradient is turned into the weight's once per layer")
    }
    fn explain(&self, layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        Some(match e {
            ShapeError::SameStride => (
                format!("{layer} padding=same needs stride 1, as in PyTorch"),
                Some("give the padding as numbers, or use stride 1".into()),
            ),
            ShapeError::PadTooLarge { .. } => return super::pad::explain(layer, e),
            ShapeError::Window { padded, input: input @ Shape::Cl(_, l), .. } if self.one_d => {
                let (p, _, p_end, _) = self.pads(*input);
                let span = self.d.0.saturating_mul(self.k.0 - 1).saturating_add(1);
                let padded = padded.map_or("a length past usize".to_string(), |(h, _)| h.to_string());
                (
                    format!(
                        "{layer} kernel {} (dilation {}) spans {span}, more than the padded length {padded} of {input} \
                         (length {l}, padding {p} + {p_end}), so the output would be empty",
                        self.k.0, self.d.0
                    ),
                    Some("use a smaller kernel or more padding".into()),
                )
            }
            _ => return None,
        })
    }

    fn kind(&self) -> Kind {
        Kind::Conv
    }

    fn saves(&self) -> (bool, bool) {
        (true, false)
    }

    fn error_span(&self, e: &ShapeError) -> Option<proc_macro2::Span> {
        let name = match e {
            ShapeError::Channels { .. } => "in_channels",
            // A padded size past usize: the padding is what is wrong.
            ShapeError::Window { padded: None, .. } => "padding",
            ShapeError::Window { .. } => "kernel_size",
            ShapeError::SameStride | ShapeError::PadTooLarge { .. } => "padding",
            ShapeError::Groups { .. } => "groups",
            ShapeError::Own { .. } if !self.ws.stray().is_empty() => self.ws.stray()[0],
            _ => return None,
        };
        Some(self.spans[name])
    }

    fn infer(&self, input: Shape) -> Inferred {
        if self.one_d {
            return self.infer_1d(input);
        }
        let mut inferred =
            shape::conv2d(input, self.c_in, self.c_out, self.k, self.s, self.padding, self.d, self.groups).0;
        if let Some(padding) = self.padded(input) {
            inferred.errors.extend(shape::pad2d(input, padding, self.padding_mode).errors);
        }
        if let Some(name) = self.ws.stray().first() {
            let (message, hint) = if self.ws.on {
                (
                    format!("`{name}` scales the weights with the gain, which `ws_gain=false` leaves out"),
                    "drop `ws_gamma`: timm's `StdConv2d` has no gain and no scale",
                )
            } else {
                (
                    format!("`{name}` applies to weight standardisation, which this conv does not do"),
                    "add `ws=true`, or drop the option",
                )
            };
            inferred.errors.push(ShapeError::Own { message, hint: Some(hint.into()) });
        }
        inferred
    }

    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorDef> {
        let cig = self.c_in(input) / self.groups;
        let fan_in = cig * self.k.0 * self.k.1;
        let dims = if self.one_d { vec![self.c_out, cig, self.k.0] } else { vec![self.c_out, cig, self.k.0, self.k.1] };
        let mut t = vec![TensorDef::new("weight", dims, InitKind::Uniform(fan_in), Role::Param)];
        if self.bias {
            t.push(TensorDef::new("bias", vec![self.c_out], InitKind::Uniform(fan_in), Role::Param));
        }
        if self.ws.on && self.ws.gain {
            t.push(TensorDef::new("gain", vec![self.c_out, 1, 1, 1], InitKind::Ones, Role::Param));
        }
        t
    }

    fn flops(&self, input: Shape, output: Shape) -> u128 {
        let Shape::Chw(_, ho, wo) = Self::as_2d(output) else { return 0 };
        2 * (self.c_out * (self.c_in(input) / self.groups) * self.k.0 * self.k.1) as u128 * (ho * wo) as u128
    }

    fn geometry(&self, name: &Ident, input: Shape, _output: Shape) -> TokenStream {
        let Shape::Chw(c, mut h, mut w) = Self::as_2d(input) else { return TokenStream::new() };
        let (mut ph, mut pw, mut ph_end, mut pw_end) = self.pads(input);
        if self.padded(input).is_some() {
            // The convolution sees the padded input and pads nothing itself.
            (h, w) = (ph + h + ph_end, pw + w + pw_end);
            (ph, pw, ph_end, pw_end) = (0, 0, 0, 0);
        }
        let [c_in, c_out, h, w, kh, kw, sh, sw, ph, pw, ph_end, pw_end, dh, dw, groups] = [
            c,
            self.c_out,
            h,
            w,
            self.k.0,
            self.k.1,
            self.s.0,
            self.s.1,
            ph,
            pw,
            ph_end,
            pw_end,
            self.d.0,
            self.d.1,
            self.groups,
        ]
        .map(lit);
        quote! {
            impl ::cnn::Conv2dGeom for #name {
                const SPEC: ::cnn::Conv2dSpec = ::cnn::Conv2dSpec {
                    c_in: #c_in, c_out: #c_out, h_in: #h, w_in: #w, kh: #kh, kw: #kw, sh: #sh, sw: #sw,
                    ph: #ph, pw: #pw, ph_end: #ph_end, pw_end: #pw_end, dh: #dh, dw: #dw, groups: #groups,
                };
            }
        }
    }

    fn scratch(&self, cx: &Cx) -> TokenStream {
        let g = &cx.geom;
        // The padded input, and in backward its gradient, beside the convolution's own.
        let padded = lit(2 * self.padded_len(cx.input()).unwrap_or(0));
        quote!(::cnn::conv2d_scratch_per_sample(&<#g as ::cnn::Conv2dGeom>::SPEC) + #padded)
    }

    fn bias(&self, cx: &Cx) -> TokenStream {
        opt(cx, self.bias.then_some(1))
    }

    fn forward(&self, cx: &Cx, epi: &Epi) -> TokenStream {
        let Epi { scale, shift, act } = epi;
        self.forward_with(cx, quote!(::cnn::Epilogue { scale: #scale, shift: #shift, act: #act }))
    }

    fn train_forward(&self, cx: &Cx) -> Steps {
        let b = opt(cx, self.bias.then_some(1));
        Steps::One(self.forward_with(cx, quote!(::cnn::Epilogue::bias(#b))))
    }

    fn after_backward(&self, cx: &Cx) -> TokenStream {
        if !self.ws.on {
            return TokenStream::new();
        }
        let (out, gain, scale, eps) = self.ws_args(cx);
        let (w, g0) = (&cx.tensors[0], cx.grad(0));
        let grad_gain = match self.gain_index() {
            Some(k) => {
                let gk = cx.grad(k);
                quote!(::core::option::Option::Some(#gk))
            }
            None => quote!(::core::option::Option::None),
        };
        quote!(::cnn::__private::ws_backward(#out, #w, #gain, #scale, #eps, #g0, #grad_gain);)
    }

    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let (g, w) = (&cx.geom, &self.weight(cx));
        let (grad_x, gb) = (grad_input(cx, dx), grad_bias(cx, self.bias));
        let Names { n, x, dy, dx: dx_name, work, .. } = cx.names();
        let g0 = cx.grad_if_trained(0);
        let (Some(padding), Some(len)) = (self.padded(cx.input()), self.padded_len(cx.input())) else {
            return Steps::One(quote! {
                ::cnn::conv2d_backward::<#g>(#n, #x, #w, #dy, #grad_x, #g0, #gb, #work);
            });
        };
        // The padded input again, the convolution's gradients on it, and the padded input's
        // gradient folded back onto the input.
        let (pad, len) = (super::pad::spec(cx.input(), padding, self.padding_mode), lit(len));
        let without = quote! {
            ::cnn::conv2d_backward::<#g>(#n, padded_x, #w, #dy, ::core::option::Option::None, #g0, #gb, rest);
        };
        let input_grad = match dx {
            Some(acc) => {
                let needed = cx.input_needed();
                quote! {
                    if #needed {
                        let (padded_dx, rest) = rest.split_at_mut(#n * #len);
                        ::cnn::conv2d_backward::<#g>(#n, padded_x, #w, #dy, ::core::option::Option::Some((&mut *padded_dx, false)), #g0, #gb, rest);
                        ::cnn::pad2d_backward(#pad, #n, padded_dx, #dx_name, #acc);
                    } else {
                        #without
                    }
                }
            }
            None => without,
        };
        Steps::One(quote! {{
            let (padded_x, rest) = (#work).split_at_mut(#n * #len);
            ::cnn::pad2d_forward(#pad, #n, #x, padded_x);
            let padded_x: &[f32] = padded_x;
            #input_grad
        }})
    }
}

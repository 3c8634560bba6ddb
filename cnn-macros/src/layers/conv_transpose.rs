//! `conv_transpose`: `nn.ConvTranspose2d(in, out, kernel_size, stride, padding, output_padding,
//! groups, bias, dilation)`, the learned upsampling of decoders.

use super::{grad_bias, grad_input, lit, opt, Cx, Epi, InitKind, Kind, KindDef, Layer, Names, Role, Steps, TensorDef};
use crate::args::{def, ArgKind, Default, Spans};
use crate::shape::{self, Hw, Inferred, Shape, ShapeError};
use proc_macro2::{Ident, TokenStream};
use quote::quote;

pub const CONV_TRANSPOSE: KindDef = KindDef {
    keeps_shape: false,
    names: &["conv_transpose", "conv_transpose2d"],
    usage: "conv_transpose(in_channels, out_channels, k=2, s=2, p=0, output_padding=0, g=1, bias=true, d=1), \
            as in `conv_transpose(64, 32, k=2, s=2)`",
    params: &[
        def("in_channels", None, ArgKind::CountOrInfer, Default::Required),
        def("out_channels", None, ArgKind::Count, Default::Required),
        def("kernel_size", Some("k"), ArgKind::Size, Default::Required),
        def("stride", Some("s"), ArgKind::Size, Default::Int(1)),
        def("padding", Some("p"), ArgKind::Padding, Default::Int(0)),
        def("output_padding", Some("op"), ArgKind::Padding, Default::Int(0)),
        def("groups", Some("g"), ArgKind::Count, Default::Int(1)),
        def("bias", None, ArgKind::Bool, Default::Bool(true)),
        def("dilation", Some("d"), ArgKind::Size, Default::Int(1)),
    ],
    build: |_, a| {
        Box::new(ConvTranspose {
            c_in: a["in_channels"].count_or_infer(),
            c_out: a["out_channels"].count(),
            k: a["kernel_size"].pair(),
            s: a["stride"].pair(),
            p: a["padding"].pair(),
            op: a["output_padding"].pair(),
            groups: a["groups"].count(),
            bias: a["bias"].flag(),
            d: a["dilation"].pair(),
            spans: a.spans(),
        })
    },
};

pub struct ConvTranspose {
    c_in: Option<usize>,
    c_out: usize,
    k: Hw,
    s: Hw,
    p: Hw,
    op: Hw,
    groups: usize,
    bias: bool,
    d: Hw,
    /// The arguments' tokens, for the spans of errors.
    spans: Spans,
}

impl Layer for ConvTranspose {
    fn explain(&self, layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        Some(match e {
            ShapeError::OutputPadding { output_padding, stride, dilation } => (
                format!(
                    "{layer} output_padding {} must be smaller than the stride {} or the dilation {}",
                    crate::error::hw(*output_padding),
                    crate::error::hw(*stride),
                    crate::error::hw(*dilation)
                ),
                Some("output_padding picks one of the `stride` output sizes that map to the same input size: use 0..stride".into()),
            ),
            ShapeError::OutputPaddingPastStride { output_padding, padding, stride } => (
                format!(
                    "{layer} output_padding {} exceeds the padding {} by the stride {} or more, which is not supported",
                    crate::error::hw(*output_padding),
                    crate::error::hw(*padding),
                    crate::error::hw(*stride)
                ),
                Some("the extra rows past every tap are the bias alone: use a larger stride or padding, or pad the output".into()),
            ),
            ShapeError::Cropped { full, padding, input } => (
                format!(
                    "{layer} padding {} crops away the whole output {} (input shape {input})",
                    crate::error::hw(*padding),
                    crate::error::hw(*full)
                ),
                Some("the padding removes that much from each side of the output: use a smaller one".into()),
            ),
            _ => return None,
        })
    }

    /// A convolution to the plan: a bias, a batch norm and an activation after it fuse into its
    /// epilogue at inference.
    fn kind(&self) -> Kind {
        Kind::Conv
    }

    fn saves(&self) -> (bool, bool) {
        (true, false)
    }

    fn error_span(&self, e: &ShapeError) -> Option<proc_macro2::Span> {
        let name = match e {
            ShapeError::Channels { .. } => "in_channels",
            ShapeError::Cropped { .. } => "padding",
            ShapeError::OutputPadding { .. } | ShapeError::OutputPaddingPastStride { .. } => "output_padding",
            ShapeError::Groups { .. } => "groups",
            _ => return None,
        };
        Some(self.spans[name])
    }

    fn infer(&self, input: Shape) -> Inferred {
        shape::conv_transpose2d(input, self.c_in, self.c_out, self.k, self.s, self.p, self.op, self.d, self.groups)
    }

    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorDef> {
        // PyTorch's fan-in of a `[in, out / g, kh, kw]` weight is its second dimension times the
        // kernel: the output channels of a group.
        let fan_in = self.c_out / self.groups * self.k.0 * self.k.1;
        let mut t = vec![TensorDef::new(
            "weight",
            vec![input.channels(), self.c_out / self.groups, self.k.0, self.k.1],
            InitKind::Uniform(fan_in),
            Role::Param,
        )];
        if self.bias {
            t.push(TensorDef::new("bias", vec![self.c_out], InitKind::Uniform(fan_in), Role::Param));
        }
        t
    }

    fn flops(&self, input: Shape, _output: Shape) -> u128 {
        let Shape::Chw(c, h, w) = input else { return 0 };
        2 * (c * (self.c_out / self.groups) * self.k.0 * self.k.1) as u128 * (h * w) as u128
    }

    fn geometry(&self, name: &Ident, input: Shape, _output: Shape) -> TokenStream {
        let Shape::Chw(c, h, w) = input else { return TokenStream::new() };
        let pair = |v: Hw| {
            let (a, b) = (lit(v.0), lit(v.1));
            quote!((#a, #b))
        };
        let (c_in, c_out, groups) = (lit(c), lit(self.c_out), lit(self.groups));
        let [size, k, s, p, op, d] = [(h, w), self.k, self.s, self.p, self.op, self.d].map(pair);
        quote! {
            impl ::cnn::Conv2dGeom for #name {
                const SPEC: ::cnn::Conv2dSpec =
                    ::cnn::conv_transpose2d_spec(#c_in, #c_out, #size, #k, #s, #p, #op, #d, #groups);
            }
        }
    }

    fn scratch(&self, cx: &Cx) -> TokenStream {
        let g = &cx.geom;
        quote!(::cnn::conv_transpose2d_scratch_per_sample(&<#g as ::cnn::Conv2dGeom>::SPEC))
    }

    fn bias(&self, cx: &Cx) -> TokenStream {
        opt(cx, self.bias.then_some(1))
    }

    fn forward(&self, cx: &Cx, epi: &Epi) -> TokenStream {
        let (g, w) = (&cx.geom, &cx.tensors[0]);
        let Epi { scale, shift, act } = epi;
        let Names { n, src, dst, work, .. } = cx.names();
        quote! {
            ::cnn::conv_transpose2d_forward::<#g>(#n, #src, #w, ::cnn::Epilogue { scale: #scale, shift: #shift, act: #act }, #dst, #work);
        }
    }

    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let (g, w) = (&cx.geom, &cx.tensors[0]);
        let (grad_x, gb) = (grad_input(cx, dx), grad_bias(cx, self.bias));
        let Names { n, x, dy, work, .. } = cx.names();
        let g0 = cx.grad_if_trained(0);
        Steps::One(quote! {
            ::cnn::conv_transpose2d_backward::<#g>(#n, #x, #w, #dy, #grad_x, #g0, #gb, #work);
        })
    }
}

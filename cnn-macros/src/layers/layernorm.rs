//! `layernorm(C)` (`nn.LayerNorm(C)` over the last dimension: a flat value's features, or a
//! channels-last value's channels at every pixel) and `layernorm2d(C)` (torchvision's
//! `LayerNorm2d`: the channels at every pixel of `[C, H, W]`).

use super::{grad_input, lit, lit_f32, opt, Cx, Epi, InitKind, KindDef, Layer, Role, Steps, TensorDef};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{self, Inferred, Shape, ShapeError};
use proc_macro2::{Span, TokenStream};
use quote::quote;

const EPS: ArgKind = ArgKind::Float { min: 0.0, max: f64::INFINITY };

pub const LAYERNORM: KindDef = KindDef {
    keeps_shape: true,
    names: &["layernorm"],
    usage: "layernorm(normalized_shape, eps=1e-5, elementwise_affine=true, bias=true), as in `layernorm(96, eps=1e-6)`",
    params: &[
        def("normalized_shape", None, ArgKind::CountOrInfer, Default::Required),
        def("eps", None, EPS, Default::Float(1e-5)),
        def("elementwise_affine", None, ArgKind::Bool, Default::Bool(true)),
        def("bias", None, ArgKind::Bool, Default::Bool(true)),
    ],
    build: |_, a: &Args| {
        Box::new(LayerNorm {
            c: a["normalized_shape"].count_or_infer(),
            eps: a["eps"].float(),
            weight: a["elementwise_affine"].flag(),
            bias: a["elementwise_affine"].flag() && a["bias"].flag(),
            two_d: false,
            span: a["normalized_shape"].span,
        })
    },
};

pub const LAYERNORM2D: KindDef = KindDef {
    keeps_shape: true,
    names: &["layernorm2d"],
    usage: "layernorm2d(num_channels, eps=1e-6), as in `layernorm2d(96)`",
    params: &[
        def("num_channels", None, ArgKind::CountOrInfer, Default::Required),
        def("eps", None, EPS, Default::Float(1e-6)),
    ],
    build: |_, a: &Args| {
        Box::new(LayerNorm {
            c: a["num_channels"].count_or_infer(),
            eps: a["eps"].float(),
            weight: true,
            bias: true,
            two_d: true,
            span: a["num_channels"].span,
        })
    },
};

pub struct LayerNorm {
    c: Option<usize>,
    eps: f64,
    weight: bool,
    bias: bool,
    /// `layernorm2d`: channels of `[C, H, W]`.
    two_d: bool,
    span: Span,
}

/// `(outer, c, inner)` of one sample: `outer` groups of `c` channels `inner` apart.
fn layout(input: Shape) -> (usize, usize, usize) {
    match input {
        Shape::Chw(c, h, w) => (1, c, h * w),
        Shape::Hwc(h, w, c) => (h * w, c, 1),
        // Refused in `infer`: the last dimension is the length, which `keep_channels` does not
        // check.
        Shape::Flat(c, _) | Shape::Cl(c, _) => (1, c, 1),
    }
}

impl LayerNorm {
    fn shape(&self, cx: &Cx) -> TokenStream {
        let (outer, c, inner) = layout(cx.input());
        let (outer, c, inner) = (lit(outer), lit(c), lit(inner));
        quote!(::cnn::__private::LayerNormShape { outer: #outer, c: #c, inner: #inner })
    }
    fn run(&self, cx: &Cx) -> TokenStream {
        let (shape, eps, n, src, dst) = (self.shape(cx), lit_f32(self.eps), cx.n(), cx.src(), cx.dst());
        let (w, b) = (opt(cx, self.weight.then_some(0)), opt(cx, self.bias.then_some(1)));
        quote!(::cnn::__private::layer_norm_forward(#n, #shape, #eps, #src, #w, #b, #dst);)
    }
}

impl Layer for LayerNorm {
    fn explain(&self, layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        Some(match e {
            ShapeError::LastDim { input } => (
                format!("{layer} normalizes the last dimension, which on {input} is the width, not the channels"),
                Some("write `layernorm2d` for the channels of [C, H, W], or `permute(0, 2, 3, 1)` first".into()),
            ),
            _ => return None,
        })
    }

    fn saves(&self) -> (bool, bool) {
        (true, false)
    }
    fn error_span(&self, e: &ShapeError) -> Option<Span> {
        matches!(e, ShapeError::Size { .. }).then_some(self.span)
    }
    fn infer(&self, input: Shape) -> Inferred {
        let ok = match input {
            Shape::Chw(..) => self.two_d,
            Shape::Hwc(..) | Shape::Flat(..) => !self.two_d,
            Shape::Cl(..) => false,
        };
        if !ok {
            let e = match input {
                _ if self.two_d => crate::shape::not_spatial(input),
                Shape::Cl(..) => ShapeError::Own {
                    message: format!("layernorm on a [channels, length] value {input} is not supported"),
                    hint: Some("`view` it to [C, L, 1] and write `layernorm2d`, or to a flat value".into()),
                },
                _ => ShapeError::LastDim { input },
            };
            return Inferred { output: Some(input), errors: vec![e] };
        }
        shape::keep_channels(input, self.c)
    }
    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorDef> {
        let c = input.channels();
        let mut t = Vec::new();
        if self.weight {
            t.push(TensorDef::new("weight", vec![c], InitKind::Ones, Role::Param));
        }
        if self.bias {
            t.push(TensorDef::new("bias", vec![c], InitKind::Zeros, Role::Param));
        }
        t
    }
    fn flops(&self, input: Shape, _output: Shape) -> u128 {
        8 * input.len() as u128
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        self.run(cx)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let (shape, eps, n, x, dy) = (self.shape(cx), lit_f32(self.eps), cx.n(), cx.x(), cx.dy());
        let w = opt(cx, self.weight.then_some(0));
        let dx = grad_input(cx, dx);
        let grad = |on: bool, k: usize| {
            let g = cx.grad(k);
            if on {
                quote!(::core::option::Option::Some(#g))
            } else {
                quote!(::core::option::Option::None)
            }
        };
        let (gw, gb) = (grad(self.weight, 0), grad(self.bias, 1));
        Steps::One(quote!(::cnn::__private::layer_norm_backward(#n, #shape, #eps, #x, #w, #dy, #dx, #gw, #gb);))
    }
}

//! `scale(C, init=1.0, flat=false)`: a learned factor per channel, ConvNeXt's
//! `layer_scale = nn.Parameter(torch.ones(C, 1, 1) * init)`. Its one tensor is keyed by the item
//! itself (`features.1.0.layer_scale`), not `.weight`; with `flat=true` it is `[C]`, as timm keeps
//! its `gamma` and multiplies by `gamma.reshape(1, -1, 1, 1)`; with `scalar=true` it is one
//! 0-dimensional factor for the whole value (NFNet's `skipinit_gain`). `scale(by=0.2)` multiplies
//! by a constant and has no tensor (NF-ResNet's `x * self.beta`).

use super::{grad_input, lit, Cx, Epi, InitKind, KindDef, Layer, Role, Steps, TensorDef};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{self, Inferred, Shape, ShapeError};
use proc_macro2::{Span, TokenStream};
use quote::quote;

pub const SCALE: KindDef = KindDef {
    keeps_shape: true,
    names: &["scale"],
    usage: "scale(channels, init=1.0, flat=false, scalar=false), as in `layer_scale: scale(96, init=1e-6)`, or \
            scale(by=factor), as in `scale(by=0.2)`",
    params: &[
        def("channels", None, ArgKind::CountOrInfer, Default::Infer),
        def("init", None, ArgKind::Float { min: f64::NEG_INFINITY, max: f64::INFINITY }, Default::Float(1.0)),
        def("flat", None, ArgKind::Bool, Default::Bool(false)),
        def("scalar", None, ArgKind::Bool, Default::Bool(false)),
        def("by", None, ArgKind::FloatOrNone { min: f64::NEG_INFINITY, max: f64::INFINITY }, Default::Word("None")),
    ],
    build: |_, a: &Args| {
        let (c, span) = (a["channels"].count_or_infer(), a["channels"].span);
        match a["by"].float_or_none() {
            Some(by) => Box::new(ScaleBy {
                by,
                c,
                learned: a["init"].float() != 1.0 || a["flat"].flag() || a["scalar"].flag(),
                span,
            }),
            None => {
                let (flat, scalar) = (a["flat"].flag(), a["scalar"].flag());
                Box::new(Scale { c, init: a["init"].float(), flat, scalar, span })
            }
        }
    },
};

/// `scale(by=factor)`: a product with a constant (NF-ResNet's `x * self.beta`); no tensors.
pub struct ScaleBy {
    by: f64,
    c: Option<usize>,
    /// Whether `init` or `flat` was given too, which only a learned factor has.
    learned: bool,
    span: Span,
}

impl Layer for ScaleBy {
    fn saves(&self) -> (bool, bool) {
        (false, false)
    }
    fn error_span(&self, e: &ShapeError) -> Option<Span> {
        matches!(e, ShapeError::Size { .. } | ShapeError::Own { .. }).then_some(self.span)
    }
    fn infer(&self, input: Shape) -> Inferred {
        let mut inferred = shape::keep_channels(input, self.c);
        if self.learned {
            inferred.errors.push(ShapeError::Own {
                message: format!(
                    "scale(by={}) multiplies by a constant: it has no `init`, `flat` or `scalar`",
                    self.by
                ),
                hint: Some("leave `by` out for a learned factor, `scale(C, init=...)`".into()),
            });
        }
        inferred
    }
    fn flops(&self, input: Shape, _output: Shape) -> u128 {
        input.len() as u128
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let (n, len, by, src, dst) = (cx.n(), lit(cx.input().len()), self.by as f32, cx.src(), cx.dst());
        quote!(::cnn::__private::scale_by_forward(#n, #len, #by, #src, #dst);)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let (n, len, by, dy) = (cx.n(), lit(cx.input().len()), self.by as f32, cx.dy());
        let dx = grad_input(cx, dx);
        Steps::One(quote!(::cnn::__private::scale_by_backward(#n, #len, #by, #dy, #dx);))
    }
}

pub struct Scale {
    c: Option<usize>,
    init: f64,
    /// Its tensor is `[C]` on a map too (the same numbers as `[C, 1, 1]`).
    flat: bool,
    /// One factor, a 0-dimensional tensor, for every element.
    scalar: bool,
    span: Span,
}

impl Scale {
    /// Elements each factor multiplies.
    fn plane(&self, input: Shape) -> usize {
        if self.scalar {
            input.len()
        } else {
            input.plane()
        }
    }
}

impl Layer for Scale {
    fn saves(&self) -> (bool, bool) {
        (true, false)
    }
    fn error_span(&self, e: &ShapeError) -> Option<Span> {
        matches!(e, ShapeError::Size { .. }).then_some(self.span)
    }
    fn infer(&self, input: Shape) -> Inferred {
        if let Shape::Hwc(..) = input {
            return Inferred { output: Some(input), errors: vec![ShapeError::ChannelsLast { input }] };
        }
        let mut inferred = shape::keep_channels(input, self.c);
        if self.scalar && self.flat {
            inferred.errors.push(ShapeError::Own {
                message: "scale(scalar=true) has one factor, which `flat` does not shape".into(),
                hint: Some(
                    "write `scalar=true` for a 0-dimensional factor or `flat=true` for a [C] one, not both".into(),
                ),
            });
        }
        inferred
    }
    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorDef> {
        let shape = match input {
            _ if self.scalar => vec![],
            Shape::Chw(c, ..) if !self.flat => vec![c, 1, 1],
            other => vec![other.channels()],
        };
        vec![TensorDef::new("", shape, InitKind::Const(self.init), Role::Param)]
    }
    fn flops(&self, input: Shape, _output: Shape) -> u128 {
        input.len() as u128
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let (n, w, src, dst, plane) = (cx.n(), &cx.tensors[0], cx.src(), cx.dst(), lit(self.plane(cx.input())));
        quote!(::cnn::__private::scale_forward(#n, #plane, #w, #src, #dst);)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let (n, w, x, dy, plane, g) =
            (cx.n(), &cx.tensors[0], cx.x(), cx.dy(), lit(self.plane(cx.input())), cx.grad(0));
        let dx = grad_input(cx, dx);
        Steps::One(quote!(::cnn::__private::scale_backward(#n, #plane, #w, #x, #dy, #dx, #g);))
    }
}

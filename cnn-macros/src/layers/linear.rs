//! `linear`: `nn.Linear(in_features, out_features, bias)`, on a flat value or, on a channels-last
//! value, at every pixel over the channels (as `nn.Linear` acts on the last dimension).

use super::{grad_bias, grad_input, lit, opt, Cx, Epi, InitKind, Kind, KindDef, Layer, Names, Role, Steps, TensorDef};
use crate::args::{def, ArgKind, Default, Spans};
use crate::shape::{self, Inferred, Shape};
use proc_macro2::{Ident, TokenStream};
use quote::quote;

pub const LINEAR: KindDef = KindDef {
    keeps_shape: false,
    names: &["linear"],
    usage: "linear(in_features, out_features, bias=true), as in `linear(400, 120)`",
    params: &[
        def("in_features", None, ArgKind::CountOrInfer, Default::Required),
        def("out_features", None, ArgKind::Count, Default::Required),
        def("bias", None, ArgKind::Bool, Default::Bool(true)),
    ],
    build: |_, a| {
        Box::new(Linear {
            f_in: a["in_features"].count_or_infer(),
            f_out: a["out_features"].count(),
            bias: a["bias"].flag(),
            spans: a.spans(),
        })
    },
};

/// Input features of one row, and rows per sample: `(len, 1)` flat, `(c, h * w)` channels-last.
fn rows(input: Shape) -> (usize, usize) {
    match input {
        Shape::Hwc(h, w, c) => (c, h * w),
        other => (other.len(), 1),
    }
}

pub struct Linear {
    f_in: Option<usize>,
    f_out: usize,
    bias: bool,
    spans: Spans,
}

impl Layer for Linear {
    fn kind(&self) -> Kind {
        Kind::Linear
    }

    fn saves(&self) -> (bool, bool) {
        (true, false)
    }

    fn error_span(&self, e: &crate::shape::ShapeError) -> Option<proc_macro2::Span> {
        matches!(e, crate::shape::ShapeError::Features { .. }).then(|| self.spans["in_features"])
    }

    fn infer(&self, input: Shape) -> Inferred {
        shape::linear(input, self.f_in, self.f_out)
    }

    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorDef> {
        let (f_in, _) = rows(input);
        let mut t = vec![TensorDef::new("weight", vec![self.f_out, f_in], InitKind::Uniform(f_in), Role::Param)];
        if self.bias {
            t.push(TensorDef::new("bias", vec![self.f_out], InitKind::Uniform(f_in), Role::Param));
        }
        t
    }

    fn flops(&self, input: Shape, _output: Shape) -> u128 {
        let (f_in, rows) = rows(input);
        2 * (f_in * rows) as u128 * self.f_out as u128
    }

    fn geometry(&self, name: &Ident, input: Shape, _output: Shape) -> TokenStream {
        let (fi, fo, rows) = (lit(rows(input).0), lit(self.f_out), lit(rows(input).1));
        quote! {
            impl ::cnn::LinearGeom for #name {
                const SPEC: ::cnn::LinearSpec = ::cnn::LinearSpec { in_features: #fi, out_features: #fo };
                const ROWS_PER_SAMPLE: usize = #rows;
            }
        }
    }

    fn forward(&self, cx: &Cx, epi: &Epi) -> TokenStream {
        let Names { n, src, dst, .. } = cx.names();
        let (g, w, b, act) = (&cx.geom, &cx.tensors[0], opt(cx, self.bias.then_some(1)), &epi.act);
        let rows = lit(rows(cx.input()).1);
        quote!(::cnn::linear_forward::<#g>(#n * #rows, #src, #w, #b, #act, #dst);)
    }

    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let Names { n, x, dy, .. } = cx.names();
        let g0 = cx.grad_if_trained(0);
        let (g, w) = (&cx.geom, &cx.tensors[0]);
        let (dx, gb) = (grad_input(cx, dx), grad_bias(cx, self.bias));
        let rows = lit(rows(cx.input()).1);
        Steps::One(quote!(::cnn::linear_backward::<#g>(#n * #rows, #x, #w, #dy, #dx, #g0, #gb);))
    }
}

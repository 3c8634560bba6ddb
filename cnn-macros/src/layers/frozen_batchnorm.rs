//! `frozen_batchnorm`: torchvision's `ops.FrozenBatchNorm2d`, the batch norm of its detection
//! backbones, whose four tensors are buffers: `x · w / sqrt(running_var + eps) + b - running_mean
//! · that`, in training as at inference (no statistics of the batch, no parameter gradients).

use super::{lit, lit_f32, Cx, Epi, Fold, InitKind, Kind, KindDef, Layer, Names, Role, Steps, TensorDef};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{Inferred, Shape, ShapeError};
use proc_macro2::TokenStream;
use quote::quote;

pub const FROZEN_BATCHNORM: KindDef = KindDef {
    keeps_shape: true,
    names: &["frozen_batchnorm", "frozen_batchnorm2d"],
    usage: "frozen_batchnorm(num_features, eps=1e-5), as in `frozen_batchnorm(64)`",
    params: &[
        def("num_features", None, ArgKind::CountOrInfer, Default::Required),
        def("eps", None, ArgKind::Float { min: 0.0, max: f64::INFINITY }, Default::Float(1e-5)),
    ],
    build: |_, a: &Args| {
        Box::new(FrozenBatchNorm {
            span: a["num_features"].span,
            c: a["num_features"].count_or_infer(),
            eps: a["eps"].float(),
        })
    },
};

pub struct FrozenBatchNorm {
    span: proc_macro2::Span,
    c: Option<usize>,
    eps: f64,
}

impl Fold for FrozenBatchNorm {
    fn fold(&self, cx: &Cx, bias: TokenStream) -> TokenStream {
        let [w, b, rm, rv] = [0, 1, 2, 3].map(|k| &cx.tensors[k]);
        let (c, eps) = (lit(cx.input().channels_plane().0), lit_f32(self.eps));
        quote! {
            ::cnn::__private::batch_norm_fold(
                #c, ::core::option::Option::Some(#w), ::core::option::Option::Some(#b), #rm, #rv, #eps, #bias, scale, shift,
            );
        }
    }
}

impl Layer for FrozenBatchNorm {
    fn kind(&self) -> Kind {
        // Folded into the convolution before it at inference, as a batch norm with running
        // statistics is.
        Kind::BatchNorm
    }

    fn saves(&self) -> (bool, bool) {
        (false, false)
    }

    fn error_span(&self, e: &ShapeError) -> Option<proc_macro2::Span> {
        matches!(e, ShapeError::Channels { .. }).then_some(self.span)
    }

    fn infer(&self, input: Shape) -> Inferred {
        let Shape::Chw(c, ..) = input else {
            return Inferred::fail(crate::shape::not_spatial(input));
        };
        match self.c.filter(|&e| e != c) {
            Some(expected) => {
                Inferred { output: Some(input), errors: vec![ShapeError::Channels { expected, found: c, input }] }
            }
            None => Inferred::ok(input),
        }
    }

    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorDef> {
        let c = input.channels_plane().0;
        vec![
            TensorDef::new("weight", vec![c], InitKind::Ones, Role::Buffer),
            TensorDef::new("bias", vec![c], InitKind::Zeros, Role::Buffer),
            TensorDef::new("running_mean", vec![c], InitKind::Zeros, Role::Buffer),
            TensorDef::new("running_var", vec![c], InitKind::Ones, Role::Buffer),
        ]
    }

    fn scratch(&self, cx: &Cx) -> TokenStream {
        let c = lit(2 * cx.input().channels_plane().0);
        quote!(#c)
    }

    fn folding(&self) -> Option<&dyn Fold> {
        Some(self)
    }

    fn forward(&self, cx: &Cx, epi: &Epi) -> TokenStream {
        let (c, pixels) = cx.input().channels_plane();
        let (cs, plane, act) = (lit(c), lit(pixels), &epi.act);
        let Names { n, src, dst, work, .. } = cx.names();
        let fold = Fold::fold(self, cx, quote!(::core::option::Option::None));
        quote! {
            let (scale, shift) = (#work)[..2 * #cs].split_at_mut(#cs);
            #fold
            ::cnn::__private::scale_shift(#n, #cs, #plane, #src, scale, shift, #act, #dst);
        }
    }

    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let Some(acc) = dx else { return Steps::One(TokenStream::new()) };
        let (c, plane) = cx.input().channels_plane();
        let [w, rv] = [0, 3].map(|k| &cx.tensors[k]);
        let (c, plane, eps) = (lit(c), lit(plane), lit_f32(self.eps));
        let Names { n, dy, dx, .. } = cx.names();
        Steps::One(
            quote!(::cnn::__private::frozen_batch_norm_backward(#n, #c, #plane, ::core::option::Option::Some(#w), #rv, #eps, #dy, #dx, #acc);),
        )
    }
}

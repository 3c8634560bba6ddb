//! `dropout(p)` (`nn.Dropout`) and `dropout2d(p)` (`nn.Dropout2d`, whole channels); the layer
//! that also runs `stochastic_depth` (whole samples, or the whole batch).

use super::{lit, lit_f32, Cx, Epi, Kind, KindDef, Layer, Steps};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{Inferred, Shape};
use proc_macro2::TokenStream;
use quote::quote;

pub const DROPOUT: KindDef = KindDef {
    keeps_shape: true,
    names: &["dropout"],
    usage: "dropout(p=0.5), as in `dropout(0.2)`",
    params: &[
        def("p", None, ArgKind::Float { min: 0.0, max: 1.0 }, Default::Float(0.5)),
        def("inplace", None, ArgKind::Bool, Default::Bool(false)),
    ],
    build: |_, a: &Args| Box::new(Dropout { p: a["p"].float(), mask: Mask::Elements }),
};

pub const DROPOUT2D: KindDef = KindDef {
    keeps_shape: true,
    names: &["dropout2d"],
    usage: "dropout2d(p=0.5), as in `dropout2d(0.1)`",
    params: &[
        def("p", None, ArgKind::Float { min: 0.0, max: 1.0 }, Default::Float(0.5)),
        def("inplace", None, ArgKind::Bool, Default::Bool(false)),
    ],
    build: |_, a: &Args| Box::new(Dropout { p: a["p"].float(), mask: Mask::Channels }),
};

/// What one draw keeps or drops.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// Each element (`nn.Dropout`).
    Elements,
    /// Each channel's map (`nn.Dropout2d`).
    Channels,
    /// Each sample (`StochasticDepth(p, "row")`).
    Rows,
    /// The whole batch at once (`StochasticDepth(p, "batch")`).
    Batch,
}

/// Zeroes what `mask` says with probability `p` in train mode, scaling the rest by `1 / (1 - p)`;
/// the identity in eval mode.
pub struct Dropout {
    pub p: f64,
    pub mask: Mask,
}

impl Dropout {
    /// The code of one masked pass from `from` to `to` (forward: `src` to `dst`; backward: `dy`
    /// to `dx`).
    fn pass(&self, cx: &Cx, from: TokenStream, to: TokenStream, acc: bool) -> TokenStream {
        let len = cx.input().len();
        let (p, key, n, first, eval) = (lit_f32(self.p), cx.mask_key(), cx.n(), cx.first(), cx.eval());
        // Eval mode keeps every unit: a probability of 0 scales by exactly 1.
        let p = quote!(if #eval { 0.0 } else { #p });
        let unit = match (self.mask, cx.input()) {
            (Mask::Batch, _) => {
                let len = lit(len);
                return quote!(::cnn::__private::stochastic_depth(#n, #first, #len, #p, true, #key, #from, #to, #acc););
            }
            (Mask::Rows, _) => len,
            (Mask::Channels, Shape::Chw(_, h, w)) => h * w,
            _ => 1,
        };
        let (len, unit) = (lit(len), lit(unit));
        quote! {
            ::cnn::__private::dropout(#n, #first, #len, #unit, #p, #key, #from, #to, #acc);
        }
    }
}

impl Layer for Dropout {
    fn kind(&self) -> Kind {
        Kind::Dropout
    }

    fn saves(&self) -> (bool, bool) {
        // The mask is drawn again from its key.
        (false, false)
    }
    fn infer(&self, input: Shape) -> Inferred {
        if self.mask == Mask::Channels && !matches!(input, Shape::Chw(..)) {
            return Inferred { output: Some(input), errors: vec![crate::shape::not_spatial(input)] };
        }
        Inferred::ok(input)
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let (src, dst) = (cx.src(), cx.dst());
        quote!(#dst.copy_from_slice(#src);)
    }
    fn train_forward(&self, cx: &Cx) -> Steps {
        Steps::One(self.pass(cx, cx.src(), cx.dst(), false))
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        Steps::One(match dx {
            Some(acc) => self.pass(cx, cx.dy(), cx.dx(), acc),
            None => TokenStream::new(),
        })
    }
}

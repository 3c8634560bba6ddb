//! `dropout(p)` (`nn.Dropout`) and `dropout2d(p)` (`nn.Dropout2d`, whole channels).

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
    build: |_, a: &Args| Box::new(Dropout { p: a["p"].float(), channels: false }),
};

pub const DROPOUT2D: KindDef = KindDef {
    keeps_shape: true,
    names: &["dropout2d"],
    usage: "dropout2d(p=0.5), as in `dropout2d(0.1)`",
    params: &[
        def("p", None, ArgKind::Float { min: 0.0, max: 1.0 }, Default::Float(0.5)),
        def("inplace", None, ArgKind::Bool, Default::Bool(false)),
    ],
    build: |_, a: &Args| Box::new(Dropout { p: a["p"].float(), channels: true }),
};

pub struct Dropout {
    p: f64,
    channels: bool,
}

impl Dropout {
    /// The code of one masked pass from `from` to `to` (forward: `src` to `dst`; backward: `dy`
    /// to `dx`).
    fn pass(&self, cx: &Cx, from: TokenStream, to: TokenStream, acc: bool) -> TokenStream {
        let len = cx.input.len();
        let unit = match (self.channels, cx.input) {
            (true, Shape::Chw(_, h, w)) => h * w,
            _ => 1,
        };
        let (len, unit, p, key) = (lit(len), lit(unit), lit_f32(self.p), cx.mask_key());
        let (n, first) = (cx.n(), cx.first());
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
        if self.channels && !matches!(input, Shape::Chw(..)) {
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

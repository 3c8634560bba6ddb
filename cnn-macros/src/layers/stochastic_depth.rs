//! `stochastic_depth(p, mode=row)` (`torchvision.ops.StochasticDepth(p, mode)`): the identity in
//! eval mode; in train mode each sample's value (`row`) or the batch's (`batch`) is dropped with
//! probability `p` and the survivors scaled by `1 / (1 - p)`, with draws from the dropout
//! generator (seed, step, layer, sample).

use super::{lit, lit_f32, Cx, Epi, Kind, KindDef, Layer, Steps};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{Inferred, Shape};
use proc_macro2::TokenStream;
use quote::quote;

pub const STOCHASTIC_DEPTH: KindDef = KindDef {
    keeps_shape: true,
    names: &["stochastic_depth"],
    usage: "stochastic_depth(p, mode=row), as in `stochastic_depth(0.1, mode=row)`",
    params: &[
        def("p", None, ArgKind::Float { min: 0.0, max: 1.0 }, Default::Required),
        def("mode", None, ArgKind::Word(&["row", "batch"]), Default::Word("row")),
    ],
    build: |_, a: &Args| Box::new(StochasticDepth { p: a["p"].float(), batch: a["mode"].word() == "batch" }),
};

pub struct StochasticDepth {
    p: f64,
    batch: bool,
}

impl StochasticDepth {
    fn pass(&self, cx: &Cx, from: TokenStream, to: TokenStream, acc: bool) -> TokenStream {
        let (n, first, len, p, batch, key) =
            (cx.n(), cx.first(), lit(cx.input.len()), lit_f32(self.p), self.batch, cx.mask_key());
        quote!(::cnn::__private::stochastic_depth(#n, #first, #len, #p, #batch, #key, #from, #to, #acc);)
    }
}

impl Layer for StochasticDepth {
    fn kind(&self) -> Kind {
        // The identity at inference, as dropout.
        Kind::Dropout
    }
    fn saves(&self) -> (bool, bool) {
        // The draws are made again from their key.
        (false, false)
    }
    fn infer(&self, input: Shape) -> Inferred {
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

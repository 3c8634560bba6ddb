//! `permute(0, 2, 3, 1)` and `permute(0, 3, 1, 2)` (`torchvision.ops.Permute`): a value becomes
//! channels-last (`[H, W, C]`, where `linear` and `layernorm` act on the channels of each pixel)
//! and back. Any other order is an error.

use super::{lit, Cx, Epi, KindDef, Layer, Steps};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{Inferred, Shape, ShapeError};
use proc_macro2::TokenStream;
use quote::quote;

const DIM: ArgKind = ArgKind::Padding;

pub const PERMUTE: KindDef = KindDef {
    keeps_shape: false,
    names: &["permute"],
    usage: "permute(0, 2, 3, 1) to channels-last, permute(0, 3, 1, 2) back",
    params: &[
        def("d0", None, DIM, Default::Required),
        def("d1", None, DIM, Default::Required),
        def("d2", None, DIM, Default::Required),
        def("d3", None, DIM, Default::Required),
    ],
    build: |_, a: &Args| {
        Box::new(Permute { dims: [a["d0"].count(), a["d1"].count(), a["d2"].count(), a["d3"].count()] })
    },
};

pub struct Permute {
    dims: [usize; 4],
}

impl Permute {
    /// `(rows, cols)` of each sample's transpose.
    fn matrix(&self, input: Shape) -> (usize, usize) {
        match input {
            Shape::Chw(c, h, w) => (c, h * w),
            Shape::Hwc(h, w, c) => (h * w, c),
            Shape::Flat(n, _) => (n, 1),
            Shape::Cl(c, l) => (c, l),
        }
    }
    fn run(&self, cx: &Cx, x: TokenStream, y: TokenStream, back: bool, acc: bool) -> TokenStream {
        let (mut rows, mut cols) = self.matrix(cx.input());
        if back {
            std::mem::swap(&mut rows, &mut cols);
        }
        let (n, rows, cols) = (cx.n(), lit(rows), lit(cols));
        quote!(::cnn::__private::transpose(#n, #rows, #cols, 1, #x, #y, #acc);)
    }
}

impl Layer for Permute {
    fn explain(&self, layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        Some(match e {
            ShapeError::Permute { dims, input } => {
                let d = dims.map(|d| d.to_string()).join(", ");
                let hint = match input {
                    Shape::Hwc(..) => "the value is channels-last: `permute(0, 3, 1, 2)` turns it back",
                    Shape::Chw(..) => {
                        "on a [channels, height, width] value write `permute(0, 2, 3, 1)` for channels-last"
                    }
                    Shape::Flat(..) => "a flat value has no axes to permute",
                    Shape::Cl(..) => "a [channels, length] value has no layout to switch",
                };
                (format!("{layer}({d}) does not apply to {input}"), Some(hint.into()))
            }
            _ => return None,
        })
    }

    fn saves(&self) -> (bool, bool) {
        (false, false)
    }
    fn infer(&self, input: Shape) -> Inferred {
        match (self.dims, input) {
            ([0, 2, 3, 1], Shape::Chw(c, h, w)) => Inferred::ok(Shape::Hwc(h, w, c)),
            ([0, 3, 1, 2], Shape::Hwc(h, w, c)) => Inferred::ok(Shape::Chw(c, h, w)),
            (dims, input) => Inferred::fail(ShapeError::Permute { dims, input }),
        }
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        self.run(cx, cx.src(), cx.dst(), false, false)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        Steps::One(match dx {
            Some(acc) => self.run(cx, cx.dy(), cx.dx(), true, acc),
            None => TokenStream::new(),
        })
    }
}

//! `pixel_shuffle(r)` and `pixel_unshuffle(r)` (`nn.PixelShuffle`, `nn.PixelUnshuffle`):
//! `[C·r², H, W]` to `[C, H·r, W·r]` and back, the sub-pixel upsampling of super-resolution.

use super::{lit, Cx, Epi, KindDef, Layer, Steps};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{self, Inferred, Shape, ShapeError};
use proc_macro2::{Span, TokenStream};
use quote::quote;

pub const PIXEL_SHUFFLE: KindDef = KindDef {
    keeps_shape: false,
    names: &["pixel_shuffle"],
    usage: "pixel_shuffle(upscale_factor), as in `pixel_shuffle(2)`",
    params: &[def("upscale_factor", Some("r"), ArgKind::Count, Default::Required)],
    build: |_, a: &Args| {
        Box::new(PixelShuffle { r: a["upscale_factor"].count(), unshuffle: false, span: a["upscale_factor"].span })
    },
};

pub const PIXEL_UNSHUFFLE: KindDef = KindDef {
    keeps_shape: false,
    names: &["pixel_unshuffle"],
    usage: "pixel_unshuffle(downscale_factor), as in `pixel_unshuffle(2)`",
    params: &[def("downscale_factor", Some("r"), ArgKind::Count, Default::Required)],
    build: |_, a: &Args| {
        Box::new(PixelShuffle { r: a["downscale_factor"].count(), unshuffle: true, span: a["downscale_factor"].span })
    },
};

pub struct PixelShuffle {
    r: usize,
    unshuffle: bool,
    span: Span,
}

impl PixelShuffle {
    /// Code moving `x` to `y`; `back` for the backward pass, which is the other rearrangement.
    fn run(&self, cx: &Cx, x: TokenStream, y: TokenStream, back: bool, acc: bool) -> TokenStream {
        // The kernel's `(c, h, w)` are the small side's: `[c·r², h, w]`.
        let small = if self.unshuffle { cx.output } else { cx.input() };
        let Shape::Chw(c, h, w) = small else { return TokenStream::new() };
        let c = c / (self.r * self.r);
        let (n, c, h, w, r) = (cx.n(), lit(c), lit(h), lit(w), lit(self.r));
        let unshuffle = self.unshuffle != back;
        quote!(::cnn::pixel_shuffle(#n, #c, #h, #w, #r, #x, #y, #unshuffle, #acc);)
    }
}

impl Layer for PixelShuffle {
    fn explain(&self, layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        Some(match e {
            ShapeError::Indivisible { what, size, by, input } => (
                format!("{layer} needs a {what} divisible by {by}, but the input's is {size} (shape {input})"),
                Some(format!("make the {what} a multiple of {by}, or use a factor that divides it")),
            ),
            _ => return None,
        })
    }

    fn saves(&self) -> (bool, bool) {
        (false, false)
    }
    fn error_span(&self, e: &ShapeError) -> Option<Span> {
        matches!(e, ShapeError::Divide { .. } | ShapeError::Indivisible { .. }).then_some(self.span)
    }
    fn infer(&self, input: Shape) -> Inferred {
        shape::pixel_shuffle(input, self.r, self.unshuffle)
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

//! `zeropad`, `reflectionpad`, `replicationpad`, `circularpad` (`nn.ZeroPad2d`,
//! `nn.ReflectionPad2d`, `nn.ReplicationPad2d`, `nn.CircularPad2d`): one number for every side,
//! or four as PyTorch orders them, `(left, right, top, bottom)`.

use super::{lit, Cx, Epi, KindDef, Layer, Steps};
use crate::args::{def, ArgKind, Args, Default, ParamDef};
use crate::shape::{self, Inferred, Shape, ShapeError};
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

const SIDES: &[ParamDef] = &[
    def("left", None, ArgKind::Padding, Default::Required),
    def("right", None, ArgKind::Padding, Default::SameAs(0)),
    def("top", None, ArgKind::Padding, Default::SameAs(0)),
    def("bottom", None, ArgKind::Padding, Default::SameAs(0)),
];

macro_rules! pad_kind {
    ($name:ident, $words:expr, $mode:literal, $usage:literal) => {
        pub const $name: KindDef = KindDef {
            keeps_shape: false,
            names: $words,
            usage: $usage,
            params: SIDES,
            build: |_, a: &Args| Box::new(Pad::new(a, $mode)),
        };
    };
}

pad_kind!(
    ZEROPAD,
    &["zeropad", "zeropad2d"],
    "zeros",
    "zeropad(padding) or zeropad(left, right, top, bottom), as in `zeropad(1)`"
);
pad_kind!(
    REFLECTIONPAD,
    &["reflectionpad", "reflectionpad2d"],
    "reflect",
    "reflectionpad(padding) or reflectionpad(left, right, top, bottom), as in `reflectionpad(1)`"
);
pad_kind!(
    REPLICATIONPAD,
    &["replicationpad", "replicationpad2d"],
    "replicate",
    "replicationpad(padding) or replicationpad(left, right, top, bottom), as in `replicationpad(1)`"
);
pad_kind!(
    CIRCULARPAD,
    &["circularpad", "circularpad2d"],
    "circular",
    "circularpad(padding) or circularpad(left, right, top, bottom), as in `circularpad(1)`"
);

/// The runtime's `PadMode` variant for a PyTorch `padding_mode` word.
fn mode_variant(mode: &str) -> Ident {
    let v = match mode {
        "reflect" => "Reflect",
        "replicate" => "Replicate",
        "circular" => "Circular",
        _ => "Zeros",
    };
    Ident::new(v, Span::call_site())
}

/// The runtime's `PadSpec` for `[c, h, w]` padded by `[left, right, top, bottom]`, as a
/// constant expression.
pub fn spec(input: Shape, padding: [usize; 4], mode: &str) -> TokenStream {
    let Shape::Chw(c, h, w) = input else { return TokenStream::new() };
    let [c, h, w] = [c, h, w].map(lit);
    let [l, r, t, b] = padding.map(lit);
    let mode = mode_variant(mode);
    quote!(&::cnn::PadSpec { c: #c, h: #h, w: #w, left: #l, right: #r, top: #t, bottom: #b, mode: ::cnn::PadMode::#mode })
}

pub struct Pad {
    padding: [usize; 4],
    mode: &'static str,
    span: Span,
}

impl Pad {
    fn new(a: &Args, mode: &'static str) -> Self {
        let side = |k: &str| a[k].count();
        Pad { padding: [side("left"), side("right"), side("top"), side("bottom")], mode, span: a["left"].span }
    }
}

impl Layer for Pad {
    fn explain(&self, layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        explain(layer, e)
    }

    fn saves(&self) -> (bool, bool) {
        (false, false)
    }
    fn error_span(&self, e: &ShapeError) -> Option<Span> {
        matches!(e, ShapeError::PadTooLarge { .. }).then_some(self.span)
    }
    fn infer(&self, input: Shape) -> Inferred {
        shape::pad2d(input, self.padding, self.mode)
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let (spec, n, src, dst) = (spec(cx.input(), self.padding, self.mode), cx.n(), cx.src(), cx.dst());
        quote!(::cnn::pad2d_forward(#spec, #n, #src, #dst);)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let Some(acc) = dx else { return Steps::One(TokenStream::new()) };
        let (spec, n, dy, dx) = (spec(cx.input(), self.padding, self.mode), cx.n(), cx.dy(), cx.dx());
        Steps::One(quote!(::cnn::pad2d_backward(#spec, #n, #dy, #dx, #acc);))
    }
}

/// The wording of a padding too large for its mode: this layer's, and a convolution's whose
/// `padding_mode` pads apart.
pub fn explain(layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
    Some(match e {
        ShapeError::PadTooLarge { mode, padding, input, inclusive } => {
            let [l, r, t, b] = padding;
            let limit = if *inclusive { "at most" } else { "smaller than" };
            (
                    format!(
                        "{layer} padding (left {l}, right {r}, top {t}, bottom {b}) must be {limit} the input's width and height (shape {input})"
                    ),
                    Some(format!("{mode} padding reads the map itself, as in PyTorch: pad less, or use zero padding")),
                )
        }
        _ => return None,
    })
}

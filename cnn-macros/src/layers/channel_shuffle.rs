//! `channel_shuffle(g)` (`nn.ChannelShuffle(g)`): channels viewed as `[g, C/g]` and read out as
//! `[C/g, g]`, each channel's map moving whole.

use super::{lit, Cx, Epi, KindDef, Layer, Steps};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{Inferred, Shape, ShapeError};
use proc_macro2::{Span, TokenStream};
use quote::quote;

pub const CHANNEL_SHUFFLE: KindDef = KindDef {
    keeps_shape: true,
    names: &["channel_shuffle"],
    usage: "channel_shuffle(groups), as in `channel_shuffle(2)`",
    params: &[def("groups", Some("g"), ArgKind::Count, Default::Required)],
    build: |_, a: &Args| Box::new(ChannelShuffle { groups: a["groups"].count(), span: a["groups"].span }),
};

pub struct ChannelShuffle {
    groups: usize,
    span: Span,
}

impl ChannelShuffle {
    fn run(&self, cx: &Cx, x: TokenStream, y: TokenStream, back: bool, acc: bool) -> TokenStream {
        let (c, plane) = (cx.input().channels(), cx.input().plane());
        let (mut rows, mut cols) = (self.groups, c / self.groups);
        if back {
            std::mem::swap(&mut rows, &mut cols);
        }
        let (n, rows, cols, plane) = (cx.n(), lit(rows), lit(cols), lit(plane));
        quote!(::cnn::__private::transpose(#n, #rows, #cols, #plane, #x, #y, #acc);)
    }
}

impl Layer for ChannelShuffle {
    fn saves(&self) -> (bool, bool) {
        (false, false)
    }
    fn error_span(&self, e: &ShapeError) -> Option<Span> {
        matches!(e, ShapeError::Divide { .. }).then_some(self.span)
    }
    fn infer(&self, input: Shape) -> Inferred {
        let Shape::Chw(c, ..) = input else {
            return Inferred { output: Some(input), errors: vec![crate::shape::not_spatial(input)] };
        };
        if c % self.groups != 0 {
            let e = ShapeError::Divide { channels: c, parts: self.groups, what: "groups" };
            return Inferred { output: Some(input), errors: vec![e] };
        }
        Inferred::ok(input)
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

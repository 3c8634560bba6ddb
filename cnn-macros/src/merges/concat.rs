//! Concatenation along channels (features of a flat value): `cat { ... }`, `dense { ... }` and
//! the join of `split { ... }`. Each sample's output is its inputs' samples one after another,
//! since channels are the outermost axis of a sample.

use crate::layers::{lit, Cx, Epi, Kind, Layer, Steps};
use crate::shape::{Inferred, Shape, ShapeError};
use proc_macro2::TokenStream;
use quote::quote;

pub struct Concat;

impl Concat {
    /// Per-sample offsets and lengths of each input inside the output.
    fn parts(cx: &Cx) -> Vec<(usize, usize)> {
        let mut at = 0;
        cx.inputs
            .iter()
            .map(|s| {
                let part = (at, s.len());
                at += s.len();
                part
            })
            .collect()
    }

    fn copy_in(cx: &Cx) -> TokenStream {
        let (n, dst, total) = (cx.n(), cx.dst(), lit(cx.output.len()));
        let parts = Concat::parts(cx)
            .into_iter()
            .enumerate()
            .filter(|&(k, _)| !cx.placed.get(k).copied().unwrap_or(false))
            .map(|(k, (at, len))| {
                let (src, at, len) = (cx.src_at(k), lit(at), lit(len));
                quote!(::cnn::__private::copy_block(#n, #src, (#len, 0), #dst, (#total, #at), #len, false);)
            });
        quote!(#(#parts)*)
    }
}

impl Layer for Concat {
    fn kind(&self) -> Kind {
        Kind::Concat
    }
    fn saves(&self) -> (bool, bool) {
        (false, false)
    }
    fn infer(&self, input: Shape) -> Inferred {
        Inferred::ok(input)
    }
    fn infer_inputs(&self, inputs: &[Shape]) -> Inferred {
        let first = inputs[0];
        if let Shape::Hwc(..) = first {
            return Inferred::fail(ShapeError::ChannelsLast { input: first });
        }
        let mut errors = Vec::new();
        let mut channels = 0usize;
        for (branch, &this) in inputs.iter().enumerate() {
            let same_rest = match (first, this) {
                (Shape::Chw(_, h, w), Shape::Chw(_, h2, w2)) => (h, w) == (h2, w2),
                (Shape::Flat(..), Shape::Flat(..)) => true,
                (Shape::Cl(_, l), Shape::Cl(_, l2)) => l == l2,
                _ => false,
            };
            if !same_rest {
                let how = "all dimensions but the channels must agree";
                errors.push(ShapeError::Join { branch, first, this, how });
            }
            channels = channels.saturating_add(this.channels());
        }
        if !errors.is_empty() {
            return Inferred { output: None, errors };
        }
        match crate::shape::checked_len(&[channels, first.plane()], "output") {
            Ok(_) => Inferred::ok(first.with_channels(channels)),
            Err(e) => Inferred::fail(e),
        }
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        Concat::copy_in(cx)
    }
    fn backward(&self, _cx: &Cx, _dx: Option<bool>) -> Steps {
        Steps::One(TokenStream::new())
    }
    fn per_input_backward(&self) -> bool {
        true
    }
    fn backward_input(&self, cx: &Cx, k: usize, acc: bool) -> TokenStream {
        let (at, len) = Concat::parts(cx)[k];
        let (n, dy, dx, total, at, len) = (cx.n(), cx.dy(), cx.dx(), lit(cx.output.len()), lit(at), lit(len));
        quote!(::cnn::__private::copy_block(#n, #dy, (#total, #at), #dx, (#len, 0), #len, #acc);)
    }
}

//! The element-wise sum of a merge's inputs: a `residual` block's `body(x) + x` (or
//! `+ shortcut(x)`) and a `sum { ... }` block's branches. An activation after it runs in its
//! epilogue at inference.

use crate::layers::{Cx, Epi, InPlace, Kind, Layer, Steps};
use crate::shape::{Inferred, Shape};
use proc_macro2::TokenStream;
use quote::quote;

pub struct Add;

impl Add {
    fn sum(cx: &Cx, act: &TokenStream) -> TokenStream {
        let srcs = (0..cx.inputs.len()).map(|k| cx.src_at(k));
        let dst = cx.dst();
        quote!(::cnn::__private::add_forward(&[#(#srcs),*], #dst, #act);)
    }
}

impl InPlace for Add {
    fn forward_in_place(&self, cx: &Cx, epi: &Epi) -> TokenStream {
        // The first input's memory is the output's; the others are added to it.
        let others = (1..cx.inputs.len()).map(|k| cx.src_at(k));
        let (dst, act) = (cx.dst(), &epi.act);
        quote!(::cnn::__private::add_in_place(#dst, &[#(#others),*], #act);)
    }
}

impl Layer for Add {
    fn kind(&self) -> Kind {
        Kind::Add
    }
    fn saves(&self) -> (bool, bool) {
        (false, false)
    }
    fn infer(&self, input: Shape) -> Inferred {
        Inferred::ok(input)
    }
    fn infer_inputs(&self, inputs: &[Shape]) -> Inferred {
        super::same_shape(inputs, "a sum needs one shape")
    }
    fn forward(&self, cx: &Cx, epi: &Epi) -> TokenStream {
        Add::sum(cx, &epi.act)
    }
    fn in_place(&self) -> Option<&dyn InPlace> {
        Some(self)
    }
    fn backward(&self, _cx: &Cx, _dx: Option<bool>) -> Steps {
        Steps::One(TokenStream::new())
    }
    fn per_input_backward(&self) -> bool {
        true
    }
    fn backward_input(&self, cx: &Cx, _k: usize, acc: bool) -> TokenStream {
        let (dy, dx) = (cx.dy(), cx.dx());
        quote!(::cnn::__private::pass_gradient(#dy, #dx, #acc);)
    }
}

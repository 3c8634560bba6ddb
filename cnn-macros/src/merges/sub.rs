//! The difference of a `sub { a b }` block's two branches, element by element.

use crate::layers::{Cx, Epi, Layer, Steps};
use crate::shape::{Inferred, Shape};
use proc_macro2::TokenStream;
use quote::quote;

pub struct Sub;

impl Layer for Sub {
    fn saves(&self) -> (bool, bool) {
        (false, false)
    }
    fn infer(&self, input: Shape) -> Inferred {
        Inferred::ok(input)
    }
    fn infer_inputs(&self, inputs: &[Shape]) -> Inferred {
        super::same_shape(inputs, "a difference needs one shape")
    }
    fn forward(&self, cx: &Cx, epi: &Epi) -> TokenStream {
        let (a, b, dst, act) = (cx.src_at(0), cx.src_at(1), cx.dst(), &epi.act);
        quote!(::cnn::__private::sub_forward(#a, #b, #dst, #act);)
    }
    fn backward(&self, _cx: &Cx, _dx: Option<bool>) -> Steps {
        Steps::One(TokenStream::new())
    }
    fn per_input_backward(&self) -> bool {
        true
    }
    fn backward_input(&self, cx: &Cx, k: usize, acc: bool) -> TokenStream {
        let (dy, dx) = (cx.dy(), cx.dx());
        if k == 0 {
            quote!(::cnn::__private::pass_gradient(#dy, #dx, #acc);)
        } else {
            quote!(::cnn::__private::pass_negated_gradient(#dy, #dx, #acc);)
        }
    }
}

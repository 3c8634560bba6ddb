//! The product of a `gate { body }` block: `x * body(x)`, the body's `[C, 1, 1]` output broadcast
//! over each channel's map (squeeze-and-excitation), or an element-wise product when the body
//! keeps `x`'s shape.

use crate::layers::{lit, Cx, Epi, Layer, Steps};
use crate::shape::{Inferred, Shape, ShapeError};
use proc_macro2::TokenStream;
use quote::quote;

pub struct Mul;

/// Elements of `x` each gate value multiplies.
fn group(cx: &Cx) -> usize {
    cx.inputs[0].len() / cx.inputs[1].len().max(1)
}

impl Layer for Mul {
    fn explain(&self, layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        Some(match e {
            ShapeError::Gate { input, body } if layer == "mul" => (
                format!("mul's second branch outputs {body}, which neither is [{}, 1, 1] nor the first branch's shape {input}", input.channels()),
                Some("end the second branch in one value per channel (`adaptive_avgpool(1)`), or in the first's shape".into()),
            ),
            ShapeError::Gate { input, body } => (
                format!("gate's body outputs {body}, which neither is [{}, 1, 1] nor the input's shape {input}", input.channels()),
                Some("end the body in one value per channel, as squeeze-and-excitation does with `adaptive_avgpool(1)`".into()),
            ),
            _ => return None,
        })
    }

    fn saves(&self) -> (bool, bool) {
        (true, false)
    }
    fn infer(&self, input: Shape) -> Inferred {
        Inferred::ok(input)
    }
    fn infer_inputs(&self, inputs: &[Shape]) -> Inferred {
        let (input, body) = (inputs[0], inputs[1]);
        let fits = body == input
            || matches!((input, body), (Shape::Chw(c, ..), Shape::Chw(g, 1, 1)) if c == g)
            || matches!((input, body), (Shape::Chw(c, ..), Shape::Flat(g, _)) if c == g);
        if fits {
            Inferred::ok(input)
        } else {
            Inferred { output: Some(input), errors: vec![ShapeError::Gate { input, body }] }
        }
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let (n, x, s, dst, group) = (cx.n(), cx.src_at(0), cx.src_at(1), cx.dst(), lit(group(cx)));
        quote!(::cnn::__private::gate_forward(#n, #x, #s, #group, #dst);)
    }
    fn backward(&self, _cx: &Cx, _dx: Option<bool>) -> Steps {
        Steps::One(TokenStream::new())
    }
    fn per_input_backward(&self) -> bool {
        true
    }
    fn backward_input(&self, cx: &Cx, k: usize, acc: bool) -> TokenStream {
        let (n, x, s, dy, dx, group) = (cx.n(), cx.x_at(0), cx.x_at(1), cx.dy(), cx.dx(), lit(group(cx)));
        if k == 0 {
            quote!(::cnn::__private::gate_backward_input(#n, #s, #group, #dy, #dx, #acc);)
        } else {
            quote!(::cnn::__private::gate_backward_gate(#n, #x, #group, #dy, #dx, #acc);)
        }
    }
}

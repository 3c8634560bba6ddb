//! Pooling: `maxpool` / `pool` (`nn.MaxPool2d`), `avgpool` (`nn.AvgPool2d`), their adaptive
//! forms and `global_avgpool` (`nn.AdaptiveAvgPool2d(1)`).

use super::{lit, Cx, Epi, KindDef, Layer, Steps};
use crate::args::{def, Arg, ArgKind, Default};
use crate::shape::{self, Hw, Inferred, Shape};
use proc_macro2::{Ident, TokenStream};
use quote::quote;

pub const MAXPOOL: KindDef = KindDef {
    keeps_shape: false,
    names: &["maxpool", "pool"],
    usage: "maxpool(kernel_size, stride, padding, ceil_mode=false), as in `maxpool(2)` or `maxpool(3, 2, p=1)`",
    params: &[
        def("kernel_size", Some("k"), ArgKind::Size, Default::Required),
        def("stride", Some("s"), ArgKind::Size, Default::SameAs(0)),
        def("padding", Some("p"), ArgKind::Padding, Default::Int(0)),
        def("ceil_mode", None, ArgKind::Bool, Default::Bool(false)),
    ],
    build: |_, a| Box::new(Pool { op: Op::Max, k: a[0].pair(), s: a[1].pair(), p: a[2].pair(), ceil: a[3].flag(), count_include_pad: true, args: a.to_vec() }),
};

pub const AVGPOOL: KindDef = KindDef {
    keeps_shape: false,
    names: &["avgpool"],
    usage: "avgpool(kernel_size, stride, padding, ceil_mode=false, count_include_pad=true), as in `avgpool(2)`",
    params: &[
        def("kernel_size", Some("k"), ArgKind::Size, Default::Required),
        def("stride", Some("s"), ArgKind::Size, Default::SameAs(0)),
        def("padding", Some("p"), ArgKind::Padding, Default::Int(0)),
        def("ceil_mode", None, ArgKind::Bool, Default::Bool(false)),
        def("count_include_pad", None, ArgKind::Bool, Default::Bool(true)),
    ],
    build: |_, a| Box::new(Pool { op: Op::Avg, k: a[0].pair(), s: a[1].pair(), p: a[2].pair(), ceil: a[3].flag(), count_include_pad: a[4].flag(), args: a.to_vec() }),
};

pub const ADAPTIVE_AVGPOOL: KindDef = KindDef {
    keeps_shape: false,
    names: &["adaptive_avgpool"],
    usage: "adaptive_avgpool(output_size), as in `adaptive_avgpool(1)` or `adaptive_avgpool((2, 3))`",
    params: &[def("output_size", None, ArgKind::Size, Default::Required)],
    build: |_, a| Box::new(Adaptive { op: Op::Avg, size: a[0].pair() }),
};

pub const ADAPTIVE_MAXPOOL: KindDef = KindDef {
    keeps_shape: false,
    names: &["adaptive_maxpool"],
    usage: "adaptive_maxpool(output_size), as in `adaptive_maxpool(1)` or `adaptive_maxpool((2, 3))`",
    params: &[def("output_size", None, ArgKind::Size, Default::Required)],
    build: |_, a| Box::new(Adaptive { op: Op::Max, size: a[0].pair() }),
};

pub const GLOBAL_AVGPOOL: KindDef = KindDef {
    keeps_shape: false,
    names: &["global_avgpool"],
    usage: "global_avgpool",
    params: &[],
    build: |_, _| Box::new(Adaptive { op: Op::Avg, size: (1, 1) }),
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Max,
    Avg,
}

pub struct Pool {
    op: Op,
    k: Hw,
    s: Hw,
    p: Hw,
    ceil: bool,
    count_include_pad: bool,
    pub args: Vec<Arg>,
}

pub struct Adaptive {
    op: Op,
    size: Hw,
}

/// The geometry impl of a pooling layer.
#[allow(clippy::too_many_arguments)]
fn geometry(name: &Ident, input: Shape, output: Shape, k: Hw, s: Hw, p: Hw, adaptive: bool, count_include_pad: bool) -> TokenStream {
    let (Shape::Chw(c, h, w), Shape::Chw(_, ho, wo)) = (input, output) else { return TokenStream::new() };
    let [c, h, w, ho, wo, kh, kw, sh, sw, ph, pw] = [c, h, w, ho, wo, k.0, k.1, s.0, s.1, p.0, p.1].map(lit);
    quote! {
        impl ::cnn::Pool2dGeom for #name {
            const SPEC: ::cnn::Pool2dSpec = ::cnn::Pool2dSpec {
                c: #c, h_in: #h, w_in: #w, h_out: #ho, w_out: #wo, kh: #kh, kw: #kw, sh: #sh, sw: #sw, ph: #ph, pw: #pw,
                adaptive: #adaptive, count_include_pad: #count_include_pad,
            };
        }
    }
}

fn forward(op: Op, cx: &Cx) -> TokenStream {
    let g = &cx.geom;
    match op {
        Op::Max => quote!(::cnn::max_pool2d_forward::<#g>(n, src, dst);),
        Op::Avg => quote!(::cnn::avg_pool2d_forward::<#g>(n, src, dst);),
    }
}

fn train_forward(op: Op, cx: &Cx) -> Steps {
    let g = &cx.geom;
    let (at, len) = (lit(cx.argmax_at), lit(cx.output.len()));
    Steps::One(match op {
        Op::Max => quote!(::cnn::max_pool2d_forward_argmax::<#g>(m, src, dst, ::cnn::__private::region_mut(&mut *t.argmax, m, #at, #len));),
        Op::Avg => quote!(::cnn::avg_pool2d_forward::<#g>(m, src, dst);),
    })
}

fn backward(op: Op, cx: &Cx, dx: Option<bool>) -> Steps {
    let g = &cx.geom;
    let (at, len) = (lit(cx.argmax_at), lit(cx.output.len()));
    let Some(acc) = dx else { return Steps::One(TokenStream::new()) };
    Steps::One(match op {
        Op::Max => quote!(::cnn::max_pool2d_backward::<#g>(m, dy, ::cnn::__private::region(argmax, m, #at, #len), dx, #acc);),
        Op::Avg => quote!(::cnn::avg_pool2d_backward::<#g>(m, dy, dx, #acc);),
    })
}

impl Layer for Pool {
    fn error_span(&self, e: &crate::shape::ShapeError) -> Option<proc_macro2::Span> {
        match e {
            crate::shape::ShapeError::Window { .. } => Some(self.args[0].span),
            crate::shape::ShapeError::PoolPadding { .. } => Some(self.args[2].span),
            _ => None,
        }
    }
    fn infer(&self, input: Shape) -> Inferred {
        shape::pool2d(input, self.k, self.s, self.p, self.ceil)
    }
    fn geometry(&self, name: &Ident, input: Shape, output: Shape) -> TokenStream {
        geometry(name, input, output, self.k, self.s, self.p, false, self.count_include_pad)
    }
    fn argmax_len(&self, output: Shape) -> usize {
        if self.op == Op::Max {
            output.len()
        } else {
            0
        }
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        forward(self.op, cx)
    }
    fn train_forward(&self, cx: &Cx) -> Steps {
        train_forward(self.op, cx)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        backward(self.op, cx, dx)
    }
}

impl Layer for Adaptive {
    fn infer(&self, input: Shape) -> Inferred {
        shape::adaptive_pool2d(input, self.size)
    }
    fn geometry(&self, name: &Ident, input: Shape, output: Shape) -> TokenStream {
        geometry(name, input, output, (1, 1), (1, 1), (0, 0), true, false)
    }
    fn argmax_len(&self, output: Shape) -> usize {
        if self.op == Op::Max {
            output.len()
        } else {
            0
        }
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        forward(self.op, cx)
    }
    fn train_forward(&self, cx: &Cx) -> Steps {
        train_forward(self.op, cx)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        backward(self.op, cx, dx)
    }
}

//! Pooling: `maxpool` / `pool` (`nn.MaxPool2d`), `avgpool` (`nn.AvgPool2d`), their adaptive
//! forms and `global_avgpool` (`nn.AdaptiveAvgPool2d(1)`).

use super::{lit, Cx, Epi, KindDef, Layer, Names, Steps};
use crate::args::{def, ArgKind, Default, Spans};
use crate::shape::{self, Hw, Inferred, Shape, ShapeError};
use proc_macro2::{Ident, TokenStream};
use quote::quote;

pub const MAXPOOL: KindDef = KindDef {
    keeps_shape: false,
    names: &["maxpool", "pool"],
    usage:
        "maxpool(kernel_size, stride, padding, dilation=1, ceil_mode=false), as in `maxpool(2)` or `maxpool(3, 2, p=1)`",
    params: &[
        def("kernel_size", Some("k"), ArgKind::Size, Default::Required),
        def("stride", Some("s"), ArgKind::Size, Default::SameAs(0)),
        def("padding", Some("p"), ArgKind::Padding, Default::Int(0)),
        def("dilation", Some("d"), ArgKind::Size, Default::Int(1)),
        def("ceil_mode", None, ArgKind::Bool, Default::Bool(false)),
    ],
    build: |_, a| {
        Box::new(Pool {
            op: Op::Max,
            k: a["kernel_size"].pair(),
            s: a["stride"].pair(),
            p: a["padding"].pair(),
            d: a["dilation"].pair(),
            ceil: a["ceil_mode"].flag(),
            count_include_pad: true,
            divisor_override: 0,
            adaptive: None,
            spans: Some(a.spans()),
        })
    },
};

pub const AVGPOOL: KindDef = KindDef {
    keeps_shape: false,
    names: &["avgpool"],
    usage: "avgpool(kernel_size, stride, padding, ceil_mode=false, count_include_pad=true, divisor_override), as in `avgpool(2)`",
    params: &[
        def("kernel_size", Some("k"), ArgKind::Size, Default::Required),
        def("stride", Some("s"), ArgKind::Size, Default::SameAs(0)),
        def("padding", Some("p"), ArgKind::Padding, Default::Int(0)),
        def("ceil_mode", None, ArgKind::Bool, Default::Bool(false)),
        def("count_include_pad", None, ArgKind::Bool, Default::Bool(true)),
        // 0 (not writable: a divisor is at least 1) stands for PyTorch's default `None`.
        def("divisor_override", None, ArgKind::Count, Default::Int(0)),
    ],
    build: |_, a| {
        Box::new(Pool {
            op: Op::Avg,
            k: a["kernel_size"].pair(),
            s: a["stride"].pair(),
            p: a["padding"].pair(),
            d: (1, 1),
            ceil: a["ceil_mode"].flag(),
            count_include_pad: a["count_include_pad"].flag(),
            divisor_override: a["divisor_override"].count(),
            adaptive: None,
            spans: Some(a.spans()),
        })
    },
};

pub const ADAPTIVE_AVGPOOL: KindDef = KindDef {
    keeps_shape: false,
    names: &["adaptive_avgpool"],
    usage: "adaptive_avgpool(output_size), as in `adaptive_avgpool(1)` or `adaptive_avgpool((2, 3))`",
    params: &[def("output_size", None, ArgKind::Size, Default::Required)],
    build: |_, a| Box::new(Pool::adaptive(Op::Avg, a["output_size"].pair())),
};

pub const ADAPTIVE_MAXPOOL: KindDef = KindDef {
    keeps_shape: false,
    names: &["adaptive_maxpool"],
    usage: "adaptive_maxpool(output_size), as in `adaptive_maxpool(1)` or `adaptive_maxpool((2, 3))`",
    params: &[def("output_size", None, ArgKind::Size, Default::Required)],
    build: |_, a| Box::new(Pool::adaptive(Op::Max, a["output_size"].pair())),
};

pub const GLOBAL_AVGPOOL: KindDef = KindDef {
    keeps_shape: false,
    names: &["global_avgpool"],
    usage: "global_avgpool",
    params: &[],
    build: |_, _| Box::new(Pool::adaptive(Op::Avg, (1, 1))),
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
    /// A max pool's dilation.
    d: Hw,
    ceil: bool,
    count_include_pad: bool,
    /// An average pool's divisor in place of the window's size (0: none).
    divisor_override: usize,
    /// The output size of an adaptive pool.
    adaptive: Option<Hw>,
    /// The arguments' tokens, for the spans of errors (an adaptive pool's size cannot be wrong
    /// for its input).
    spans: Option<Spans>,
}

impl Pool {
    fn adaptive(op: Op, size: Hw) -> Self {
        Pool {
            op,
            k: (1, 1),
            s: (1, 1),
            p: (0, 0),
            d: (1, 1),
            ceil: false,
            count_include_pad: false,
            divisor_override: 0,
            adaptive: Some(size),
            spans: None,
        }
    }
}

impl Layer for Pool {
    fn explain(&self, layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        Some(match e {
            ShapeError::PoolPadding { padding, kernel } => (
                format!(
                    "{layer} padding {} is more than half the window {}",
                    crate::error::hw(*padding),
                    crate::error::hw(*kernel)
                ),
                Some("PyTorch allows padding up to half the window; use a larger window or less padding".into()),
            ),
            _ => return None,
        })
    }

    fn saves(&self) -> (bool, bool) {
        // Max pooling keeps its argmax; average pooling needs nothing.
        (false, false)
    }

    fn error_span(&self, e: &crate::shape::ShapeError) -> Option<proc_macro2::Span> {
        match e {
            crate::shape::ShapeError::Window { padded: None, .. } | crate::shape::ShapeError::PoolPadding { .. } => {
                self.spans.as_ref().map(|s| s["padding"])
            }
            crate::shape::ShapeError::Window { .. } => self.spans.as_ref().map(|s| s["kernel_size"]),
            _ => None,
        }
    }

    fn infer(&self, input: Shape) -> Inferred {
        match self.adaptive {
            Some(size) => shape::adaptive_pool2d(input, size),
            None => shape::pool2d(input, self.k, self.s, self.p, self.d, self.ceil),
        }
    }

    fn geometry(&self, name: &Ident, input: Shape, output: Shape) -> TokenStream {
        let (Shape::Chw(c, h, w), Shape::Chw(_, ho, wo)) = (input, output) else { return TokenStream::new() };
        let [c, h, w, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw, divisor] = [
            c,
            h,
            w,
            ho,
            wo,
            self.k.0,
            self.k.1,
            self.s.0,
            self.s.1,
            self.p.0,
            self.p.1,
            self.d.0,
            self.d.1,
            self.divisor_override,
        ]
        .map(lit);
        let (adaptive, count_include_pad) = (self.adaptive.is_some(), self.count_include_pad);
        quote! {
            impl ::cnn::Pool2dGeom for #name {
                const SPEC: ::cnn::Pool2dSpec = ::cnn::Pool2dSpec {
                    c: #c, h_in: #h, w_in: #w, h_out: #ho, w_out: #wo, kh: #kh, kw: #kw, sh: #sh, sw: #sw, ph: #ph, pw: #pw,
                    adaptive: #adaptive, count_include_pad: #count_include_pad, dh: #dh, dw: #dw, divisor_override: #divisor,
                };
            }
        }
    }

    fn argmax_len(&self, output: Shape) -> usize {
        if self.op == Op::Max {
            output.len()
        } else {
            0
        }
    }

    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let Names { n, src, dst, .. } = cx.names();
        let g = &cx.geom;
        match self.op {
            Op::Max => quote!(::cnn::max_pool2d_forward::<#g>(#n, #src, #dst);),
            Op::Avg => quote!(::cnn::avg_pool2d_forward::<#g>(#n, #src, #dst);),
        }
    }

    fn train_forward(&self, cx: &Cx) -> Steps {
        let Names { n, src, dst, .. } = cx.names();
        let g = &cx.geom;
        let argmax = cx.argmax_mut(cx.output.len());
        Steps::One(match self.op {
            Op::Max => {
                quote!(::cnn::max_pool2d_forward_argmax::<#g>(#n, #src, #dst, #argmax);)
            }
            Op::Avg => quote!(::cnn::avg_pool2d_forward::<#g>(#n, #src, #dst);),
        })
    }

    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let Names { n, dy, dx: grad_x, .. } = cx.names();
        let g = &cx.geom;
        let argmax = cx.argmax(cx.output.len());
        let Some(acc) = dx else { return Steps::One(TokenStream::new()) };
        Steps::One(match self.op {
            Op::Max => {
                quote!(::cnn::max_pool2d_backward::<#g>(#n, #dy, #argmax, #grad_x, #acc);)
            }
            Op::Avg => quote!(::cnn::avg_pool2d_backward::<#g>(#n, #dy, #grad_x, #acc);),
        })
    }
}

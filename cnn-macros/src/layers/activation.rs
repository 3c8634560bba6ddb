//! Activations: the element-wise ones (`relu`, `relu6`, `leaky_relu`, `elu`, `sigmoid`, `tanh`,
//! `gelu`, `silu`, `hardswish`, `hardsigmoid`), each as its `nn` module, and `softmax` /
//! `log_softmax` over channels or features (`dim=1`).

use super::{lit, Cx, Epi, Kind, KindDef, Layer, Names, Steps};
use crate::args::{def, ArgKind, Args, Default, ParamDef};
use crate::shape::{Inferred, Shape};
use proc_macro2::TokenStream;
use quote::quote;

const INPLACE: ParamDef = def("inplace", None, ArgKind::Bool, Default::Bool(false));

macro_rules! simple {
    ($name:ident, $word:literal, $usage:literal, $act:expr, $reads:expr) => {
        pub const $name: KindDef = KindDef {
            keeps_shape: true,
            names: &[$word],
            usage: $usage,
            params: &[INPLACE],
            build: |_, _| Box::new(Activation { act: $act, reads: $reads }),
        };
    };
}

/// What each derivative reads (`cnn::Act::derivative`): the input, the output, or both.
const INPUT: (bool, bool) = (true, false);
const OUTPUT: (bool, bool) = (false, true);

simple!(RELU, "relu", "relu", quote!(::cnn::Act::Relu), OUTPUT);
simple!(RELU6, "relu6", "relu6", quote!(::cnn::Act::Relu6), INPUT);
simple!(SILU, "silu", "silu", quote!(::cnn::Act::Silu), INPUT);
simple!(HARDSWISH, "hardswish", "hardswish", quote!(::cnn::Act::Hardswish), INPUT);
simple!(HARDSIGMOID, "hardsigmoid", "hardsigmoid", quote!(::cnn::Act::Hardsigmoid), INPUT);

pub const SIGMOID: KindDef = KindDef {
    keeps_shape: true,
    names: &["sigmoid"],
    usage: "sigmoid",
    params: &[],
    build: |_, _| Box::new(Activation { act: quote!(::cnn::Act::Sigmoid), reads: OUTPUT }),
};
pub const TANH: KindDef = KindDef {
    keeps_shape: true,
    names: &["tanh"],
    usage: "tanh",
    params: &[],
    build: |_, _| Box::new(Activation { act: quote!(::cnn::Act::Tanh), reads: OUTPUT }),
};

pub const LEAKY_RELU: KindDef = KindDef {
    keeps_shape: true,
    names: &["leaky_relu"],
    usage: "leaky_relu(negative_slope=0.01), as in `leaky_relu(0.2)`",
    params: &[
        def(
            "negative_slope",
            None,
            ArgKind::Float { min: f64::NEG_INFINITY, max: f64::INFINITY },
            Default::Float(0.01),
        ),
        INPLACE,
    ],
    build: |_, a: &Args| {
        let slope = super::lit_f32(a["negative_slope"].float());
        Box::new(Activation { act: quote!(::cnn::Act::LeakyRelu(#slope)), reads: INPUT })
    },
};

pub const ELU: KindDef = KindDef {
    keeps_shape: true,
    names: &["elu"],
    usage: "elu(alpha=1.0), as in `elu(0.5)`",
    params: &[
        def("alpha", None, ArgKind::Float { min: f64::NEG_INFINITY, max: f64::INFINITY }, Default::Float(1.0)),
        INPLACE,
    ],
    build: |_, a: &Args| {
        let alpha = super::lit_f32(a["alpha"].float());
        Box::new(Activation { act: quote!(::cnn::Act::Elu(#alpha)), reads: (true, true) })
    },
};

pub const GELU: KindDef = KindDef {
    keeps_shape: true,
    names: &["gelu"],
    usage: "gelu, or gelu(approximate=tanh)",
    params: &[def("approximate", None, ArgKind::Word(&["none", "tanh"]), Default::Word("none"))],
    build: |_, a: &Args| {
        let act =
            if a["approximate"].word() == "tanh" { quote!(::cnn::Act::GeluTanh) } else { quote!(::cnn::Act::Gelu) };
        Box::new(Activation { act, reads: INPUT })
    },
};

pub const SOFTMAX: KindDef = KindDef {
    keeps_shape: true,
    names: &["softmax"],
    usage: "softmax, or softmax(dim=1)",
    params: &[def("dim", None, ArgKind::Dim, Default::Int(1))],
    build: |_, _| Box::new(Softmax { log: false }),
};

pub const LOG_SOFTMAX: KindDef = KindDef {
    keeps_shape: true,
    names: &["log_softmax"],
    usage: "log_softmax, or log_softmax(dim=1)",
    params: &[def("dim", None, ArgKind::Dim, Default::Int(1))],
    build: |_, _| Box::new(Softmax { log: true }),
};

/// An element-wise activation; `act` is its `::cnn::Act` value, `reads` what its backward pass
/// reads, `(input, output)`.
pub struct Activation {
    act: TokenStream,
    reads: (bool, bool),
}

impl Layer for Activation {
    fn kind(&self) -> Kind {
        Kind::Act
    }
    fn saves(&self) -> (bool, bool) {
        self.reads
    }
    fn infer(&self, input: Shape) -> Inferred {
        Inferred::ok(input)
    }
    fn act(&self) -> Option<TokenStream> {
        Some(self.act.clone())
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let Names { src, dst, .. } = cx.names();
        let act = &self.act;
        quote!(::cnn::act_forward(#act, #src, #dst);)
    }
    fn in_place(&self) -> bool {
        true
    }
    fn forward_in_place(&self, cx: &Cx, _epi: &Epi) -> Option<TokenStream> {
        let Names { dst, .. } = cx.names();
        let act = &self.act;
        Some(quote!(::cnn::act_in_place(#act, #dst);))
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let Names { x, y, dy, dx: grad_x, .. } = cx.names();
        let act = &self.act;
        Steps::One(match dx {
            Some(acc) => quote!(::cnn::act_backward(#act, #x, #y, #dy, #grad_x, #acc);),
            None => TokenStream::new(),
        })
    }
}

/// `softmax` / `log_softmax` over dimension 1.
pub struct Softmax {
    log: bool,
}

/// Channels and elements per channel of a shape: softmax runs over the first.
fn channels(shape: Shape) -> (usize, usize) {
    match shape {
        Shape::Chw(c, h, w) => (c, h * w),
        Shape::Flat(n, _) => (n, 1),
        Shape::Hwc(h, w, c) => (c, h * w),
    }
}

impl Layer for Softmax {
    fn saves(&self) -> (bool, bool) {
        (false, true)
    }
    fn infer(&self, input: Shape) -> Inferred {
        if let Shape::Hwc(..) = input {
            return Inferred { output: Some(input), errors: vec![crate::shape::ShapeError::ChannelsLast { input }] };
        }
        Inferred::ok(input)
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let Names { n, src, dst, .. } = cx.names();
        let (c, plane) = channels(cx.input());
        let (c, plane, log) = (lit(c), lit(plane), self.log);
        quote!(::cnn::__private::softmax_forward(#n, #c, #plane, #log, #src, #dst);)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let Names { n, y, dy, dx: grad_x, .. } = cx.names();
        let (c, plane) = channels(cx.input());
        let (c, plane, log) = (lit(c), lit(plane), self.log);
        Steps::One(match dx {
            Some(acc) => quote!(::cnn::__private::softmax_backward(#n, #c, #plane, #log, #y, #dy, #grad_x, #acc);),
            None => TokenStream::new(),
        })
    }
}

//! Activations: the element-wise ones (`relu`, `relu6`, `leaky_relu`, `elu`, `sigmoid`, `tanh`,
//! `gelu`, `silu`, `hardswish`, `hardsigmoid`), each as its `nn` module, and `softmax` /
//! `log_softmax` over channels or features (`dim=1`).

use super::{lit, Cx, Epi, InPlace, Kind, KindDef, Layer, Names, Steps};
use crate::args::{def, ArgKind, Args, Default, ParamDef};
use crate::shape::{Inferred, Shape, ShapeError};
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
    usage: "softmax, or softmax(dim=1) (any dimension but the batch's, negative from the end)",
    params: &[def("dim", None, ArgKind::Dim, Default::Int(1))],
    build: |_, a| Box::new(Softmax { log: false, dim: a["dim"].dim(), span: a["dim"].span }),
};

pub const LOG_SOFTMAX: KindDef = KindDef {
    keeps_shape: true,
    names: &["log_softmax"],
    usage: "log_softmax, or log_softmax(dim=1) (any dimension but the batch's, negative from the end)",
    params: &[def("dim", None, ArgKind::Dim, Default::Int(1))],
    build: |_, a| Box::new(Softmax { log: true, dim: a["dim"].dim(), span: a["dim"].span }),
};

/// An element-wise activation; `act` is its `::cnn::Act` value, `reads` what its backward pass
/// reads, `(input, output)`.
pub struct Activation {
    act: TokenStream,
    reads: (bool, bool),
}

impl InPlace for Activation {
    fn forward_in_place(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let Names { dst, .. } = cx.names();
        let act = &self.act;
        quote!(::cnn::act_in_place(#act, #dst);)
    }
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
    fn in_place(&self) -> Option<&dyn InPlace> {
        Some(self)
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

/// `softmax` / `log_softmax` over dimension `dim` of the batched value (`[N, C, H, W]`,
/// `[N, H, W, C]` after a permute, or `[N, F]`), as `dim` means in PyTorch.
pub struct Softmax {
    log: bool,
    dim: i64,
    span: proc_macro2::Span,
}

/// The softmax axis of a sample of `shape` along batched dimension `dim` (`1..rank`): the
/// sample as `[outer, len, inner]`, the softmax running over `len`; `None` if `dim` is the
/// batch's or out of range.
fn axis(shape: Shape, dim: i64) -> Option<(usize, usize, usize)> {
    let dims = match shape {
        Shape::Chw(c, h, w) => vec![c, h, w],
        Shape::Hwc(h, w, c) => vec![h, w, c],
        Shape::Flat(n, _) => vec![n],
        Shape::Cl(c, l) => vec![c, l],
    };
    let rank = dims.len() as i64 + 1;
    let d = if dim < 0 { dim + rank } else { dim };
    if d < 1 || d >= rank {
        return None;
    }
    let d = (d - 1) as usize;
    Some((dims[..d].iter().product(), dims[d], dims[d + 1..].iter().product()))
}

impl Softmax {
    /// `(n · outer, len, inner)` for the kernels, which see `n · outer` blocks of `[len, inner]`.
    fn blocks(&self, cx: &Cx) -> (TokenStream, TokenStream, TokenStream) {
        let (outer, len, inner) = axis(cx.input(), self.dim).unwrap_or((1, 1, 1));
        let n = cx.n();
        let outer = lit(outer);
        (quote!(#n * #outer), quote!(#len), quote!(#inner))
    }
}

impl Layer for Softmax {
    fn explain(&self, layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        Some(match e {
            ShapeError::Dim { dim, input } => {
                let rank = input.dims().len() as i64 + 1;
                let dims: Vec<String> = input.dims().iter().map(usize::to_string).collect();
                let value = format!("[N, {}]", dims.join(", "));
                let message = if *dim == 0 || *dim == -rank {
                    format!("{layer} over dim {dim}, the batch of {value}, would mix the samples of a batch, which are computed apart")
                } else {
                    format!(
                        "{layer} dim {dim} is out of range for the batched value {value} (dims -{rank}..={})",
                        rank - 1
                    )
                };
                (message, Some(format!("write a dim in 1..={} or -{}..=-1", rank - 1, rank - 1)))
            }
            _ => return None,
        })
    }

    fn saves(&self) -> (bool, bool) {
        (false, true)
    }
    fn error_span(&self, e: &crate::shape::ShapeError) -> Option<proc_macro2::Span> {
        matches!(e, crate::shape::ShapeError::Dim { .. }).then_some(self.span)
    }
    fn infer(&self, input: Shape) -> Inferred {
        match axis(input, self.dim) {
            Some(_) => Inferred::ok(input),
            None => {
                Inferred { output: Some(input), errors: vec![crate::shape::ShapeError::Dim { dim: self.dim, input }] }
            }
        }
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let Names { src, dst, .. } = cx.names();
        let ((blocks, len, inner), log) = (self.blocks(cx), self.log);
        quote!(::cnn::__private::softmax_forward(#blocks, #len, #inner, #log, #src, #dst);)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let Names { y, dy, dx: grad_x, .. } = cx.names();
        let ((blocks, len, inner), log) = (self.blocks(cx), self.log);
        Steps::One(match dx {
            Some(acc) => {
                quote!(::cnn::__private::softmax_backward(#blocks, #len, #inner, #log, #y, #dy, #grad_x, #acc);)
            }
            None => TokenStream::new(),
        })
    }
}

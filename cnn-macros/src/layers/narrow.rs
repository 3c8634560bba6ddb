//! `narrow(dim, start, length)`: `torch.narrow(x, dim, start, length)`, `x[:, start:start +
//! length]` on the channels (features) of a `[C, H, W]` or flat value (GhostNet's
//! `out[:, :self.out_chs]`, Res2Net's `torch.split` parts). A negative `start` counts from the
//! end, as PyTorch's. No tensors; the channels are copied out (and their gradient back in).

use super::{Cx, Epi, KindDef, Layer, Steps};
use crate::args::{def, ArgKind, Args, Default};
use crate::merges::slice::Slice;
use crate::shape::{Inferred, Shape, ShapeError};
use proc_macro2::{Span, TokenStream};

pub const NARROW: KindDef = KindDef {
    keeps_shape: false,
    names: &["narrow"],
    usage: "narrow(dim, start, length), as in `narrow(1, 0, 64)` for `x[:, :64]`",
    params: &[
        def("dim", None, ArgKind::Dim, Default::Required),
        def("start", None, ArgKind::Dim, Default::Required),
        def("length", None, ArgKind::Count, Default::Required),
    ],
    build: |_, a: &Args| {
        Box::new(Narrow {
            dim: a["dim"].dim(),
            start: a["start"].dim(),
            length: a["length"].count(),
            spans: [a["dim"].span, a["start"].span, a["length"].span],
        })
    },
};

pub struct Narrow {
    dim: i64,
    start: i64,
    length: usize,
    /// `dim`, `start`, `length`.
    spans: [Span; 3],
}

impl Narrow {
    /// The channels it keeps on `input`: `from..from + length`.
    fn range(&self, input: Shape) -> Result<Slice, ShapeError> {
        let rank = input.dims().len() as i64;
        let c = input.channels();
        if let Shape::Hwc(..) = input {
            return Err(ShapeError::ChannelsLast { input });
        }
        if self.dim != 1 && self.dim != 1 - (rank + 1) {
            return Err(ShapeError::Own {
                message: format!("narrow over dim {} of {input}: it narrows the channels (dim 1) only", self.dim),
                hint: Some("write `narrow(1, start, length)`; the height and width stay whole".into()),
            });
        }
        let from = if self.start < 0 { c as i64 + self.start } else { self.start };
        if from < 0 || from as usize + self.length > c {
            return Err(ShapeError::Own {
                message: format!("narrow(1, {}, {}) reaches past the {c} channels of {input}", self.start, self.length),
                hint: Some(format!(
                    "start and start + length must lie within 0..={c}, as `x[:, start:start + length]`"
                )),
            });
        }
        Ok(Slice { from: from as usize, len: self.length })
    }
}

impl Layer for Narrow {
    fn saves(&self) -> (bool, bool) {
        (false, false)
    }
    fn error_span(&self, e: &ShapeError) -> Option<Span> {
        match e {
            ShapeError::Own { message, .. } if message.starts_with("narrow over dim") => Some(self.spans[0]),
            ShapeError::Own { .. } => Some(self.spans[1]),
            _ => None,
        }
    }
    fn infer(&self, input: Shape) -> Inferred {
        // Its output has `length` channels whatever is wrong, so checking goes on after it.
        let output = Some(input.with_channels(self.length));
        match self.range(input) {
            Ok(_) => Inferred { output, errors: Vec::new() },
            Err(e) => Inferred { output, errors: vec![e] },
        }
    }
    fn forward(&self, cx: &Cx, epi: &Epi) -> TokenStream {
        self.range(cx.input()).expect("checked by infer").forward(cx, epi)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        self.range(cx.input()).expect("checked by infer").backward(cx, dx)
    }
}

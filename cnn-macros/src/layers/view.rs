//! `view(d0, d1, d2)` / `reshape(...)`: `x.view(N, d0, d1, d2)`, one sample's elements read in
//! another shape, with at most one `-1` standing for what is left. One size gives a flat value,
//! two a `[channels, length]` one (what `conv1d` reads), three `[channels, height, width]`. The
//! output is the input's memory, so it costs nothing.

use super::{Cx, Epi, Kind, KindDef, Layer, Steps};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{self, Inferred, Shape, ShapeError};
use proc_macro2::TokenStream;

pub const VIEW: KindDef = KindDef {
    keeps_shape: false,
    names: &["view", "reshape"],
    usage: "view(sizes...) without the batch, one of them may be -1, as `x.view(N, 1, -1)` is `view(1, -1)`",
    params: &[
        def("d0", None, ArgKind::Dim, Default::Required),
        def("d1", None, ArgKind::Dim, Default::Infer),
        def("d2", None, ArgKind::Dim, Default::Infer),
    ],
    build: |_, a: &Args| {
        Box::new(View { sizes: ["d0", "d1", "d2"].iter().filter_map(|d| a[*d].dim_if_given()).collect() })
    },
};

pub struct View {
    /// The sizes written, `-1` for the one inferred.
    sizes: Vec<i64>,
}

impl View {
    /// The sizes with `-1` resolved against `len` elements.
    fn resolve(&self, input: Shape) -> Result<Vec<usize>, ShapeError> {
        let written = self.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
        let own = |message: String, hint: &str| ShapeError::Own { message, hint: Some(hint.into()) };
        if let Shape::Hwc(..) = input {
            return Err(ShapeError::ChannelsLast { input });
        }
        if self.sizes.iter().any(|&s| s == 0 || s < -1) {
            return Err(own(
                format!("view({written}) has a size that is neither positive nor -1"),
                "sizes are at least 1, or -1 for the rest",
            ));
        }
        if self.sizes.iter().filter(|&&s| s == -1).count() > 1 {
            return Err(own(
                format!("view({written}) has more than one -1"),
                "only one size can be inferred: write the others",
            ));
        }
        let len = input.len();
        let known = self.sizes.iter().filter(|&&s| s > 0).try_fold(1usize, |acc, &s| acc.checked_mul(s as usize));
        let fits = match known {
            Some(k) if self.sizes.contains(&-1) => k <= len && len.is_multiple_of(k),
            Some(k) => k == len,
            None => false,
        };
        if !fits {
            return Err(own(
                format!("view({written}) does not hold the {len} elements of {input}"),
                "the sizes' product must be the elements of one sample (the batch is not written)",
            ));
        }
        let rest = len / known.unwrap_or(1);
        Ok(self.sizes.iter().map(|&s| if s == -1 { rest } else { s as usize }).collect())
    }
}

impl Layer for View {
    fn kind(&self) -> Kind {
        Kind::Alias
    }
    fn infer(&self, input: Shape) -> Inferred {
        match self.resolve(input) {
            // One size is all the elements: the flat value `flatten` gives.
            Ok(sizes) => Inferred::ok(match sizes[..] {
                [c, l] => Shape::Cl(c, l),
                [c, h, w, ..] => Shape::Chw(c, h, w),
                _ => shape::flatten(input),
            }),
            Err(e) => Inferred::fail(e),
        }
    }
    fn forward(&self, _cx: &Cx, _epi: &Epi) -> TokenStream {
        TokenStream::new()
    }
    fn train_forward(&self, _cx: &Cx) -> Steps {
        Steps::One(TokenStream::new())
    }
    fn backward(&self, _cx: &Cx, _dx: Option<bool>) -> Steps {
        Steps::One(TokenStream::new())
    }
}

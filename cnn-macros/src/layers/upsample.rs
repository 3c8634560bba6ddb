//! `upsample(size=None, scale_factor=None, mode=nearest, align_corners=false,
//! recompute_scale_factor=false)`: `nn.Upsample` / `F.interpolate` in the modes `nearest`,
//! `nearest-exact` and `bilinear`, with PyTorch's output sizes and source indices.

use super::{Cx, Epi, KindDef, Layer, Steps};
use crate::args::{def, ArgKind, Args, Default, Spans};
use crate::shape::{self, Hw, Inferred, Shape, ShapeError};
use proc_macro2::{Span, TokenStream};
use quote::quote;

pub const UPSAMPLE: KindDef = KindDef {
    keeps_shape: false,
    names: &["upsample", "interpolate"],
    usage: "upsample(size=None, scale_factor=None, mode=nearest, align_corners=false), \
            as in `upsample(scale_factor=2, mode=bilinear)`",
    params: &[
        def("size", None, ArgKind::SizeOrNone, Default::Word("None")),
        def("scale_factor", None, ArgKind::ScaleOrNone, Default::Word("None")),
        def("mode", None, ArgKind::Word(&["nearest", "nearest-exact", "bilinear"]), Default::Word("nearest")),
        def("align_corners", None, ArgKind::Bool, Default::Bool(false)),
        def("recompute_scale_factor", None, ArgKind::Bool, Default::Bool(false)),
    ],
    build: |_, a: &Args| {
        Box::new(Upsample {
            size: a["size"].size_or_none(),
            scale: a["scale_factor"].scale_or_none(),
            mode: match a["mode"].word() {
                "bilinear" => "Bilinear",
                "nearest-exact" => "NearestExact",
                _ => "Nearest",
            },
            align_corners: a["align_corners"].flag(),
            recompute: a["recompute_scale_factor"].flag(),
            spans: a.spans(),
        })
    },
};

pub struct Upsample {
    size: Option<Hw>,
    scale: Option<(f64, f64)>,
    /// The runtime's `UpsampleMode` variant.
    mode: &'static str,
    align_corners: bool,
    recompute: bool,
    spans: Spans,
}

impl Upsample {
    /// The kernel's spec for this layer's shapes, as a constant expression.
    fn spec(&self, cx: &Cx) -> TokenStream {
        let (Shape::Chw(c, h, w), Shape::Chw(_, ho, wo)) = (cx.input(), cx.output) else {
            return quote!(compile_error!("upsample on a value that is not [C, H, W]"));
        };
        let [c, h, w, ho, wo] = [c, h, w, ho, wo].map(super::lit);
        let mode = proc_macro2::Ident::new(self.mode, Span::call_site());
        let align = self.align_corners;
        // PyTorch computes the source indices from the scale factor as given, unless told to
        // recompute it from the sizes.
        let scale = |v: Option<f64>| match v.filter(|_| !self.recompute) {
            Some(v) => {
                let v = proc_macro2::Literal::f64_suffixed(v);
                quote!(::core::option::Option::Some(#v))
            }
            None => quote!(::core::option::Option::None),
        };
        let (sh, sw) = (scale(self.scale.map(|s| s.0)), scale(self.scale.map(|s| s.1)));
        quote! {
            &::cnn::UpsampleSpec {
                c: #c, h_in: #h, w_in: #w, h_out: #ho, w_out: #wo,
                mode: ::cnn::UpsampleMode::#mode, align_corners: #align, scale: (#sh, #sw),
            }
        }
    }
}

impl Layer for Upsample {
    fn explain(&self, layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        Some(match e {
            ShapeError::UpsampleTarget { both: true } => (
                format!("{layer} takes `size` or `scale_factor`, not both"),
                Some("PyTorch refuses both too: keep one".into()),
            ),
            ShapeError::UpsampleTarget { both: false } => (
                format!("{layer} needs `size` or `scale_factor`"),
                Some("write `upsample(scale_factor=2)` or `upsample(size=(h, w))`".into()),
            ),
            ShapeError::AlignCorners { mode } => (
                format!("{layer} align_corners applies to the interpolating modes, not `{mode}`"),
                Some("use `mode=bilinear`, or leave align_corners out".into()),
            ),
            ShapeError::Vanished { scale, input } => (
                format!("{layer} scale_factor {scale} leaves no pixels of the input of shape {input}"),
                Some("each side becomes floor(size · scale_factor), which must be at least 1".into()),
            ),
            _ => return None,
        })
    }

    fn saves(&self) -> (bool, bool) {
        (false, false)
    }

    fn error_span(&self, e: &ShapeError) -> Option<Span> {
        let name = match e {
            ShapeError::UpsampleTarget { both: true } | ShapeError::Vanished { .. } => "scale_factor",
            ShapeError::AlignCorners { .. } => "align_corners",
            _ => return None,
        };
        Some(self.spans[name])
    }

    fn infer(&self, input: Shape) -> Inferred {
        let mut inferred = shape::upsample(input, self.size, self.scale);
        if self.align_corners && self.mode != "Bilinear" {
            let mode = if self.mode == "Nearest" { "nearest" } else { "nearest-exact" };
            inferred.errors.push(ShapeError::AlignCorners { mode });
        }
        inferred
    }

    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        let (spec, n, src, dst) = (self.spec(cx), cx.n(), cx.src(), cx.dst());
        quote!(::cnn::upsample_forward(#spec, #n, #src, #dst);)
    }

    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let Some(acc) = dx else { return Steps::One(TokenStream::new()) };
        let (spec, n, dy, dx) = (self.spec(cx), cx.n(), cx.dy(), cx.dx());
        Steps::One(quote!(::cnn::upsample_backward(#spec, #n, #dy, #dx, #acc);))
    }
}

//! `batchnorm`: `nn.BatchNorm2d` after a `[C, H, W]` shape, `nn.BatchNorm1d` after a flat one
//! (`batchnorm2d` / `batchnorm1d` name one and are checked against the shape).

use super::{lit, lit_f32, opt, Cx, Epi, Fold, InitKind, Kind, KindDef, Layer, Names, Role, Steps, TensorDef};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{Inferred, Shape, ShapeError};
use proc_macro2::TokenStream;
use quote::quote;

pub const BATCHNORM: KindDef = KindDef {
    keeps_shape: true,
    names: &["batchnorm", "batchnorm2d", "batchnorm1d"],
    usage: "batchnorm(num_features, eps=1e-5, momentum=0.1, affine=true, track_running_stats=true, bias=true), as in `batchnorm(64)`",
    params: &[
        def("num_features", None, ArgKind::CountOrInfer, Default::Required),
        def("eps", None, ArgKind::Float { min: 0.0, max: f64::INFINITY }, Default::Float(1e-5)),
        def("momentum", None, ArgKind::FloatOrNone { min: 0.0, max: 1.0 }, Default::Float(0.1)),
        def("affine", None, ArgKind::Bool, Default::Bool(true)),
        def("track_running_stats", None, ArgKind::Bool, Default::Bool(true)),
        def("bias", None, ArgKind::Bool, Default::Bool(true)),
    ],
    build: |word, a: &Args| {
        let written = match word {
            "batchnorm2d" => Some("batchnorm2d"),
            "batchnorm1d" => Some("batchnorm1d"),
            _ => None,
        };
        Box::new(BatchNorm {
            span: a["num_features"].span,
            c: a["num_features"].count_or_infer(),
            eps: a["eps"].float(),
            momentum: a["momentum"].float_or_none(),
            affine: a["affine"].flag(),
            bias: a["affine"].flag() && a["bias"].flag(),
            track: a["track_running_stats"].flag(),
            written,
        })
    },
};

pub struct BatchNorm {
    span: proc_macro2::Span,
    c: Option<usize>,
    eps: f64,
    /// `None`: the cumulative average (PyTorch's `momentum=None`).
    momentum: Option<f64>,
    affine: bool,
    /// An affine bias beside the weight (PyTorch's `bias`; only with `affine`).
    bias: bool,
    /// Running statistics kept and used in eval mode (`track_running_stats`); without them
    /// eval mode normalizes with the batch's statistics too.
    track: bool,
    written: Option<&'static str>,
}

impl BatchNorm {
    /// Indices in `cx.tensors` of γ, β, running mean and running variance.
    fn at(&self) -> (Option<usize>, Option<usize>, Option<usize>, Option<usize>) {
        let g = self.affine.then_some(0);
        let b = self.bias.then_some(1);
        let rm = usize::from(self.affine) + usize::from(self.bias);
        if self.track {
            (g, b, Some(rm), Some(rm + 1))
        } else {
            (g, b, None, None)
        }
    }
}

impl Fold for BatchNorm {
    /// The running statistics' scale and shift (nothing without them: `folding` offers this
    /// only with them).
    fn fold(&self, cx: &Cx, bias: TokenStream) -> TokenStream {
        let (g, b, rm, rv) = self.at();
        let (Some(rm), Some(rv)) = (rm, rv) else { return TokenStream::new() };
        let (g, b, rm, rv) = (opt(cx, g), opt(cx, b), &cx.tensors[rm], &cx.tensors[rv]);
        let (c, eps) = (lit(cx.input().channels_plane().0), lit_f32(self.eps));
        quote!(::cnn::__private::batch_norm_fold(#c, #g, #b, #rm, #rv, #eps, #bias, scale, shift);)
    }
}

impl Layer for BatchNorm {
    fn reuse_refusal(&self) -> Option<&'static str> {
        Some("is a batch norm, whose training statistics and gradients are the whole batch's at one place")
    }
    fn explain(&self, _layer: &str, e: &ShapeError) -> Option<(String, Option<String>)> {
        Some(match e {
            ShapeError::BatchNormKind { written, input } => (
                format!(
                    "{written} needs a {} input, but the previous layer outputs {input}",
                    if *written == "batchnorm2d" { "[channels, height, width]" } else { "flat or [channels, length]" }
                ),
                Some("write `batchnorm`, which picks BatchNorm1d or BatchNorm2d from the shape".into()),
            ),
            _ => return None,
        })
    }

    fn kind(&self) -> Kind {
        Kind::BatchNorm
    }

    fn saves(&self) -> (bool, bool) {
        (true, false)
    }

    fn error_span(&self, e: &ShapeError) -> Option<proc_macro2::Span> {
        matches!(e, ShapeError::Channels { .. } | ShapeError::Features { .. }).then_some(self.span)
    }

    fn infer(&self, input: Shape) -> Inferred {
        if let Shape::Hwc(..) = input {
            return Inferred::fail(ShapeError::ChannelsLast { input });
        }
        let mut errors = Vec::new();
        match (self.written, input) {
            (Some("batchnorm2d"), Shape::Flat(..) | Shape::Cl(..)) | (Some("batchnorm1d"), Shape::Chw(..)) => {
                errors.push(ShapeError::BatchNormKind { written: self.written.unwrap_or_default(), input });
            }
            _ => {}
        }
        let (c, _) = input.channels_plane();
        if let Some(expected) = self.c.filter(|&e| e != c) {
            match input {
                Shape::Chw(..) | Shape::Hwc(..) | Shape::Cl(..) => {
                    errors.push(ShapeError::Channels { expected, found: c, input })
                }
                Shape::Flat(..) => errors.push(ShapeError::Features { expected, found: c, input }),
            }
        }
        Inferred { output: Some(input), errors }
    }

    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorDef> {
        let (c, _) = input.channels_plane();
        let mut t = Vec::new();
        if self.affine {
            t.push(TensorDef::new("weight", vec![c], InitKind::Ones, Role::Param));
        }
        if self.bias {
            t.push(TensorDef::new("bias", vec![c], InitKind::Zeros, Role::Param));
        }
        if self.track {
            t.push(TensorDef::new("running_mean", vec![c], InitKind::Zeros, Role::Buffer));
            t.push(TensorDef::new("running_var", vec![c], InitKind::Ones, Role::Buffer));
            t.push(TensorDef::new("num_batches_tracked", vec![], InitKind::Zeros, Role::Counter));
        }
        t
    }

    fn scratch(&self, cx: &Cx) -> TokenStream {
        let c = lit(2 * cx.input().channels_plane().0);
        quote!(#c)
    }

    fn stats_len(&self, input: Shape) -> (usize, usize) {
        let c = input.channels_plane().0;
        (2 * c, 5 * c)
    }

    fn folding(&self) -> Option<&dyn Fold> {
        self.track.then_some(self as &dyn Fold)
    }

    fn forward(&self, cx: &Cx, epi: &Epi) -> TokenStream {
        let (c, pixels) = cx.input().channels_plane();
        let (cs, plane, act) = (lit(c), lit(pixels), &epi.act);
        let Names { n, src, dst, work, .. } = cx.names();
        let fold = if self.track {
            Fold::fold(self, cx, quote!(::core::option::Option::None))
        } else {
            // No running statistics: the batch's own, over the tile's samples (a whole batch
            // is one tile for such a network), as PyTorch normalizes in eval mode then.
            let (g, b, ..) = self.at();
            let (g, b, eps, c2, c3) = (opt(cx, g), opt(cx, b), lit_f32(self.eps), lit(2 * c), lit(3 * c));
            // PyTorch refuses one flat sample (its variance is no statistic); a map's pixels
            // are enough.
            let one = (pixels == 1).then(|| {
                quote! {
                    assert!(#n != 1, "a batch norm without running statistics (track_running_stats=false) on a flat value normalizes by the batch's statistics: it needs more than 1 sample, as PyTorch's (forward_batch of 2 or more, not forward)");
                }
            });
            quote! {
                #one
                let mut sums = [0.0f64; #c2];
                ::cnn::__private::batch_norm_stats(#n, #cs, #plane, #src, &mut sums);
                let mut stats = [0.0f64; #c3];
                ::cnn::__private::batch_norm_reduce(&sums, #c2, 0, #cs, #n * #plane, #eps, &mut stats);
                ::cnn::__private::batch_norm_batch_fold(#cs, &stats, #g, #b, scale, shift);
            }
        };
        quote! {
            let (scale, shift) = #work[..2 * #cs].split_at_mut(#cs);
            #fold
            ::cnn::__private::scale_shift(#n, #cs, #plane, #src, scale, shift, #act, #dst);
        }
    }

    fn batch_statistics_in_eval(&self) -> bool {
        !self.track
    }

    fn train_forward(&self, cx: &Cx) -> Steps {
        let (c, plane) = cx.input().channels_plane();
        let (g, b, ..) = self.at();
        let (g, b) = (opt(cx, g), opt(cx, b));
        let (c, plane, eps) = (lit(c), lit(plane), lit_f32(self.eps));
        let (Names { n, src, dst, .. }, batch, partials) = (cx.names(), cx.batch(), cx.partials());
        // Per channel: the tile's partial sums; the batch's mean, variance and inverse deviation.
        let (stats, shared) = (cx.tile_stats(quote!(2 * #c)), cx.shared(quote!(0), quote!(3 * #c)));
        let moments = cx.tile_shared(quote!(0), quote!(2 * #c));
        // In eval mode the running statistics take the batch's place (a batch norm without
        // them normalizes by the batch's in eval mode too, as PyTorch's).
        let running = match self.at() {
            (_, _, Some(rm), Some(rv)) => {
                let (rm, rv, eval) = (&cx.tensors[rm], &cx.tensors[rv], cx.eval());
                quote!(if #eval { ::core::option::Option::Some((#rm, #rv)) } else { ::core::option::Option::None })
            }
            _ => quote!(::core::option::Option::None),
        };
        let stage = quote!(::cnn::__private::batch_norm_stats(#n, #c, #plane, #src, #stats););
        let reduce = quote!(::cnn::__private::batch_norm_statistics(#partials, #c, #batch * #plane, #eps, #running, &mut #shared););
        Steps::Reduced {
            stage,
            reduce,
            then: quote!(::cnn::__private::batch_norm_train_forward(#n, #c, #plane, #src, #moments, #g, #b, #dst);),
        }
    }

    fn after_train_forward(&self, cx: &Cx) -> TokenStream {
        let (_, _, rm, rv) = self.at();
        let (Some(rm), Some(rv)) = (rm, rv) else { return TokenStream::new() };
        let (rm, rv) = (&cx.tensors[rm], &cx.tensors[rv]);
        let c = lit(cx.input().channels_plane().0);
        // `tracked` is `num_batches_tracked`, counted before this update as in PyTorch.
        let momentum = match self.momentum {
            Some(m) => {
                let m = proc_macro2::Literal::f64_suffixed(m);
                quote!(#m)
            }
            None => quote!(1.0 / tracked as f64),
        };
        // The reduction's mean, then (after the inverse deviations) the unbiased variance.
        let (mean, var) = (cx.shared(quote!(0), quote!(#c)), cx.shared(quote!(2 * #c), quote!(#c)));
        quote! {
            ::cnn::__private::update_running(#c, &#mean, &#var, #momentum, #rm, #rv);
        }
    }

    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let (c, plane) = cx.input().channels_plane();
        let (g, ..) = self.at();
        let gamma = opt(cx, g);
        let (c, plane) = (lit(c), lit(plane));
        let (Names { n, x, dy, dx: grad_x, .. }, batch, partials) = (cx.names(), cx.batch(), cx.partials());
        // The forward pass's moments, and the batch's sums of the output gradient (and of its
        // product with the normalized input) the reduction writes after them.
        let (stats, moments) = (cx.tile_stats(quote!(2 * #c)), cx.tile_shared(quote!(0), quote!(2 * #c)));
        let (sums, grad_sums) =
            (cx.tile_shared(quote!(3 * #c), quote!(2 * #c)), cx.shared(quote!(3 * #c), quote!(2 * #c)));
        // The parameters' gradients in `tensors` order: the weight's, then the bias's.
        let grad = |on: bool, i: usize| match on {
            true => {
                let g = cx.grad(i);
                quote!(::core::option::Option::Some(#g))
            }
            false => quote!(::core::option::Option::None),
        };
        let (gg, gb) = (grad(self.affine, 0), grad(self.bias, 1));
        // In eval mode the statistics are constants: a frozen batch norm's gradient.
        let running = match self.at() {
            (_, _, Some(_), Some(rv)) => {
                let (rv, eps, eval) = (&cx.tensors[rv], lit_f32(self.eps), cx.eval());
                quote!(#eval.then_some((#rv, #eps)))
            }
            _ => quote!(::core::option::Option::None),
        };
        let then = match dx {
            Some(acc) => quote! {
                ::cnn::__private::batch_norm_backward_input(#n, #c, #plane, #batch * #plane, #x, #moments, #sums, #gamma, #dy, #grad_x, #acc, #running);
            },
            None => TokenStream::new(),
        };
        Steps::Reduced {
            stage: quote!(::cnn::__private::batch_norm_backward_stats(#n, #c, #plane, #x, #moments, #dy, #stats);),
            reduce: quote!(::cnn::__private::batch_norm_backward_reduce(#partials, #c, &mut #grad_sums, #gg, #gb);),
            then,
        }
    }

    fn min_train_batch(&self, input: Shape) -> usize {
        if input.channels_plane().1 == 1 {
            2
        } else {
            1
        }
    }
}

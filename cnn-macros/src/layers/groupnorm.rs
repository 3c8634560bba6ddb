//! `groupnorm(groups, channels)` (`nn.GroupNorm`: each sample's channels normalized in groups,
//! on `[C, H, W]` or a flat `[C]`) and `instancenorm(channels)` (`nn.InstanceNorm2d`: each
//! channel of each sample over its map, with PyTorch's optional running statistics). Both run
//! on the runtime's `group_norm` kernels; an instance norm is a group norm of one channel a
//! group.

use super::{grad_input, lit, lit_f32, opt, Cx, Epi, InitKind, KindDef, Layer, Names, Role, Steps, TensorDef};
use crate::args::{def, ArgKind, Args, Default};
use crate::shape::{self, Inferred, Shape, ShapeError};
use proc_macro2::{Span, TokenStream};
use quote::quote;

const EPS: ArgKind = ArgKind::Float { min: 0.0, max: f64::INFINITY };

pub const GROUPNORM: KindDef = KindDef {
    keeps_shape: true,
    names: &["groupnorm"],
    usage: "groupnorm(num_groups, num_channels, eps=1e-5, affine=true), as in `groupnorm(32, 256)`",
    params: &[
        def("num_groups", Some("groups"), ArgKind::Count, Default::Required),
        def("num_channels", Some("channels"), ArgKind::CountOrInfer, Default::Required),
        def("eps", None, EPS, Default::Float(1e-5)),
        def("affine", None, ArgKind::Bool, Default::Bool(true)),
    ],
    build: |_, a: &Args| {
        Box::new(GroupNorm {
            groups: Some(a["num_groups"].count()),
            c: a["num_channels"].count_or_infer(),
            eps: a["eps"].float(),
            affine: a["affine"].flag(),
            running: None,
            spans: Tokens { groups: a["num_groups"].span, channels: a["num_channels"].span },
        })
    },
};

pub const INSTANCENORM: KindDef = KindDef {
    keeps_shape: true,
    names: &["instancenorm", "instancenorm2d"],
    usage: "instancenorm(num_features, eps=1e-5, momentum=0.1, affine=false, track_running_stats=false), as in `instancenorm(64, affine=true)`",
    params: &[
        def("num_features", Some("channels"), ArgKind::CountOrInfer, Default::Required),
        def("eps", None, EPS, Default::Float(1e-5)),
        def("momentum", None, ArgKind::FloatOrNone { min: 0.0, max: 1.0 }, Default::Float(0.1)),
        def("affine", None, ArgKind::Bool, Default::Bool(false)),
        def("track_running_stats", None, ArgKind::Bool, Default::Bool(false)),
    ],
    build: |_, a: &Args| {
        // PyTorch's `momentum=None` passes 0 to `F.instance_norm`: the running values stay.
        let running = a["track_running_stats"].flag().then(|| a["momentum"].float_or_none().unwrap_or(0.0));
        Box::new(GroupNorm {
            groups: None,
            c: a["num_features"].count_or_infer(),
            eps: a["eps"].float(),
            affine: a["affine"].flag(),
            running,
            spans: Tokens { groups: a["num_features"].span, channels: a["num_features"].span },
        })
    },
};

/// The tokens a shape error points at.
struct Tokens {
    groups: Span,
    channels: Span,
}

pub struct GroupNorm {
    /// `None`: one channel a group (instance norm).
    groups: Option<usize>,
    c: Option<usize>,
    eps: f64,
    /// A per-channel weight and bias (`affine`).
    affine: bool,
    /// Instance norm's `track_running_stats`, with its momentum: running statistics kept in
    /// training and used in eval mode.
    running: Option<f64>,
    spans: Tokens,
}

impl GroupNorm {
    fn name(&self) -> &'static str {
        if self.groups.is_some() {
            "groupnorm"
        } else {
            "instancenorm"
        }
    }

    fn shape(&self, input: Shape) -> TokenStream {
        let (c, plane) = input.channels_plane();
        let (groups, c, plane) = (lit(self.groups.unwrap_or(c)), lit(c), lit(plane));
        quote!(::cnn::__private::GroupNormShape { c: #c, groups: #groups, plane: #plane })
    }

    /// Indices in `cx.tensors` of the weight, the bias, the running mean and variance.
    fn at(&self) -> (Option<usize>, Option<usize>, Option<(usize, usize)>) {
        let a = usize::from(self.affine) * 2;
        (self.affine.then_some(0), self.affine.then_some(1), self.running.map(|_| (a, a + 1)))
    }

    /// The forward pass by the samples' own statistics, their moments added to `moments`.
    /// `(running_mean, running_var, eps)` of an instance norm with running statistics.
    fn running_args(&self, cx: &Cx) -> TokenStream {
        let (_, _, running) = self.at();
        let Some((rm, rv)) = running else { return TokenStream::new() };
        let (rm, rv, eps) = (&cx.tensors[rm], &cx.tensors[rv], lit_f32(self.eps));
        quote!((#rm, #rv, #eps))
    }

    fn normalize(&self, cx: &Cx, moments: TokenStream) -> TokenStream {
        let (w, b, _) = self.at();
        let (shape, eps, (w, b)) = (self.shape(cx.input()), lit_f32(self.eps), (opt(cx, w), opt(cx, b)));
        let Names { n, src, dst, .. } = cx.names();
        quote!(::cnn::__private::group_norm_forward(#n, #shape, #eps, #src, #w, #b, #dst, #moments);)
    }
}

impl Layer for GroupNorm {
    fn saves(&self) -> (bool, bool) {
        (true, false)
    }

    fn error_span(&self, e: &ShapeError) -> Option<Span> {
        match e {
            ShapeError::Divide { .. } => Some(self.spans.groups),
            ShapeError::Size { .. } => Some(self.spans.channels),
            _ => None,
        }
    }

    fn infer(&self, input: Shape) -> Inferred {
        let name = self.name();
        match input {
            Shape::Hwc(..) => return Inferred::fail(ShapeError::ChannelsLast { input }),
            // PyTorch's `InstanceNorm2d` takes `[C, H, W]` samples only.
            Shape::Flat(..) if self.groups.is_none() => return Inferred::fail(shape::not_spatial(input)),
            _ => {}
        }
        let mut inferred = shape::keep_channels(input, self.c);
        let (c, plane) = input.channels_plane();
        if let Some(groups) = self.groups.filter(|&g| c % g != 0) {
            inferred.errors.push(ShapeError::Divide { channels: c, parts: groups, what: "groups" });
        }
        let per_group = c / self.groups.unwrap_or(c).max(1) * plane;
        if per_group == 1 {
            let (message, hint) = if self.groups.is_none() {
                (
                    format!("{name} normalizes each channel over its map, but the map is {input}: one element has no variance"),
                    "PyTorch refuses it too (\"expected more than 1 spatial element\"): apply it before the map shrinks to 1x1, or use `batchnorm`".to_string(),
                )
            } else {
                (
                    format!("{name} normalizes groups of one element on {input}: each comes out 0"),
                    "use fewer groups, so that each holds several channels".to_string(),
                )
            };
            inferred.errors.push(ShapeError::Own { message, hint: Some(hint) });
        }
        inferred
    }

    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorDef> {
        let c = input.channels_plane().0;
        let mut t = Vec::new();
        if self.affine {
            t.push(TensorDef::new("weight", vec![c], InitKind::Ones, Role::Param));
            t.push(TensorDef::new("bias", vec![c], InitKind::Zeros, Role::Param));
        }
        if self.running.is_some() {
            t.push(TensorDef::new("running_mean", vec![c], InitKind::Zeros, Role::Buffer));
            t.push(TensorDef::new("running_var", vec![c], InitKind::Ones, Role::Buffer));
            t.push(TensorDef::new("num_batches_tracked", vec![], InitKind::Zeros, Role::Counter));
        }
        t
    }

    fn flops(&self, input: Shape, _output: Shape) -> u128 {
        6 * input.len() as u128
    }

    fn scratch(&self, cx: &Cx) -> TokenStream {
        // Eval mode by running statistics (at inference, and in a training pass in eval mode):
        // a per-channel scale and shift.
        let c = if self.running.is_some() { 2 * cx.input().channels_plane().0 } else { 0 };
        let c = lit(c);
        quote!(#c)
    }

    fn stats_len(&self, input: Shape) -> (usize, usize) {
        match self.running {
            Some(_) => (2 * input.channels_plane().0, 2 * input.channels_plane().0),
            None => (0, 0),
        }
    }

    fn forward(&self, cx: &Cx, epi: &Epi) -> TokenStream {
        let (g, b, running) = self.at();
        let Some((rm, rv)) = running else { return self.normalize(cx, quote!(::core::option::Option::None)) };
        // Eval mode with running statistics: a per-channel affine map, as batch norm's.
        let (c, plane) = cx.input().channels_plane();
        let (g, b, rm, rv) = (opt(cx, g), opt(cx, b), &cx.tensors[rm], &cx.tensors[rv]);
        let (eps, cs, plane, act) = (lit_f32(self.eps), lit(c), lit(plane), &epi.act);
        let Names { n, src, dst, work, .. } = cx.names();
        quote! {
            let (scale, shift) = (#work)[..2 * #cs].split_at_mut(#cs);
            ::cnn::__private::batch_norm_fold(#cs, #g, #b, #rm, #rv, #eps, ::core::option::Option::None, scale, shift);
            ::cnn::__private::scale_shift(#n, #cs, #plane, #src, scale, shift, #act, #dst);
        }
    }

    fn train_forward(&self, cx: &Cx) -> Steps {
        let Some(_) = self.running else { return Steps::One(self.normalize(cx, quote!(::core::option::Option::None))) };
        // The instances' moments, summed per tile and reduced over the batch for the running
        // statistics; the normalization itself needs nothing from other samples.
        let c = lit(cx.input().channels_plane().0);
        let stats = cx.tile_stats(quote!(2 * #c));
        let (batch, partials, shared) = (cx.batch(), cx.partials(), cx.shared(quote!(0), quote!(2 * #c)));
        let normalize = self.normalize(cx, quote!(::core::option::Option::Some(#stats)));
        // In eval mode by the running statistics: inference's code (their moments then unused).
        let none = quote!(::core::option::Option::None);
        let identity = Epi { scale: none.clone(), shift: none, act: quote!(::cnn::Act::Identity) };
        let (eval, infer) = (cx.eval(), self.forward(cx, &identity));
        Steps::Reduced {
            stage: quote! {
                if #eval {
                    #infer
                } else {
                    #normalize
                }
            },
            reduce: quote!(::cnn::__private::group_norm_reduce(#partials, #c, #batch, &mut #shared);),
            then: TokenStream::new(),
        }
    }

    fn after_train_forward(&self, cx: &Cx) -> TokenStream {
        let (Some(m), (_, _, Some((rm, rv)))) = (self.running, self.at()) else { return TokenStream::new() };
        if m == 0.0 {
            return TokenStream::new();
        }
        let (rm, rv, m) = (&cx.tensors[rm], &cx.tensors[rv], proc_macro2::Literal::f64_suffixed(m));
        let c = lit(cx.input().channels_plane().0);
        let (mean, var) = (cx.shared(quote!(0), quote!(#c)), cx.shared(quote!(#c), quote!(#c)));
        quote!(::cnn::__private::update_running(#c, &#mean, &#var, #m, #rm, #rv);)
    }

    fn counts_batches(&self) -> bool {
        // PyTorch's instance norm keeps `num_batches_tracked` in its `state_dict` but never
        // counts it.
        false
    }

    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let (w, ..) = self.at();
        let (shape, eps, w) = (self.shape(cx.input()), lit_f32(self.eps), opt(cx, w));
        let Names { n, x, dy, .. } = cx.names();
        let dx = grad_input(cx, dx);
        let (gw, gb) = match self.affine {
            true => (cx.grad_if_trained(0), cx.grad_if_trained(1)),
            false => (quote!(::core::option::Option::None), quote!(::core::option::Option::None)),
        };
        let code = quote!(::cnn::__private::group_norm_backward(#n, #shape, #eps, #x, #w, #dy, #dx, #gw, #gb););
        if self.running.is_none() {
            return Steps::One(code);
        }
        // In eval mode the running statistics are constants.
        let (eval, running) = (cx.eval(), self.running_args(cx));
        let (c, plane) = cx.input().channels_plane();
        let (c, plane) = (lit(c), lit(plane));
        Steps::One(quote! {
            if #eval {
                ::cnn::__private::running_norm_backward(#n, #c, #plane, #x, #running, #w, #dy, #dx, #gw, #gb);
            } else {
                #code
            }
        })
    }
}

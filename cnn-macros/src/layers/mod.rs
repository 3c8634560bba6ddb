//! The layer kinds of the DSL, one module each, all behind the [`Layer`] trait: argument
//! schema, shape rule, tensors, and the code of the forward and backward passes. Adding a kind
//! is one file here, its line in [`KINDS`], and one kernel module in the runtime. The nodes
//! that join a block's branches are layers too, in [`crate::merges`].

mod activation;
mod batchnorm;
mod channel_shuffle;
mod conv;
mod conv_transpose;
mod dropout;
pub mod flatten;
mod frozen_batchnorm;
mod groupnorm;
mod layernorm;
mod linear;
mod narrow;
pub mod pad;
mod permute;
mod pixel_shuffle;
mod pool;
mod scale;
mod stochastic_depth;
mod upsample;
mod view;

use crate::args::{self, Args, ParamDef};
use crate::error::Errors;
use crate::parse::ItemSyntax;
use crate::shape::{Inferred, Shape};
use proc_macro2::{Span, TokenStream};

/// How a tensor starts, as PyTorch's modules initialise it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InitKind {
    Uniform(usize),
    Ones,
    Zeros,
    Const(f64),
}

/// Whether a tensor is trained, a running statistic, or a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Param,
    Buffer,
    Counter,
}

/// One tensor of a layer: `{key}.{suffix}` in the `state_dict`.
pub struct TensorDef {
    /// Empty for a tensor keyed by the layer's key itself (`scale`'s `layer_scale`).
    pub suffix: &'static str,
    pub shape: Vec<usize>,
    pub init: InitKind,
    pub role: Role,
}

impl TensorDef {
    pub fn new(suffix: &'static str, shape: Vec<usize>, init: InitKind, role: Role) -> Self {
        TensorDef { suffix, shape, init, role }
    }
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// What a layer is, for the passes that treat kinds alike (fusion, aliasing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Conv,
    Linear,
    BatchNorm,
    /// An element-wise activation, fusable into the layer before it.
    Act,
    /// Output = input, the same memory (`flatten`, `identity`).
    Alias,
    /// Dropout: the identity at inference.
    Dropout,
    /// An element-wise sum of its inputs, which can take an activation in its epilogue.
    Add,
    /// A concatenation along channels, whose inputs may be written in their place in its output.
    Concat,
    Other,
}

/// What a layer's code is emitted with: its shapes and tensors, and the names of the values the
/// surrounding code binds (through these methods only, so that a name cannot be misspelt).
pub struct Cx {
    /// The layer's geometry type.
    pub geom: TokenStream,
    /// The shapes of all inputs, in order.
    pub inputs: Vec<Shape>,
    pub output: Shape,
    /// Whether the code runs in a training pass (tiles of `m` samples) or at inference (`n`).
    pub train: bool,
    /// Per input: whether it was written in its place in the output already (a concatenation's
    /// inputs, at inference on one-sample tiles), so that nothing copies it.
    pub placed: Vec<bool>,
    /// Slice expressions of the layer's parameters and buffers, in [`Layer::tensors`] order
    /// (counters left out).
    pub tensors: Vec<TokenStream>,
    /// The layer's index among the network's nodes (a dropout key).
    pub index: usize,
    /// Per-node offsets into the batch-wide statistics: `(partials, shared)`.
    pub stats_at: (usize, usize),
    /// Per-sample offset of the layer's argmax region.
    pub argmax_at: usize,
    /// Parameter tensors the layers before this one hold (they are the table's first ones).
    pub params_before: usize,
    /// Per parameter tensor of the layer, its index in the network's parameter table.
    pub param_index: Vec<usize>,
}

impl Cx {
    /// The shape of the first input.
    pub fn input(&self) -> Shape {
        self.inputs[0]
    }
    /// Samples in the slices the code sees.
    pub fn n(&self) -> TokenStream {
        if self.train {
            quote::quote!(m)
        } else {
            quote::quote!(n)
        }
    }
    /// Samples in the whole batch (what a batch-wide reduction divides by).
    pub fn batch(&self) -> TokenStream {
        quote::quote!(n)
    }
    /// The batch index of the first of those samples.
    pub fn first(&self) -> TokenStream {
        if self.train {
            quote::quote!(t.first)
        } else {
            quote::quote!(0usize)
        }
    }
    /// The first input, at forward time.
    pub fn src(&self) -> TokenStream {
        quote::quote!(src)
    }
    /// Input `k`, at forward time.
    pub fn src_at(&self, k: usize) -> TokenStream {
        let k = lit(k);
        quote::quote!(srcs[#k])
    }
    /// The output, at forward time.
    pub fn dst(&self) -> TokenStream {
        quote::quote!(dst)
    }
    /// Per-call scratch (`&mut [f32]`).
    pub fn work(&self) -> TokenStream {
        if self.train {
            quote::quote!(&mut *t.scratch)
        } else {
            quote::quote!(work)
        }
    }
    /// The first input, at backward time.
    pub fn x(&self) -> TokenStream {
        quote::quote!(x)
    }
    /// Input `k`, at backward time.
    pub fn x_at(&self, k: usize) -> TokenStream {
        let k = lit(k);
        quote::quote!(xs[#k])
    }
    /// The output, at backward time.
    pub fn y(&self) -> TokenStream {
        quote::quote!(y)
    }
    /// The output's gradient.
    pub fn dy(&self) -> TokenStream {
        quote::quote!(dy)
    }
    /// The gradient of the input being written.
    pub fn dx(&self) -> TokenStream {
        quote::quote!(dx)
    }
    /// The gradient of the layer's `k`-th parameter tensor (in [`Layer::tensors`] order).
    pub fn grad(&self, k: usize) -> proc_macro2::Ident {
        quote::format_ident!("g{}", k)
    }
    /// [`Self::grad`] as an `Option<&mut [f32]>` that is `None` while the tensor is frozen: for
    /// kernels that then skip its gradient.
    pub fn grad_if_trained(&self, k: usize) -> TokenStream {
        let (g, at) = (self.grad(k), lit(self.param_index.get(k).copied().unwrap_or(usize::MAX)));
        quote::quote!(flags.param_grad(#at, #g))
    }
    /// Whether the training pass runs in eval mode (`bool`: batch norm by its running
    /// statistics, dropout off), in both passes' code.
    pub fn eval(&self) -> TokenStream {
        quote::quote!(eval)
    }
    /// Whether this backward pass needs the layer's input gradient (`bool`): the network
    /// input's gradient is asked for, or a parameter before the layer trains.
    pub fn input_needed(&self) -> TokenStream {
        let before = lit(self.params_before);
        quote::quote!(flags.runs(#before))
    }
    /// This tile's slots of batch-wide statistics (`&mut [f64]`) for the layer, `len` long.
    pub fn tile_stats(&self, len: TokenStream) -> TokenStream {
        let s = lit(self.stats_at.0);
        quote::quote!(&mut t.stats[#s..#s + #len])
    }
    /// The reduced batch-wide values from `from` on, `len` long, as a tile reads them.
    pub fn tile_shared(&self, from: TokenStream, len: TokenStream) -> TokenStream {
        let h = lit(self.stats_at.1);
        quote::quote!(&t.shared[#h + #from..#h + #from + #len])
    }
    /// What a reduction reads (every group's partials) and the arguments locating the layer's
    /// slots in them: `partials, STATS_LEN, offset`.
    pub fn partials(&self) -> TokenStream {
        let s = lit(self.stats_at.0);
        quote::quote!(partials, STATS_LEN, #s)
    }
    /// The reduced batch-wide values from `from` on, `len` long, as the reduction writes them
    /// and `after_train_forward` reads them.
    pub fn shared(&self, from: TokenStream, len: TokenStream) -> TokenStream {
        let h = lit(self.stats_at.1);
        quote::quote!(shared[#h + #from..#h + #from + #len])
    }
    /// The layer's argmax indices in this tile, `len` a sample, as the forward pass writes them.
    pub fn argmax_mut(&self, len: usize) -> TokenStream {
        let (at, len, n) = (lit(self.argmax_at), lit(len), self.n());
        quote::quote!(::cnn::__private::region_mut(&mut *t.argmax, #n, #at, #len))
    }
    /// The same indices as the backward pass reads them.
    pub fn argmax(&self, len: usize) -> TokenStream {
        let (at, len, n) = (lit(self.argmax_at), lit(len), self.n());
        quote::quote!(::cnn::__private::region(argmax, #n, #at, #len))
    }
    /// The layer's weights packed for the direct kernels, kept between calls.
    pub fn packed(&self) -> TokenStream {
        let slot = self.index;
        quote::quote!(p.pack(#slot))
    }
    /// The dropout generator's key of this layer at this step.
    pub fn mask_key(&self) -> TokenStream {
        let index = self.index as u64;
        quote::quote!(::cnn::__private::dropout_key(seed, step, #index))
    }
}

/// The names of [`Cx`] in one value, for code that interpolates several of them.
pub struct Names {
    pub n: TokenStream,
    pub src: TokenStream,
    pub dst: TokenStream,
    pub work: TokenStream,
    pub x: TokenStream,
    pub y: TokenStream,
    pub dy: TokenStream,
    pub dx: TokenStream,
}

impl Cx {
    pub fn names(&self) -> Names {
        Names {
            n: self.n(),
            src: self.src(),
            dst: self.dst(),
            work: self.work(),
            x: self.x(),
            y: self.y(),
            dy: self.dy(),
            dx: self.dx(),
        }
    }
}

/// A layer's code in a pass that may need a batch-wide reduction in the middle.
pub enum Steps {
    One(TokenStream),
    /// `stage` runs on every tile, `reduce` once over the groups' partials, `then` on every tile
    /// in the next stage.
    Reduced {
        stage: TokenStream,
        reduce: TokenStream,
        then: TokenStream,
    },
}

/// A fused epilogue at inference: per-channel scale and shift expressions (`Option<&[f32]>`)
/// and the activation (`::cnn::Act`).
pub struct Epi {
    pub scale: TokenStream,
    pub shift: TokenStream,
    pub act: TokenStream,
}

/// One layer kind with its arguments resolved.
///
/// Code conventions: the inference forward reads `src` and writes `dst` (`n` samples, scratch
/// `work`); the training forward likewise with `m` samples and the tile `t`; the backward reads
/// `x` (input), `y` (output) and `dy`, writes `dx` when it exists (added to when `acc`), and
/// adds parameter gradients to `g0`, `g1`, ... in [`Layer::tensors`] order. `p` and `bufs` are
/// the parameters and buffers.
pub trait Layer {
    fn kind(&self) -> Kind {
        Kind::Other
    }
    /// The output shape on `input`, and what is wrong.
    fn infer(&self, input: Shape) -> Inferred;
    /// The output shape on several inputs (a merge's), and what is wrong; a layer reads the
    /// first.
    fn infer_inputs(&self, inputs: &[Shape]) -> Inferred {
        self.infer(inputs[0])
    }
    /// Whether the backward pass is emitted one input at a time ([`Layer::backward_input`]), as
    /// for merges, rather than by [`Layer::backward`].
    fn per_input_backward(&self) -> bool {
        false
    }
    /// Backward code writing (or, with `acc`, adding) the gradient of input `k` to `dx` from `dy`
    /// and the inputs `xs`.
    fn backward_input(&self, _cx: &Cx, _k: usize, _acc: bool) -> TokenStream {
        TokenStream::new()
    }
    /// The message and hint for `e` when it is a mistake this kind words itself (worded beside
    /// its check, in the kind's file); `None` for the shared ones `error.rs` words.
    fn explain(&self, _word: &str, _e: &crate::shape::ShapeError) -> Option<(String, Option<String>)> {
        None
    }
    /// The token to blame for `e`, when it is an argument rather than the layer's kind word.
    fn error_span(&self, _e: &crate::shape::ShapeError) -> Option<Span> {
        None
    }
    /// Its tensors, in `state_dict` order.
    fn tensors(&self, _input: Shape, _output: Shape) -> Vec<TensorDef> {
        Vec::new()
    }
    /// Floating-point operations per sample (a multiply-add is two).
    fn flops(&self, _input: Shape, _output: Shape) -> u128 {
        0
    }
    /// The body of the geometry type's trait impl (`impl ::cnn::Conv2dGeom for G { ... }`),
    /// given the type's name.
    fn geometry(&self, _name: &proc_macro2::Ident, _input: Shape, _output: Shape) -> TokenStream {
        TokenStream::new()
    }
    /// Scratch elements per sample, forward or backward, as a `usize` expression (the runtime
    /// knows what its kernels need).
    fn scratch(&self, _cx: &Cx) -> TokenStream {
        quote::quote!(0)
    }
    /// Argmax indices per sample kept for backward.
    fn argmax_len(&self, _output: Shape) -> usize {
        0
    }
    /// `(partials, shared)` `f64` values of batch-wide statistics.
    fn stats_len(&self, _input: Shape) -> (usize, usize) {
        (0, 0)
    }
    /// The bias expression (`Option<&[f32]>`) an inference epilogue starts from.
    fn bias(&self, _cx: &Cx) -> TokenStream {
        quote::quote!(::core::option::Option::None)
    }
    /// A layer the plan may fold into the conv before it at inference (a batch norm with
    /// running statistics), and how.
    fn folding(&self) -> Option<&dyn Fold> {
        None
    }
    /// Why a module holding this layer cannot be applied again with `reuse` (its tensors would
    /// need more than summed gradients), or `None`.
    fn reuse_refusal(&self) -> Option<&'static str> {
        None
    }
    /// Whether eval mode normalizes with the statistics of the samples it is given (a batch
    /// norm without running statistics): then a batch is run as one tile.
    fn batch_statistics_in_eval(&self) -> bool {
        false
    }
    /// The activation, for [`Kind::Act`] layers that fuse into the layer before them.
    fn act(&self) -> Option<TokenStream> {
        None
    }
    /// Inference code from `src` to `dst`, with a fused epilogue.
    fn forward(&self, cx: &Cx, epi: &Epi) -> TokenStream;
    /// A layer that can run in place at inference, and how.
    fn in_place(&self) -> Option<&dyn InPlace> {
        None
    }
    /// Training forward code from `src` to `dst`: by default the inference code with no
    /// epilogue but the layer's bias.
    fn train_forward(&self, cx: &Cx) -> Steps {
        let epi = Epi {
            scale: quote::quote!(::core::option::Option::None),
            shift: self.bias(cx),
            act: quote::quote!(::cnn::Act::Identity),
        };
        Steps::One(self.forward(cx, &epi))
    }
    /// Backward code; `dx` is `Some(acc)` when the input needs a gradient.
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps;
    /// Tokens that run after a training forward pass with samples (running statistics);
    /// `shared` is the batch-wide values and `tracked` the layer's counter after this pass
    /// counted (`num_batches_tracked`), where it has one.
    fn after_train_forward(&self, _cx: &Cx) -> TokenStream {
        TokenStream::new()
    }
    /// Tokens that run once after a backward pass, on the whole batch's parameter gradients
    /// (`g0`, `g1`, ... in [`Layer::tensors`] order, mutable) with the parameters as
    /// [`Cx::tensors`]: weight standardisation's chain rule, which is linear in those gradients.
    fn after_backward(&self, _cx: &Cx) -> TokenStream {
        TokenStream::new()
    }
    /// Whether a training pass with [`Layer::after_train_forward`] code moves the layer's
    /// counter (batch norm's `num_batches_tracked`; instance norm keeps the key but not the count).
    fn counts_batches(&self) -> bool {
        true
    }
    /// Whether the backward pass reads the layer's `(input, output)` values: what training
    /// keeps past the forward pass.
    fn saves(&self) -> (bool, bool) {
        (true, true)
    }
    /// Batch norm on a flat input needs more than one sample to train.
    fn min_train_batch(&self, _input: Shape) -> usize {
        1
    }
}

/// What [`Layer::folding`] gives: a layer that becomes a per-channel scale and shift at inference.
pub trait Fold {
    /// Code that writes the eval-mode per-channel `scale` and `shift` (two `&mut [f32]` in
    /// scope) with `bias` (an `Option<&[f32]>` expression, the layer before's) folded in.
    fn fold(&self, cx: &Cx, bias: TokenStream) -> TokenStream;
}

/// What [`Layer::in_place`] gives: inference code whose output is its first input's memory.
pub trait InPlace {
    /// Inference code in place on `dst`, with the epilogue's activation.
    fn forward_in_place(&self, cx: &Cx, epi: &Epi) -> TokenStream;
}

/// A layer kind's entry: its spellings, schema and constructor.
pub struct KindDef {
    /// Whether the output shape is the input's whatever the arguments, so that checking can go
    /// on past a layer whose arguments are wrong.
    pub keeps_shape: bool,
    pub names: &'static [&'static str],
    pub usage: &'static str,
    pub params: &'static [ParamDef],
    /// The layer from its arguments, read by name.
    pub build: fn(&str, &Args) -> Box<dyn Layer>,
}

/// The registry: every layer kind, in the order the messages list them. A new kind is one line
/// here (and its file).
pub const KINDS: &[&KindDef] = &[
    &conv::CONV,
    &conv::CONV1D,
    &conv_transpose::CONV_TRANSPOSE,
    &linear::LINEAR,
    &pool::MAXPOOL,
    &pool::AVGPOOL,
    &pool::ADAPTIVE_AVGPOOL,
    &pool::ADAPTIVE_MAXPOOL,
    &pool::GLOBAL_AVGPOOL,
    &batchnorm::BATCHNORM,
    &frozen_batchnorm::FROZEN_BATCHNORM,
    &dropout::DROPOUT,
    &dropout::DROPOUT2D,
    &flatten::FLATTEN,
    &flatten::IDENTITY,
    &activation::RELU,
    &activation::RELU6,
    &activation::LEAKY_RELU,
    &activation::ELU,
    &activation::SIGMOID,
    &activation::TANH,
    &activation::GELU,
    &activation::SILU,
    &activation::HARDSWISH,
    &activation::HARDSIGMOID,
    &activation::SOFTMAX,
    &activation::LOG_SOFTMAX,
    &layernorm::LAYERNORM,
    &layernorm::LAYERNORM2D,
    &groupnorm::GROUPNORM,
    &groupnorm::INSTANCENORM,
    &permute::PERMUTE,
    &scale::SCALE,
    &stochastic_depth::STOCHASTIC_DEPTH,
    &channel_shuffle::CHANNEL_SHUFFLE,
    &narrow::NARROW,
    &view::VIEW,
    &upsample::UPSAMPLE,
    &pixel_shuffle::PIXEL_SHUFFLE,
    &pixel_shuffle::PIXEL_UNSHUFFLE,
    &pad::ZEROPAD,
    &pad::REFLECTIONPAD,
    &pad::REPLICATIONPAD,
    &pad::CIRCULARPAD,
];

/// The kind named `word`, if any.
pub fn find(word: &str) -> Option<&'static KindDef> {
    KINDS.iter().copied().find(|k| k.names.contains(&word))
}

/// Resolves a layer item into its kind; errors are pushed and give `None`.
pub fn resolve(item: &ItemSyntax, def: &KindDef, errors: &mut Errors) -> Option<Box<dyn Layer>> {
    let word = item.kind.to_string();
    let span: Span = item.kind.span();
    let values = args::resolve(&word, def.usage, span, def.params, item.args.as_ref(), errors)?;
    Some((def.build)(&word, &Args::new(def.params, values)))
}

/// `Option<&[f32]>` of the tensor at `i`, or `None` when the layer has no such tensor.
pub fn opt(cx: &Cx, i: Option<usize>) -> TokenStream {
    match i {
        Some(i) => {
            let t = &cx.tensors[i];
            quote::quote!(::core::option::Option::Some(#t))
        }
        None => quote::quote!(::core::option::Option::None),
    }
}

/// The literal `n` as an unsuffixed integer token.
pub fn lit(n: usize) -> proc_macro2::Literal {
    proc_macro2::Literal::usize_unsuffixed(n)
}

/// An `f32` literal.
pub fn lit_f32(v: f64) -> proc_macro2::Literal {
    proc_macro2::Literal::f32_suffixed(v as f32)
}

/// The `grad_input` argument of a conv or linear backward kernel: `Some((dx, acc))` or `None`.
pub fn grad_input(cx: &Cx, dx: Option<bool>) -> TokenStream {
    let (name, before) = (cx.dx(), lit(cx.params_before));
    match dx {
        // Left out when every parameter before the layer is frozen (and no input gradient).
        Some(acc) => quote::quote!(flags.input_gradient(#before, (#name, #acc))),
        None => quote::quote!(::core::option::Option::None),
    }
}

/// The `grad_bias` argument: the layer's second gradient (`g1`), if it has a bias and trains.
pub fn grad_bias(cx: &Cx, bias: bool) -> TokenStream {
    if bias {
        cx.grad_if_trained(1)
    } else {
        quote::quote!(::core::option::Option::None)
    }
}

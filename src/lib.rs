//! Convolutional networks written once, in PyTorch's vocabulary, checked at compile time.
//!
//! The [`cnn!`] macro reads a network, computes every layer's shape with PyTorch's formulas,
//! reports each inconsistency as a compile error on the offending token, and expands into a
//! struct whose sizes are all literals: `forward` takes a `&[f32; 784]` and returns a
//! `[f32; 10]`. The layers run on a CPU runtime (im2col and packed GEMM kernels, rayon across
//! the batch); networks train with PyTorch's losses and optimizers, and their weights load from
//! and save to PyTorch `state_dict` safetensors files.
//!
//! ```
//! use cnn::prelude::*;
//!
//! cnn! {
//!     /// LeNet-5 for 28x28 grayscale digits.
//!     pub struct LeNet {
//!         input(1, 28, 28)
//!         conv(1, 6, k=5, p=2) relu pool(2, 2)
//!         conv(6, 16, k=5) relu pool(2, 2)
//!         flatten
//!         linear(400, 120) relu
//!         linear(120, 84) relu
//!         linear(84, 10)
//!     }
//! }
//!
//! let net = LeNet::new(0);
//! assert_eq!(LeNet::PARAM_COUNT, 61_706);
//! let logits: [f32; 10] = net.forward(&[0.5; 784]);
//! assert!(logits.iter().all(|v| v.is_finite()));
//! assert_eq!(net.param("0.weight").unwrap().shape, &[6, 1, 5, 5]);
//! ```
//!
//! # What to read first
//!
//! - [`cnn!`](macro@cnn): the DSL below, and the compile errors it gives.
//! - [`Network`]: the trait every generated network implements, which is the whole API of a
//!   network (forward passes, training steps, tensors by name, safetensors and checkpoints);
//!   code generic over `N: Network` works with any of them.
//! - [`fit::Trainer`]: the training loop, with validation, checkpoints that resume, early
//!   stopping and curves; [`loss`], [`optim`], [`lr`] and [`data`] for the pieces.
//! - [`models`]: torchvision's classification and segmentation networks, loading its weights.
//! - The book in the repository's `docs/` (`mdbook build docs`): the DSL reference, training,
//!   distributed training, converting PyTorch modules, dense prediction, benchmarks and the
//!   internals. The kernels are in [`internals`].
//!
//! # The DSL
//!
//! | DSL | PyTorch |
//! |---|---|
//! | `input(C, H, W)` | the shape of one sample, `[C, H, W]` |
//! | `conv(in, out, k=3, s=1, p=0, d=1, g=1, bias=true)` | `nn.Conv2d(in, out, kernel_size=3, stride=1, padding=0, dilation=1, groups=1, bias=True)`; `p=same`, `p=valid`, `p=same_tf` (TensorFlow's, any stride); `padding_mode=reflect` (`zeros`, `replicate`, `circular`); `ws=true` standardizes the weights as timm's `ScaledStdConv2d(gamma=ws_gamma, eps=ws_eps)` (a learned `gain`), `ws_gain=false` as its `StdConv2d` |
//! | `conv1d(in, out, k=3, s=1, p=0, d=1, g=1, bias=true)` | `nn.Conv1d(...)` on a `[C, L]` value (after a `view`) |
//! | `conv_transpose(in, out, k, s=1, p=0, output_padding=0, g=1, bias=true, d=1)` | `nn.ConvTranspose2d(in, out, kernel_size, stride, padding, output_padding, groups, bias, dilation)` |
//! | `linear(in, out, bias=true)` | `nn.Linear(in, out, bias=True)` |
//! | `maxpool(k, s=k, p=0, d=1, ceil_mode=false)`, `pool(...)` | `nn.MaxPool2d(k, s, p, dilation=1, ceil_mode=False)` |
//! | `avgpool(k, s=k, p=0, ceil_mode=false, count_include_pad=true, divisor_override=0)` | `nn.AvgPool2d(...)`; `divisor_override=0` is `None` |
//! | `adaptive_avgpool(n)`, `adaptive_maxpool((h, w))`, `global_avgpool` | `nn.AdaptiveAvgPool2d(n)`, `nn.AdaptiveMaxPool2d((h, w))`, `nn.AdaptiveAvgPool2d(1)` |
//! | `batchnorm(C, eps=1e-5, momentum=0.1, affine=true, track_running_stats=true, bias=true)` | `nn.BatchNorm2d(C)` after `[C, H, W]`, `nn.BatchNorm1d(C)` after `[C]` |
//! | `frozen_batchnorm(C, eps=1e-5)` | `torchvision.ops.FrozenBatchNorm2d(C)`: constant statistics and affine, all buffers (detection backbones) |
//! | `dropout(p=0.5)`, `dropout2d(p=0.5)` | `nn.Dropout(p)`, `nn.Dropout2d(p)`; `inplace=true` accepted |
//! | `flatten`, `identity` | `nn.Flatten()`, `nn.Identity()` |
//! | `relu`, `relu6`, `leaky_relu(negative_slope=0.01)`, `elu(alpha=1.0)`, `sigmoid`, `tanh`, `gelu`, `gelu(approximate=tanh)`, `silu`, `hardswish`, `hardsigmoid` | the `nn` module of the same name; `inplace=true` accepted where PyTorch has it |
//! | `softmax`, `log_softmax` | `nn.Softmax(dim=1)`, `nn.LogSoftmax(dim=1)` |
//! | `layernorm(C, eps=1e-5, elementwise_affine=true, bias=true)` | `nn.LayerNorm(C)` over the last dimension: a flat value's features, or the channels of each pixel of a channels-last value |
//! | `layernorm2d(C, eps=1e-6)` | torchvision's `LayerNorm2d`: the channels at every pixel of `[C, H, W]` |
//! | `groupnorm(G, C, eps=1e-5, affine=true)` | `nn.GroupNorm(G, C)`: each sample's channels in `G` groups, on `[C, H, W]` or `[C]` |
//! | `instancenorm(C, eps=1e-5, momentum=0.1, affine=false, track_running_stats=false)` | `nn.InstanceNorm2d(C)`: each channel of each sample over its map |
//! | `permute(0, 2, 3, 1)`, `permute(0, 3, 1, 2)` | `torchvision.ops.Permute`: to channels-last `[H, W, C]` (where `linear` acts per pixel) and back |
//! | `scale(C, init=1.0, flat=false)`, `scale(scalar=true)` | ConvNeXt's `layer_scale`: a learned factor per channel, keyed by the item itself (`[C]` with `flat=true`, as timm's `gamma`); one learned 0-d factor with `scalar=true` (NFNet's `skipinit_gain`) |
//! | `scale(by=0.2)`, `scale(channels, by=0.2)` | `x * 0.2`: a constant factor, no tensor |
//! | `stochastic_depth(p, mode=row)` | `torchvision.ops.StochasticDepth(p, "row")` (or `"batch"`) |
//! | `channel_shuffle(g)` | `nn.ChannelShuffle(g)` |
//! | `narrow(1, start, length)` | `x.narrow(1, start, length)`, `x[:, start:start + length]` |
//! | `view(d0)`, `view(d0, d1)`, `view(d0, d1, d2)`, `reshape(...)` | `x.view(N, d0, ...)`: one sample's elements as `[F]`, `[C, L]` or `[C, H, W]`; one size may be `-1` (`view(1, -1)`) |
//! | `upsample(scale_factor=2, mode=nearest)`, `upsample(size=(h, w), mode=bilinear, align_corners=false, recompute_scale_factor=false)` | `nn.Upsample(...)` / `F.interpolate(...)`: modes `nearest`, `"nearest-exact"`, `bilinear` |
//! | `pixel_shuffle(r)`, `pixel_unshuffle(r)` | `nn.PixelShuffle(r)`, `nn.PixelUnshuffle(r)` |
//! | `zeropad(p)` or `zeropad(left, right, top, bottom)`; `reflectionpad`, `replicationpad`, `circularpad` likewise | `nn.ZeroPad2d`, `nn.ReflectionPad2d`, `nn.ReplicationPad2d`, `nn.CircularPad2d` |
//! | `seq { ... }` | a nested `nn.Sequential` |
//! | `residual { ... }`, `residual { ... }` `shortcut { ... }` | `body(x) + x`, `body(x) + shortcut(x)` |
//! | `cat { b0 b1 ... }` | `torch.cat([b0(x), b1(x), ...], dim=1)` |
//! | `dense { ... }` | `torch.cat([x, body(x)], dim=1)` |
//! | `gate { ... }` | `x * body(x)`, the body's `[C, 1, 1]` broadcast over the map |
//! | `split { b0 b1 ... }` | `torch.cat([b_i(c_i) for c_i in x.chunk(n, dim=1)], dim=1)` |
//! | `split(s0, s1, ...) { b0 b1 ... }` | the same over `torch.split(x, [s0, s1, ...], dim=1)` |
//! | `sum { b0 b1 ... }` | `b0(x) + b1(x) + ...` |
//! | `sub { a b }` | `a(x) - b(x)` (MetaFormer's `pool(x) - x`) |
//! | `mul { a b }` | `a(x) * b(x)`, `b`'s `[C, 1, 1]` broadcast over the map (LR-ASPP's head) |
//!
//! Keywords have PyTorch's spelling too: `kernel_size`, `stride`, `padding`, `dilation`,
//! `groups`, `in_channels`, `out_channels`, `in_features`, `out_features`, `num_features`.
//! Sizes are integers or `(h, w)` pairs; `_` in place of `in_channels`, `in_features` or
//! `num_features` takes the number from the previous layer. Layers are separated by whitespace
//! or commas, and any item may be named with a word or a dotted path (`c1: conv(...)`,
//! `layer1.0: residual { ... }`).
//!
//! Parameters follow the `state_dict` of the same PyTorch module tree: a tensor's key is the
//! path of names (or positions, counted from 0 as `nn.Sequential` numbers its children, every
//! layer included) down to it: `"0.weight"`, `"layer2.0.downsample.0.weight"`. A name may also
//! be a string (`"block1-0": seq { ... }`), or `_`, which adds no segment: forward code that is
//! not a module (`_: cat { ... }`), or a layer on its parent's own tensors (`bn1: seq { _:
//! batchnorm(64) act: relu }` has `bn1.weight`). Branches of `cat`, `split` and `sum` are keyed
//! by name or position under their block; the bodies of `residual`, `dense` and `gate` directly
//! under it. `let s` names the value at a point of a chain and `from s` reads it again later,
//! for forwards that no nesting of chains and merges expresses; `output p3` makes a value one of
//! several outputs, which `forward` returns as the fields of a generated `{Net}Outputs` struct
//! (a feature pyramid's levels), and `head: reuse` applies the module `head` again with the same
//! weights (a detection head on every level).
//! torchvision's classification families, segmentation models and detectors (RetinaNet, FCOS,
//! SSDlite) come ready in [`models`]; [`detect`] has the boxes, anchors and post-processing around
//! a detector.
//! Weight layouts
//! are PyTorch's and activations are NCHW. Batch norm's running statistics are buffers and its
//! `num_batches_tracked` a counter; both are saved and loaded with the parameters.
//!
//! ```
//! use cnn::prelude::*;
//!
//! cnn! {
//!     /// A residual network's start, with torchvision's names.
//!     pub struct ResStart {
//!         input(3, 32, 32)
//!         conv1: conv(3, 16, k=3, p=1, bias=false) bn1: batchnorm(16) relu
//!         layer1.0: residual {
//!             conv1: conv(16, 32, k=3, s=2, p=1, bias=false) bn1: batchnorm(32) relu
//!             conv2: conv(32, 32, k=3, p=1, bias=false) bn2: batchnorm(32)
//!         } downsample: shortcut {
//!             conv(16, 32, k=1, s=2, bias=false) batchnorm(32)
//!         } relu
//!         global_avgpool flatten
//!         fc: linear(32, 10)
//!     }
//! }
//!
//! let net = ResStart::new(0);
//! assert_eq!(net.param("layer1.0.downsample.0.weight").unwrap().shape, &[32, 16, 1, 1]);
//! assert_eq!(net.buffer("layer1.0.bn2.running_var").unwrap().data, &[1.0; 32]);
//! assert_eq!(net.counter("bn1.num_batches_tracked"), Some(0));
//! let logits: [f32; 10] = net.forward(&[0.1; 3 * 32 * 32]);
//! assert!(logits.iter().all(|v| v.is_finite()));
//! ```
//!
//! ## Blocks, loops and conditions
//!
//! A `cnn!` may define blocks before, between or after its structs, and hold several structs,
//! which share them. `block NAME(PARAMS) { ITEMS }` is written once; `NAME(ARGS)` (optionally
//! named, `layer1.0: NAME(...)`) is one item, keyed like a `seq` holding the block's items.
//! Parameters are numbers or words (`mode=m`), with defaults (`s = 1`) and keyword arguments
//! (`conv_bn(8, 16, s=2)`); arguments are expressions with `+ - * / %` (integer division and
//! remainder floor, as Python's `//` and `%`), parentheses and `(h, w)` pairs; conditions add
//! comparisons and `&& || !`. `for VAR in A..B { ITEMS }` (or `A..=B`, VAR a name or `_`) and
//! `if COND { ITEMS } else { ITEMS }` are flattened into the items around them, so positions
//! count on as if the items were written out, and a quoted name interpolates:
//! `"denselayer{i + 1}"`. An error inside a block's body points at the body's token and ends
//! with the use that produced it (`note: in `bottleneck(256, 64, 1)` at line 12 (cin = 256,
//! ...)`); `SUMMARY` shows each use with its arguments and its items below it.
//!
//! ```
//! use cnn::prelude::*;
//!
//! cnn! {
//!     /// torchvision's `Bottleneck`.
//!     block bottleneck(cin, planes, s = 1) {
//!         _: residual {
//!             conv1: conv(cin, planes, k=1, bias=false) bn1: batchnorm(planes) relu
//!             conv2: conv(planes, planes, k=3, s=s, p=1, bias=false) bn2: batchnorm(planes) relu
//!             conv3: conv(planes, planes * 4, k=1, bias=false) bn3: batchnorm(planes * 4)
//!         } if s != 1 || cin != planes * 4 {
//!             downsample: shortcut { conv(cin, planes * 4, k=1, s=s, bias=false) batchnorm(planes * 4) }
//!         }
//!         relu
//!     }
//!
//!     block stage(cin, planes, blocks, s) {
//!         bottleneck(cin, planes, s) for _ in 1..blocks { bottleneck(planes * 4, planes) }
//!     }
//!
//!     pub struct Small {
//!         input(3, 32, 32)
//!         conv1: conv(3, 16, k=3, p=1, bias=false) bn1: batchnorm(16) relu
//!         layer1: stage(16, 8, 2, 1)
//!         layer2: stage(32, 16, 2, 2)
//!         avgpool: adaptive_avgpool(1) flatten fc: linear(64, 10)
//!     }
//! }
//!
//! let net = Small::new(0);
//! assert_eq!(net.param("layer1.0.downsample.0.weight").unwrap().shape, &[32, 16, 1, 1]);
//! assert_eq!(net.param("layer2.1.conv3.weight").unwrap().shape, &[64, 16, 1, 1]);
//! assert!(net.param("layer1.1.downsample.0.weight").is_none());
//! assert!(Small::SUMMARY.contains("stage(32, 16, 2, 2)"));
//! ```
//!
//! ## From PyTorch
//!
//! `python3 tools/torch2cnn.py MODULE --input C,H,W [--name Net] [--weights FILE] [--out FILE]`
//! writes this DSL for a PyTorch module (MODULE an expression such as
//! `torchvision.models.resnet18()`, or `FILE.py:EXPR`), traced with `torch.fx` one module at a
//! time so that its module paths are the keys, with a `block` per module class used more than
//! once; `--weights` exports its `state_dict`, which `load_safetensors` reads as it is. What the
//! DSL cannot express is refused with the module, the op and its source line. The book's "From
//! PyTorch" chapter (`docs/src/from-pytorch.md`) shows a whole conversion.
//!
//! `forward`, `forward_batch` and `forward_batch_into` run in eval mode (running statistics,
//! no dropout); `forward_train`, `backward`, `train_step` and `try_train_step` in train mode
//! (batch statistics over the whole batch, running statistics updated, dropout on).
//!
//! # What the macro generates
//!
//! For `pub struct Net { ... }`: the struct `Net` and its implementation of [`Network`], the
//! trait every network shares, and `NetGrads`, its gradients ([`Grads<Net>`](Grads)). The
//! trait's constants (`INPUT_SHAPE`, `INPUT_LEN`, `OUTPUT_SHAPE`, `OUTPUT_LEN`, `CLASSES`,
//! `LABELS_PER_SAMPLE`, `PARAM_COUNT`, `FORWARD_FLOPS`, `SUMMARY`, `PARAMS`, `BUFFERS`,
//! `COUNTERS`, `MIN_TRAIN_BATCH`) and sample types (`Input = [f32; 784]`, `Output`) are the
//! network's own; its methods are the same for every network: `Net::new(seed)`; `forward`,
//! `forward_batch` and `forward_batch_into` (no allocation once its [`Workspace`] is warm),
//! `activations`; `params`, `param`, `param_mut`, `params_mut`, `flat_params`; `buffers`,
//! `buffer`, `buffer_mut`, `counter`; `step_count`, `set_step_count`; `load_safetensors`,
//! `save_safetensors` with their in-memory forms and checkpoints; and for training
//! `train_step` (mean cross-entropy and one [`Optimizer`] update), `try_train_step`,
//! `train_step_with` (the loss's options, [`loss::CrossEntropy`]), and the same step in
//! pieces: `forward_train`, `backward` into a `NetGrads` with the same parameter names,
//! `apply_gradients`. Code generic over `N: Network` works with any network; the methods need
//! the trait in scope (`use cnn::prelude::*`).
//!
//! ## Dense prediction
//!
//! A network whose output is a map `[K, H, W]` (segmentation) trains with one label per pixel,
//! `xs.len() * H * W` of them, as `nn.CrossEntropyLoss` takes an `[N, H, W]` target; class
//! weights, an ignored label (255 for unlabelled pixels) and label smoothing come with
//! `train_step_with`. [`metrics::predict_pixels`] and [`metrics::ConfusionMatrix`] give the
//! per-pixel classes, pixel accuracy and mean IoU; `examples/segment.rs` trains a U-Net.
//!
//! ```
//! use cnn::loss::CrossEntropy;
//! use cnn::prelude::*;
//!
//! cnn! {
//!     /// Two classes per pixel of an 8x8 map, back at full resolution.
//!     pub struct Tiny {
//!         input(1, 8, 8)
//!         conv(1, 4, k=3, p=1, padding_mode=reflect) relu maxpool(2)
//!         conv_transpose(4, 2, k=2, s=2)
//!     }
//! }
//!
//! let mut net = Tiny::new(0);
//! assert_eq!(Tiny::OUTPUT_SHAPE, &[2, 8, 8]);
//! let xs = vec![[0.5f32; 64]; 2];
//! let labels: Vec<usize> = (0..2 * 64).map(|i| if i % 9 == 0 { 255 } else { i % 2 }).collect();
//! let loss = CrossEntropy::new().weight(vec![1.0, 2.0]).ignore_index(255);
//! let l = net.train_step_with(&xs, &labels, &loss, &mut Sgd::new(0.1));
//! assert!(l.is_finite());
//! ```
//!
//! ```
//! use cnn::data::{digits, Loader};
//! use cnn::nets::DigitsNet;
//! use cnn::prelude::*;
//!
//! let (train, test) = digits().split_at(1437);
//! let mut net = DigitsNet::new(0);
//! let mut opt = Adam::new(2e-3);
//! let mut loader = Loader::new(&train, 32, 0);
//! loader.shuffle();
//! let mut losses = Vec::new();
//! while let Some((xs, labels)) = loader.next_batch() {
//!     losses.push(net.train_step(xs, labels, &mut opt));
//! }
//! assert!(losses.last().unwrap() < &losses[0]);
//! let accuracy = cnn::metrics::accuracy(&net.forward_batch(&test.images), &test.labels);
//! assert!(accuracy > 0.5);
//! ```

// The generated code names this crate `::cnn`, which inside the crate itself (for `nets`)
// needs this alias.
extern crate self as cnn;

pub use cnn_macros::cnn;

// What programs name: data, training, weights and the types of the network API.
pub use cnn_runtime::{checkpoint, data, loss, lr, metrics, optim, params, weights};
pub use cnn_runtime::{isa, try_isa, Isa, IsaError};
pub use cnn_runtime::{Adam, AdamW, Optimizer, OptimizerState, Sgd, TrainError};
pub use cnn_runtime::{Init, OutputSpec, Param, ParamMut, ParamSpec, ParamsMut, Sample, Tensor, Workspace};
pub use cnn_runtime::{WeightsError, WeightsErrorKind};

// The kernels, at the paths the generated code calls them by; `internals` shows them.
#[doc(hidden)]
pub use cnn_runtime::*;

/// The runtime's kernels and the pieces of a training step, for benchmarks, tests and the
/// curious: the generated code calls them, programs do not need to (see the book's
/// "Internals" chapter).
pub mod internals {
    pub use cnn_runtime::{
        activation, conv, conv_transpose, dot, exchange, gemm, geom, im2col, linear, packed, pad, pixel_shuffle, pool,
        upsample,
    };
}

pub mod detect;
pub mod fit;
pub mod models;
pub mod nets;
mod network;

#[doc(hidden)]
pub use network::__debug;
pub use network::{Grads, Network};

/// `cnn::resnet18!` and `cnn::mobilenet_v2!`, from before [`models`] held every family.
pub use cnn_macros::{mobilenet_v2, resnet18};
#[cfg(feature = "viz")]
pub mod viz;

#[cfg(feature = "mpi")]
pub mod dist;

/// The book's chapters (`docs/src`, built with `mdbook build docs`): their Rust blocks run as
/// this crate's doctests, so the book cannot drift from the code.
#[cfg(doctest)]
mod book {
    #[doc = include_str!("../README.md")]
    mod readme {}
    #[doc = include_str!("../docs/src/introduction.md")]
    mod introduction {}

    #[doc = include_str!("../docs/src/examples.md")]
    mod examples {}

    #[doc = include_str!("../docs/src/dsl.md")]
    mod dsl {}

    #[doc = include_str!("../docs/src/compile-time-checks.md")]
    mod compile_time_checks {}

    #[doc = include_str!("../docs/src/generated-api.md")]
    mod generated_api {}

    #[doc = include_str!("../docs/src/training.md")]
    mod training {}

    #[doc = include_str!("../docs/src/distributed.md")]
    mod distributed {}

    #[doc = include_str!("../docs/src/from-pytorch.md")]
    mod from_pytorch {}

    #[doc = include_str!("../docs/src/dense-prediction.md")]
    mod dense_prediction {}

    #[doc = include_str!("../docs/src/detection.md")]
    mod detection {}

    #[doc = include_str!("../docs/src/benchmarks.md")]
    mod benchmarks {}

    #[doc = include_str!("../docs/src/internals.md")]
    mod internals {}
}

/// The macro and the types a program using it names.
pub mod prelude {
    pub use crate::cnn;
    pub use crate::{Grads, Network};
    pub use cnn_runtime::{Adam, AdamW, Optimizer, Param, ParamMut, Sample, Sgd, TrainError, WeightsError, Workspace};
}

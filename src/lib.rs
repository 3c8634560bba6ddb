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
//! # The DSL
//!
//! | DSL | PyTorch |
//! |---|---|
//! | `input(C, H, W)` | the shape of one sample, `[C, H, W]` |
//! | `conv(in, out, k=3, s=1, p=0)` | `nn.Conv2d(in, out, kernel_size=3, stride=1, padding=0)` |
//! | `relu` | `nn.ReLU()` |
//! | `pool(k)`, `pool(k, s)`, `maxpool(...)` | `nn.MaxPool2d(k)`, `nn.MaxPool2d(k, s)` |
//! | `flatten` | `nn.Flatten()` |
//! | `linear(in, out)` | `nn.Linear(in, out)` |
//!
//! Keywords have PyTorch's spelling too: `kernel_size`, `stride`, `padding`, `in_channels`,
//! `out_channels`, `in_features`, `out_features`. Sizes are integers or `(h, w)` pairs; `_` in
//! place of `in_channels` or `in_features` takes the number from the previous layer. Layers are
//! separated by whitespace or commas, and may be named (`c1: conv(...)`).
//!
//! Parameters follow `nn.Sequential`'s `state_dict`: the layer at position `i` after `input`
//! (activations, pools and `flatten` counted) owns `"{i}.weight"` and `"{i}.bias"`, a named
//! layer `"{name}.weight"`. Weight layouts are PyTorch's and activations are NCHW.
//!
//! # What the macro generates
//!
//! For `pub struct Net { ... }`: `Net::new(seed)`, the constants `INPUT_SHAPE`, `INPUT_LEN`,
//! `OUTPUT_SHAPE`, `OUTPUT_LEN`, `PARAM_COUNT`, `FORWARD_FLOPS`, `SUMMARY` and `PARAMS`;
//! `forward`, `forward_batch` and `forward_batch_into` (no allocation once its [`Workspace`]
//! is warm); `params`, `param`, `param_mut`, `params_mut`, `flat_params`;
//! `load_safetensors`, `save_safetensors` with their in-memory forms; and for training
//! `train_step` (mean cross-entropy and one [`Optimizer`] update), `try_train_step`, and the
//! same step in pieces: `forward_train`, `backward` into a `NetGrads` value with the same
//! parameter names, `apply_gradients`.
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
pub use cnn_runtime::*;

pub mod nets;

/// The macro and the types a program using it names.
pub mod prelude {
    pub use crate::cnn;
    pub use cnn_runtime::{Adam, AdamW, Optimizer, Param, ParamMut, Sgd, TrainError, WeightsError, Workspace};
}

//! The CPU runtime behind networks written with the `cnn!` macro.
//!
//! Users depend on the `cnn` crate, which re-exports everything here. The generated code calls
//! these kernels with one zero-sized geometry type per layer (see [`geom`]), so every kernel is
//! compiled for its layer's exact sizes. Layouts are PyTorch's: activations NCHW per sample,
//! convolution weights `[out, in, kh, kw]`, linear weights `[out, in]`.

pub mod activation;
pub mod batch;
pub mod conv;
pub mod data;
pub mod dot;
pub mod gemm;
pub mod geom;
pub mod im2col;
pub mod init;
pub mod linear;
pub mod metrics;
pub mod loss;
pub mod optim;
pub mod params;
pub mod pool;
mod simd;
pub mod train;
pub mod weights;

#[cfg(test)]
mod reference;

pub use activation::{relu_backward, relu_in_place};
pub use batch::{for_each_tile, with_thread_workspace, Tiling, Workspace};
pub use conv::{conv2d_backward, conv2d_backward_scratch_len, conv2d_forward, conv2d_forward_scratch_len};
pub use geom::{Conv2dGeom, Conv2dSpec, LinearGeom, LinearSpec, Pool2dGeom, Pool2dSpec};
pub use init::init_default;
pub use linear::{linear_backward, linear_forward};
pub use loss::TrainError;
pub use optim::{Adam, AdamW, Optimizer, Sgd};
pub use params::{Param, ParamMut, ParamSpec, ParamsMut};
pub use pool::{max_pool2d_backward, max_pool2d_forward, max_pool2d_forward_argmax};
pub use train::{TrainBuffers, TrainLayout};
pub use weights::{WeightsError, WeightsErrorKind};

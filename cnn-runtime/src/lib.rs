//! The CPU runtime behind networks written with the `cnn!` macro.
//!
//! Users depend on the `cnn` crate, which re-exports everything here. The generated code calls
//! these kernels with one zero-sized geometry type per layer (see [`geom`]), so every kernel is
//! compiled for its layer's exact sizes. Layouts are PyTorch's: activations NCHW per sample,
//! convolution weights `[out, in, kh, kw]`, linear weights `[out, in]`.

pub mod activation;
mod batch;
pub mod checkpoint;
pub mod conv;
pub mod data;
mod direct;
mod direct_channels;
pub mod dot;
mod dropout;
pub mod gemm;
pub mod geom;
pub mod im2col;
mod init;
mod layer_norm;
pub mod linear;
pub mod loss;
pub mod lr;
mod merge;
pub mod metrics;
mod norm;
pub mod optim;
pub mod packed;
pub mod params;
pub mod pool;
mod scale;
mod simd;
mod tensor;
mod train;
mod transpose;
pub mod weights;

#[cfg(test)]
mod reference;

pub use activation::{act_backward, act_forward, act_in_place, relu_in_place, Act};
pub use batch::Workspace;
pub use conv::{
    conv2d_backward, conv2d_backward_scratch_len, conv2d_forward, conv2d_forward_cached, conv2d_forward_scratch_len,
    conv2d_scratch_per_sample, Epilogue,
};
pub use geom::{Conv2dGeom, Conv2dSpec, LinearGeom, LinearSpec, Pool2dGeom, Pool2dSpec};
pub use linear::{linear_backward, linear_forward};
pub use loss::TrainError;
pub use optim::{Adam, AdamW, Optimizer, OptimizerState, Sgd};
pub use params::{Init, Param, ParamMut, ParamSpec, ParamsMut};
pub use pool::{
    avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward, max_pool2d_forward_argmax,
};
pub use tensor::Tensor;
pub use weights::{WeightsError, WeightsErrorKind};

/// What the code `cnn!` generates calls, beside the public kernels: not an API to use by hand.
#[doc(hidden)]
pub mod __private {
    pub use crate::activation::{softmax_backward, softmax_forward};
    pub use crate::batch::{for_each_tile, max_of, tile_size, with_thread_workspace, Tiling};
    pub use crate::checkpoint::{load_checkpoint, load_checkpoint_bytes, save_checkpoint};
    pub use crate::dropout::{dropout, dropout_key, stochastic_depth};
    pub use crate::init::init_default;
    pub use crate::layer_norm::{layer_norm_backward, layer_norm_forward, LayerNormShape};
    pub use crate::loss::check_labels;
    pub use crate::merge::{add_forward, add_in_place, copy_block, pass_gradient};
    pub use crate::merge::{gate_backward_gate, gate_backward_input, gate_forward};
    pub use crate::norm::*;
    pub use crate::packed::Params;
    pub use crate::params::{find, params, params_mut, zeroed_array, zeroed_rows};
    pub use crate::scale::{scale_backward, scale_forward};
    pub use crate::train::{region, region_mut, regions, slices_mut, Tile};
    pub use crate::train::{train_groups, TrainBuffers, TrainLayout};
    pub use crate::transpose::transpose;
    pub use crate::weights::StateSpecs;
    pub use crate::weights::{load_state, load_state_bytes, save_state, save_state_bytes, StateMut, StateRef};
}

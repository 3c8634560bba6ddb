//! The CPU runtime behind networks written with the `cnn!` macro.
//!
//! Users depend on the `cnn` crate, which re-exports everything here. The generated code calls
//! these kernels with one zero-sized geometry type per layer (see [`geom`]), so every kernel is
//! compiled for its layer's exact sizes. Layouts are PyTorch's: activations NCHW per sample,
//! convolution weights `[out, in, kh, kw]`, linear weights `[out, in]`.

pub mod geom;
mod init;
mod io;
mod isa;
mod kernels;
pub mod params;
#[cfg(test)]
mod reference;
mod sample;
mod state;
mod tensor;
mod tiling;
mod train;
mod vector;

pub use io::{checkpoint, data, weights};
pub use kernels::conv::{im2col, packed_weights as packed};
pub use kernels::{activation, conv, conv_transpose, dot, gemm, linear, pad, pixel_shuffle, pool, upsample};
pub use train::{exchange, loss, lr, metrics, optim};

pub use activation::{act_backward, act_forward, act_in_place, relu_in_place, Act};
pub use conv::{
    conv2d_backward, conv2d_backward_scratch_len, conv2d_forward, conv2d_forward_cached, conv2d_forward_scratch_len,
    conv2d_forward_train, conv2d_scratch_per_sample, Epilogue,
};
pub use conv_transpose::{
    conv_transpose2d_backward, conv_transpose2d_forward, conv_transpose2d_scratch_per_sample, conv_transpose2d_spec,
};
pub use geom::{Conv2dGeom, Conv2dSpec, LinearGeom, LinearSpec, Pool2dGeom, Pool2dSpec};
pub use isa::{isa, try_isa, Isa, IsaError};
pub use linear::{linear_backward, linear_forward};
pub use loss::TrainError;
pub use optim::{Adam, AdamW, Optimizer, OptimizerState, Sgd};
pub use pad::{pad2d_backward, pad2d_forward, PadMode, PadSpec};
pub use params::{Init, Param, ParamMut, ParamSpec, ParamsMut};
pub use pixel_shuffle::pixel_shuffle;
pub use pool::{
    avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward, max_pool2d_forward_argmax,
};
pub use sample::{OutputSpec, Sample};
pub use tensor::Tensor;
pub use tiling::Workspace;
pub use upsample::{upsample_backward, upsample_forward, UpsampleMode, UpsampleSpec};
pub use weights::{WeightsError, WeightsErrorKind};

/// What the code `cnn!` generates calls, beside the public kernels: not an API to use by hand.
#[doc(hidden)]
pub mod __private {
    pub use crate::init::init_default;
    pub use crate::io::checkpoint::{load_checkpoint, load_checkpoint_bytes, save_checkpoint};
    pub use crate::io::weights::StateSpecs;
    pub use crate::io::weights::{
        load_state, load_state_bytes, load_states, replace_file, save_state, save_state_bytes, save_states, StateMut,
        StateRef,
    };
    pub use crate::kernels::activation::{softmax_backward, softmax_forward};
    pub use crate::kernels::batch_norm::*;
    pub use crate::kernels::conv::packed_weights::Params;
    pub use crate::kernels::dropout::{dropout, dropout_key, stochastic_depth};
    pub use crate::kernels::group_norm::{group_norm_backward, group_norm_forward, group_norm_reduce, GroupNormShape};
    pub use crate::kernels::layer_norm::{layer_norm_backward, layer_norm_forward, LayerNormShape};
    pub use crate::kernels::merge::{add_forward, add_in_place, copy_block, pass_gradient};
    pub use crate::kernels::merge::{gate_backward_gate, gate_backward_input, gate_forward};
    pub use crate::kernels::merge::{pass_negated_gradient, sub_forward};
    pub use crate::kernels::scale::{scale_backward, scale_by_backward, scale_by_forward, scale_forward};
    pub use crate::kernels::transpose::transpose;
    pub use crate::kernels::weight_standardization::{ws_backward, ws_weight};
    pub use crate::params::{params, params_mut, tensor, tensor_mut, zeroed_array, zeroed_rows};
    pub use crate::sample::{zeroed_outputs, zeroed_outputs_box, NamedOutputs};
    pub use crate::state::{NetState, StateShape};
    pub use crate::tiling::{for_each_tile, max_of, tile_size, with_thread_workspace, Tiling};
    pub use crate::train::frozen::{optimizer_step, BackwardFlags, Frozen};
    pub use crate::train::loss::{check_label_count, check_loss_labels, cross_entropy_with};
    pub use crate::train::optim::check_optimizer;
    pub use crate::train::step::{region, region_mut, regions, slices_mut, Tile};
    pub use crate::train::step::{train_groups, GradPartial, KeyGrad, Part, TrainBuffers, TrainLayout};
}

//! The computational kernels: matrix products, convolutions, pooling, normalizations,
//! activations, the merges of multi-input blocks, and the resampling of dense prediction
//! (transposed convolution, upsampling, pixel shuffles, padding), each forward and backward.

pub mod activation;
pub(crate) mod batch_norm;
pub mod conv;
pub mod conv_transpose;
pub mod dot;
pub(crate) mod dropout;
pub mod gemm;
pub(crate) mod group_norm;
pub(crate) mod layer_norm;
pub mod linear;
pub(crate) mod merge;
pub mod pad;
pub mod pixel_shuffle;
pub mod pool;
pub(crate) mod scale;
pub(crate) mod transpose;
pub mod upsample;
pub(crate) mod weight_standardization;

//! The computational kernels: matrix products, convolutions, pooling, normalizations,
//! activations and the merges of multi-input blocks, each forward and backward.

pub mod activation;
pub(crate) mod batch_norm;
pub mod conv;
pub mod dot;
pub(crate) mod dropout;
pub mod gemm;
pub(crate) mod layer_norm;
pub mod linear;
pub(crate) mod merge;
pub mod pool;
pub(crate) mod scale;
pub(crate) mod transpose;

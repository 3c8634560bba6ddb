//! Convolution of small maps, output rows narrower than 7 pixels (ResNet's 4x4 and 2x2 stages
//! at 64x64 inputs; any kernel, stride, dilation or padding, one group): the pixels of every
//! sample are gathered into one im2col matrix `[c_in·kh·kw, n·h·w]`, and the pointwise kernel's
//! [`product`] multiplies the weights, read as they lie, by it, with the epilogue fused. One
//! sample's product is its NCHW output; several samples' is scattered to theirs.
//!
//! At batch 1 the weights are most of the bytes such a layer touches (ResNet-18's last stage:
//! 2.4 million per layer against 2 048 input values), and the packed product copied them into
//! panels on every call before reading them; here each call reads them once, and no packed copy
//! is kept. A pixel's sum is the same whichever pixels share its kernel call, so the batch does
//! not change a bit.
//!
//! Used where AVX-512F is present; elsewhere the packed product runs.

use crate::geom::Conv2dSpec;
use crate::kernels::conv::direct_channels::MIN_WIDTH;
use crate::kernels::conv::pointwise::{available, product};
use crate::kernels::conv::Epilogue;

/// Whether this path takes the layer: one group, output rows narrower than the channel-lane
/// kernel takes.
pub(crate) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.groups == 1 && spec.w_out() < MIN_WIDTH
}

/// Convolves `n` samples into `output` (overwritten) with the epilogue applied, using
/// `scratch` (at least `n·(col_len + out_len)`) for the im2col matrix and, for several samples,
/// the product. Returns `false`, touching nothing, where the CPU lacks AVX-512F.
pub(crate) fn forward(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    epilogue: Epilogue<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
) -> bool {
    if !available() {
        return false;
    }
    let (taps, hw) = (spec.c_in * spec.kh * spec.kw, spec.h_out() * spec.w_out());
    let cols = n * hw;
    let (col, rest) = scratch.split_at_mut(taps * cols);
    crate::kernels::conv::im2col::im2col(spec, n, input, col);
    if n == 1 {
        product(spec.c_out, taps, cols, col, weight, &epilogue, output);
        return true;
    }
    // The product is [c_out, n·h·w]: each channel's row holds the samples one after another.
    let result = &mut rest[..spec.c_out * cols];
    product(spec.c_out, taps, cols, col, weight, &epilogue, result);
    for (c, row) in result.chunks_exact(cols).enumerate() {
        for (s, plane) in row.chunks_exact(hw).enumerate() {
            output[(s * spec.c_out + c) * hw..][..hw].copy_from_slice(plane);
        }
    }
    true
}

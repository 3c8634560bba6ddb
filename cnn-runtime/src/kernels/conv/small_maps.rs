//! Convolution of small maps, output rows narrower than 7 pixels (ResNet's 4x4 and 2x2 stages
//! at 64x64 inputs; any kernel, stride, dilation or padding, one group): the pixels of every
//! sample are gathered into one im2col matrix `[c_in·kh·kw, n·h·w]`, then multiplied by the
//! weights as one 1x1 convolution with `c_in·kh·kw` input channels over a single row of pixels.
//!
//! - Several samples (a training tile): the pointwise kernel's [`product`], which reads the
//!   weights as they lie, with pixels across the lanes; the result is scattered to the samples.
//! - One sample with a cache for packed weights (a network's layer): its few pixels would fill
//!   a fraction of a vector, and the weights are most of the bytes the layer touches
//!   (ResNet-18's last stage: 2.4 million per layer against 2 048 input values). So the
//!   channel-lane kernel of [`crate::kernels::conv::direct_channels`] runs instead, two vectors
//!   of output channels by a few pixels a call, from weights packed once and kept between calls (see
//!   [`crate::kernels::conv::packed_weights`]), and each call reads them once, where the packed
//!   product packed them anew on every call. Without a cache the product runs: scratch memory
//!   for packing would be sized per sample, and shrink a network's training tiles.
//!
//! Both kernels sum each output in the same order (chains of the same `CHAIN` taps, one fused
//! multiply-add per tap from zero, chains added in order, then scale and shift) and so give the
//! same bits: a sample's output does not depend on the batch it comes in.
//!
//! Both are written once over [`crate::vector::Vector`] and run on every instruction set.

use crate::geom::Conv2dSpec;
use crate::kernels::conv::direct_channels::{
    block_channels, kernel_for, packed_len, Taps, CHAIN, MAX_CB, MAX_P, MIN_WIDTH,
};
use crate::kernels::conv::direct_pixels::{pack_weights, Call};
use crate::kernels::conv::packed_weights::PackKind;
use crate::kernels::conv::pointwise::product;
use crate::kernels::conv::Epilogue;
use crate::vector::{isa_entry, Vector};

// The two kernels give the same bits only with chains of the same length.
const _: () = assert!(crate::kernels::conv::pointwise::CHAIN == CHAIN);

/// Multiply-adds of one sample above which its channel blocks are split among the threads.
const PAR_MIN_WORK: usize = 1 << 20;

/// Whether this path takes the layer: one group, output rows narrower than the channel-lane
/// kernel takes.
pub(crate) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.groups == 1 && spec.w_out() < MIN_WIDTH
}

/// Convolves `call.n` samples into `output` (overwritten) with the epilogue applied, using
/// `scratch` (at least `n·(col_len + out_len)`) for the im2col matrix and the product of several
/// samples.
pub(crate) fn forward(call: &Call<'_>, epilogue: Epilogue<'_>, output: &mut [f32], scratch: &mut [f32]) {
    let (spec, n) = (call.spec, call.n);
    let (taps, hw) = (spec.c_in * spec.kh * spec.kw, spec.h_out() * spec.w_out());
    let cols = n * hw;
    let (col, rest) = scratch.split_at_mut(taps * cols);
    crate::kernels::conv::im2col::im2col(spec, n, call.input, col);
    if let (1, Some(cache)) = (n, call.cache) {
        let isa = crate::isa::isa();
        let cb = block_channels(isa);
        let packed = cache.get_or_pack(PackKind::SmallMaps, cb, packed_len(spec, isa), |dst| {
            pack_weights(cb, spec.c_out, taps, call.weight, dst)
        });
        if let Some(packed) = packed {
            one_sample(call, col, packed, output);
            return;
        }
    }
    // The product is [c_out, n·h·w]: each channel's row holds the samples one after another.
    let result = &mut rest[..spec.c_out * cols];
    product(spec.c_out, taps, cols, col, call.weight, &epilogue, result);
    for (c, row) in result.chunks_exact(cols).enumerate() {
        for (s, plane) in row.chunks_exact(hw).enumerate() {
            output[(s * spec.c_out + c) * hw..][..hw].copy_from_slice(plane);
        }
    }
}

/// One sample: the channel-lane kernel on each block of output channels (shared among the
/// threads when the layer is large), then the call's `finish` on the block's planes.
fn one_sample(call: &Call<'_>, col: &[f32], packed: &[f32], output: &mut [f32]) {
    use rayon::prelude::*;
    let spec = call.spec;
    let isa = crate::isa::isa();
    let cb = block_channels(isa);
    let (taps, hw) = (spec.c_in * spec.kh * spec.kw, spec.h_out() * spec.w_out());
    let out = &mut output[..spec.out_len()];
    let block = |(b, (weights, planes)): (usize, (&[f32], &mut [f32]))| {
        // SAFETY: `isa()` is an instruction set this CPU has; `block` checks the lengths.
        unsafe { block_on(isa, col, taps, hw, weights, planes) };
        (call.finish)(b * cb, planes);
    };
    if spec.c_out * taps * hw >= PAR_MIN_WORK && rayon::current_num_threads() > 1 {
        packed.par_chunks_exact(cb * taps).zip(out.par_chunks_mut(cb * hw)).enumerate().for_each(block);
    } else {
        packed.chunks_exact(cb * taps).zip(out.chunks_mut(cb * hw)).enumerate().for_each(block);
    }
}

isa_entry! {
    /// [`block`] compiled for `isa`.
    unsafe fn block_on(col: &[f32], taps: usize, hw: usize, weights: &[f32], planes: &mut [f32]) => block;
}

/// Up to `CB` output planes (`planes`, `hw` values each) of one sample from its im2col matrix
/// `col` (`[taps, hw]`) and the block's packed weights: the kernel over each run of up to `P`
/// pixels, its tile transposed into the planes.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
///
/// # Panics
/// If `col` holds fewer than `taps·hw` values or `weights` fewer than `taps·CB`.
#[inline(always)]
unsafe fn block<V: Vector>(col: &[f32], taps: usize, hw: usize, weights: &[f32], planes: &mut [f32]) {
    let (cb, p) = (block_channels(V::ISA), crate::kernels::conv::direct_channels::pixels_per_call(V::ISA));
    assert!(col.len() >= taps * hw && weights.len() >= taps * cb);
    // One row of `hw` pixels with `taps` channels `hw` apart, a 1x1 kernel.
    let geometry = Taps { plane: hw, stride: 0, kh: 1, kw: 1, dh: 1, dw: 1 };
    let mut tile = [[0.0f32; MAX_CB]; MAX_P];
    for p0 in (0..hw).step_by(p) {
        let np = p.min(hw - p0);
        for (k, c0) in (0..taps).step_by(CHAIN).enumerate() {
            let cs = CHAIN.min(taps - c0);
            // SAFETY: the CPU has `V`'s instruction set (the caller's word); the call reads
            // pixels p0..p0 + np of rows c0..c0 + cs of `col` and their `cs·CB` weights, inside
            // both (asserted above).
            unsafe {
                kernel_for::<V>(
                    np,
                    1,
                    col.as_ptr().add(c0 * hw + p0),
                    cs,
                    &geometry,
                    weights.as_ptr().add(c0 * cb),
                    &mut tile,
                    k > 0,
                )
            };
        }
        for (c, plane) in planes.chunks_exact_mut(hw).enumerate() {
            for (d, t) in plane[p0..p0 + np].iter_mut().zip(&tile) {
                *d = t[c];
            }
        }
    }
}

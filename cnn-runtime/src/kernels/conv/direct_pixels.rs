//! Direct convolution for stride-1, undilated, ungrouped layers with a kernel larger than 1x1
//! and maps of at least 64 pixels: no im2col matrix and no packing of the image. Each sample's
//! input is copied once into a zero-bordered buffer; then a register-blocked AVX-512 kernel
//! accumulates, for 8 output channels and 32 output pixels (one row, or two rows of 16 for
//! narrow maps) at a time, every input channel and kernel tap: two vector loads of input and
//! eight weight broadcasts feed sixteen FMAs, the ratio of a GEMM micro-kernel, with the input
//! read as it lies. The input gradient of such a layer is the same kind of convolution (the
//! kernel flipped, its channels swapped, over the output gradient) and runs here too.
//!
//! Used where AVX-512F is present; elsewhere the im2col path runs. Which path a layer takes
//! depends on its geometry and the CPU alone, never on the batch.

use crate::geom::Conv2dSpec;
use crate::kernels::conv::packed_weights::PackSlot;

/// Products summed in one chain before the chain's sum joins the total.
const CHAIN: usize = 256;
/// Output channels a kernel call computes.
const CO: usize = 8;
/// Lanes of a vector.
const L: usize = 16;
/// A kernel call's results: `CO` channels by up to 2 rows of 16 lanes, or 1 row of 32.
const TILE: usize = CO * 2 * L;

/// Output pixels below which a layer stays with im2col and the packed product: each call packs
/// the whole kernel, which small maps do not pay back.
const MIN_PIXELS: usize = 64;

/// Whether the direct kernel takes this layer (its input gradient too, with the same map size).
pub(crate) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.groups == 1
        && spec.sh == 1
        && spec.sw == 1
        && spec.dh == 1
        && spec.dw == 1
        && spec.kh * spec.kw > 1
        && spec.h_out() * spec.w_out() >= MIN_PIXELS
        && spec.h_in * spec.w_in >= MIN_PIXELS
}

/// The register blocking for a layer: `(rows, vectors)` of output pixels per kernel call.
const fn blocking(spec: &Conv2dSpec) -> (usize, usize) {
    if spec.w_out() > L {
        (1, 2)
    } else {
        (2, 1)
    }
}

/// The padded input buffer's `(rows, row stride)`.
const fn buffer_shape(spec: &Conv2dSpec) -> (usize, usize) {
    let (r, v) = blocking(spec);
    (spec.h_out().next_multiple_of(r) + spec.kh - 1, spec.w_out().next_multiple_of(v * L) + spec.kw - 1)
}

/// Scratch elements of one call, whatever the batch: the padded buffer and the packed weights.
pub(crate) const fn scratch_len(spec: &Conv2dSpec) -> usize {
    let (rows, stride) = buffer_shape(spec);
    spec.c_in * rows * stride + spec.c_out.next_multiple_of(CO) * spec.c_in * spec.kh * spec.kw
}

/// Whether this CPU runs the direct kernel (it has AVX-512F).
pub(crate) fn available() -> bool {
    cfg!(target_arch = "x86_64") && crate::simd::simd() == crate::simd::Simd::Avx512
}

/// A forward call's operands, as the convolution received them, and its epilogue.
pub(crate) struct Call<'a> {
    pub spec: &'a Conv2dSpec,
    pub n: usize,
    pub input: &'a [f32],
    pub weight: &'a [f32],
    /// Where the packed weights are kept between calls, if anywhere.
    pub cache: Option<&'a PackSlot>,
    pub finish: Finish<'a>,
}

/// Convolves `call.n` samples into `output` (overwritten), then runs `call.finish` on each
/// block of output planes. Returns `false`, touching nothing, where the CPU lacks AVX-512F.
pub(crate) fn forward(call: &Call<'_>, output: &mut [f32], scratch: &mut [f32]) -> bool {
    let spec = call.spec;
    // Weights as [co block][ci, i, j][8 output channels].
    forward_blocks::<CO>(call, output, scratch, buffer_shape(spec), |buf, block, out| {
        #[cfg(target_arch = "x86_64")]
        channel_block(spec, buf, block, out, false);
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (buf, block, out);
    })
}

/// A direct kernel's forward pass: the weights packed in blocks of `B` output channels (kept in
/// the call's cache, or packed into `scratch` now), then `block(buffer, weights, planes)` and
/// the call's `finish` on each block of output planes, through [`for_each_block`]. Returns
/// `false`, touching nothing, where the CPU lacks AVX-512F.
pub(crate) fn forward_blocks<const B: usize>(
    call: &Call<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
    shape: (usize, usize),
    block: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) -> bool {
    if !available() {
        return false;
    }
    let spec = call.spec;
    let taps = spec.c_in * spec.kh * spec.kw;
    let (space, rest) = scratch.split_at_mut(spec.c_out.next_multiple_of(B) * taps);
    let packed = packed_or_cached::<B>(spec.c_out, taps, call.weight, call.cache, space);
    for_each_block(spec, call.n, call.input, packed, output, rest, shape, B, |buf, weights, out, first| {
        block(buf, weights, out);
        (call.finish)(first, out);
    });
    true
}

/// The weights packed by [`pack_weights`]: those in `cache` (packed there on first use), or,
/// without a cache, packed into `space` now.
pub(crate) fn packed_or_cached<'a, const B: usize>(
    c_out: usize,
    taps: usize,
    weight: &[f32],
    cache: Option<&'a PackSlot>,
    space: &'a mut [f32],
) -> &'a [f32] {
    match cache {
        Some(slot) => slot.get_or_pack(space.len(), |dst| pack_weights::<B>(c_out, taps, weight, dst)),
        None => {
            pack_weights::<B>(c_out, taps, weight, space);
            space
        }
    }
}

/// Packs weights `[c_out][taps]` (PyTorch's layout, `taps = c_in·kh·kw`) as
/// `[block of B output channels][taps][B]`, zero past `c_out`. The packed side is written in
/// order and the `B` source rows read side by side, each in order: written row by row instead,
/// each cache line of a large layer's packed weights would be loaded `B` times.
pub(crate) fn pack_weights<const B: usize>(c_out: usize, taps: usize, weight: &[f32], packed: &mut [f32]) {
    let blocks = c_out.div_ceil(B);
    for (b, block) in packed[..blocks * B * taps].chunks_exact_mut(B * taps).enumerate() {
        let live = B.min(c_out - b * B);
        let rows = &weight[b * B * taps..(b * B + live) * taps];
        for (t, dst) in block.chunks_exact_mut(B).enumerate() {
            for (c, d) in dst.iter_mut().enumerate() {
                *d = if c < live { rows[c * taps + t] } else { 0.0 };
            }
        }
    }
}

/// The input gradient of a layer that [`applies`], as a direct convolution of the output
/// gradient with the kernel flipped and its channels swapped, padded by `k - 1 - p`: written to
/// `grad_input`, or added to it when `accumulate`. Returns `false`, touching nothing, where the
/// CPU lacks AVX-512F or the padding exceeds `k - 1`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_input(
    spec: &Conv2dSpec,
    n: usize,
    grad_output: &[f32],
    weight: &[f32],
    grad_input: &mut [f32],
    accumulate: bool,
    scratch: &mut [f32],
) -> bool {
    let Some(t) = transposed(spec) else { return false };
    if !available() || scratch_len(&t) > scratch.len() {
        return false;
    }
    let (kh, kw) = (spec.kh, spec.kw);
    let t_taps = spec.c_out * kh * kw;
    let (packed, rest) = scratch.split_at_mut(packed_len(&t));
    // Output channel `ci` of the transposed convolution takes tap (co, kh-1-i, kw-1-j) from
    // w[co][ci][i][j]: read the weights in their order and scatter.
    packed[(spec.c_in / CO) * CO * t_taps..].fill(0.0);
    for co in 0..spec.c_out {
        for ci in 0..spec.c_in {
            let block = &mut packed[(ci / CO) * CO * t_taps..][..CO * t_taps];
            for i in 0..kh {
                for j in 0..kw {
                    let tap = (co * kh + kh - 1 - i) * kw + kw - 1 - j;
                    block[tap * CO + ci % CO] = weight[((co * spec.c_in + ci) * kh + i) * kw + j];
                }
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    run(&t, n, grad_output, packed, grad_input, accumulate, rest);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (n, grad_output, grad_input, accumulate, rest);
    true
}

/// Packed weights of a layer: output channels padded to blocks of `CO`.
const fn packed_len(spec: &Conv2dSpec) -> usize {
    spec.c_out.next_multiple_of(CO) * spec.c_in * spec.kh * spec.kw
}

/// The convolution whose forward pass is `spec`'s input gradient, if its padding is not negative.
pub(crate) const fn transposed(spec: &Conv2dSpec) -> Option<Conv2dSpec> {
    let (kh, kw) = (spec.kh - 1, spec.kw - 1);
    if !applies(spec) || spec.ph > kh || spec.pw > kw || spec.ph_end > kh || spec.pw_end > kw {
        return None;
    }
    Some(Conv2dSpec {
        c_in: spec.c_out,
        c_out: spec.c_in,
        h_in: spec.h_out(),
        w_in: spec.w_out(),
        ph: kh - spec.ph,
        pw: kw - spec.pw,
        ph_end: kh - spec.ph_end,
        pw_end: kw - spec.pw_end,
        ..*spec
    })
}

/// Runs the kernel over `n` samples with weights `packed` as [`forward`] lays them out, adding
/// to `output` when `accumulate`; the caller has checked that the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
fn run(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    packed: &[f32],
    output: &mut [f32],
    accumulate: bool,
    scratch: &mut [f32],
) {
    for_each_block(spec, n, input, packed, output, scratch, buffer_shape(spec), CO, |buf, block, out, _| {
        channel_block(spec, buf, block, out, accumulate)
    });
}

/// What runs on a block of output planes (its first channel, the planes) once the kernel is
/// done with them, while they are in cache: a convolution's epilogue.
pub(crate) type Finish<'a> = &'a (dyn Fn(usize, &mut [f32]) + Sync);

/// The direct kernels' common driver: each of `n` samples is copied once inside the zero border
/// of a `(rows, stride)` buffer per input channel, then `block(buffer, weights, planes, first
/// channel)` runs on each block of `width` output channels (its packed weights, `packed`'s
/// chunks, and its output planes). A layer whose one sample is large shares its blocks among
/// the threads; a block is computed the same way whoever runs it, so the split changes no bits.
#[allow(clippy::too_many_arguments)]
pub(crate) fn for_each_block(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    packed: &[f32],
    output: &mut [f32],
    scratch: &mut [f32],
    (rows, stride): (usize, usize),
    width: usize,
    block: impl Fn(&[f32], &[f32], &mut [f32], usize) + Sync,
) {
    use rayon::prelude::*;
    let (h, w, hw) = (spec.h_in, spec.w_in, spec.h_out() * spec.w_out());
    let taps = spec.c_in * spec.kh * spec.kw;
    let plane = rows * stride;
    let buf = &mut scratch[..spec.c_in * plane];
    buf.fill(0.0);
    let parallel = rayon::current_num_threads() > 1 && spec.c_out > width && spec.c_out * taps * hw >= PAR_MIN_WORK;
    for s in 0..n {
        // The sample, placed inside its zero border (the border stays zero from sample to sample).
        for c in 0..spec.c_in {
            for y in 0..h {
                let src = &input[s * spec.in_len() + (c * h + y) * w..][..w];
                crate::kernels::conv::im2col::copy_short(
                    &mut buf[c * plane + (y + spec.ph) * stride + spec.pw..][..w],
                    src,
                );
            }
        }
        let out = &mut output[s * spec.out_len()..(s + 1) * spec.out_len()];
        let buf: &[f32] = buf;
        let blocks = packed.chunks_exact(width * taps);
        if parallel {
            let blocks = packed.par_chunks_exact(width * taps);
            blocks
                .zip(out.par_chunks_mut(width * hw))
                .enumerate()
                .for_each(|(b, (wb, out))| block(buf, wb, out, b * width));
        } else {
            blocks
                .zip(out.chunks_mut(width * hw))
                .enumerate()
                .for_each(|(b, (wb, out))| block(buf, wb, out, b * width));
        }
    }
}

/// Multiply-adds above which a call splits its channel blocks among the threads.
const PAR_MIN_WORK: usize = 1 << 22;

/// One block of up to `CO` output channels (`out`, their planes) over the whole map, from the
/// padded input `buf` and the block's packed weights.
#[cfg(target_arch = "x86_64")]
fn channel_block(spec: &Conv2dSpec, buf: &[f32], block: &[f32], out: &mut [f32], accumulate: bool) {
    let (rows, stride) = buffer_shape(spec);
    let (r, v) = blocking(spec);
    let (ho, wo) = (spec.h_out(), spec.w_out());
    let plane = rows * stride;
    let cos = out.len() / (ho * wo);
    let chunk = (CHAIN / (spec.kh * spec.kw)).max(1);
    let mut tile = [0.0f32; TILE];
    for oh0 in (0..ho).step_by(r) {
        for ow0 in (0..wo).step_by(v * L) {
            let at = oh0 * stride + ow0;
            // Input channels in chunks of about `CHAIN` products, each chunk's sum added to the
            // tile: chains as long as a GEMM's, which keeps rounding as small.
            for (k, c0) in (0..spec.c_in).step_by(chunk).enumerate() {
                let cs = chunk.min(spec.c_in - c0);
                // SAFETY: `run` only runs where AVX-512F was detected; the kernel reads rows
                // oh0..oh0+r+kh-1 and columns ow0..ow0+v·16+kw-1 of channels c0..c0+cs, all inside
                // `buf` by `buffer_shape`, and their `CO·cs·kh·kw` packed weights, inside `block`.
                unsafe {
                    let x = buf.as_ptr().add(c0 * plane + at);
                    let w = block.as_ptr().add(c0 * spec.kh * spec.kw * CO);
                    if (r, v) == (1, 2) {
                        kernel::<1, 2>(x, plane, stride, cs, spec.kh, spec.kw, w, &mut tile, k > 0);
                    } else {
                        kernel::<2, 1>(x, plane, stride, cs, spec.kh, spec.kw, w, &mut tile, k > 0);
                    }
                }
            }
            let lanes = (v * L).min(wo - ow0);
            for c in 0..cos {
                for y in 0..r.min(ho - oh0) {
                    let src = &tile[(c * r + y) * v * L..][..lanes];
                    let dst = &mut out[(c * ho + oh0 + y) * wo + ow0..][..lanes];
                    if accumulate {
                        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                    } else {
                        crate::kernels::conv::im2col::copy_short(dst, src);
                    }
                }
            }
        }
    }
}

/// One block of `CO` output channels by `R` rows of `V` vectors of output pixels over `c_in`
/// input channels, written to `tile` as `[CO][R][V·16]`, or added to it when `add`.
///
/// # Safety
/// The CPU must have AVX-512F; `x` must have `c_in` planes `plane` apart, each with `R + kh - 1`
/// rows `stride` apart of `V·16 + kw - 1` readable values; `w` must hold `c_in·kh·kw·CO` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn kernel<const R: usize, const V: usize>(
    x: *const f32,
    plane: usize,
    stride: usize,
    c_in: usize,
    kh: usize,
    kw: usize,
    w: *const f32,
    tile: &mut [f32; TILE],
    add: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[[_mm512_setzero_ps(); V]; R]; CO];
    let mut wp = w;
    for c in 0..c_in {
        // SAFETY: this and all pointer arithmetic below stay within the bounds the caller
        // vouches for.
        let xc = unsafe { x.add(c * plane) };
        for i in 0..kh {
            for j in 0..kw {
                let mut xs = [[_mm512_setzero_ps(); V]; R];
                for (y, row) in xs.iter_mut().enumerate() {
                    for (q, v) in row.iter_mut().enumerate() {
                        // SAFETY: see above.
                        *v = unsafe { _mm512_loadu_ps(xc.add((y + i) * stride + j + q * L)) };
                    }
                }
                for (o, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: see above.
                    let b = _mm512_set1_ps(unsafe { *wp.add(o) });
                    for (a, xr) in acc.iter_mut().zip(&xs) {
                        for (a, xv) in a.iter_mut().zip(xr) {
                            *a = _mm512_fmadd_ps(b, *xv, *a);
                        }
                    }
                }
                // SAFETY: see above.
                wp = unsafe { wp.add(CO) };
            }
        }
    }
    for (o, acc) in acc.iter().enumerate() {
        for (y, row) in acc.iter().enumerate() {
            for (q, v) in row.iter().enumerate() {
                // SAFETY: (o·R + y)·V·16 + q·16 + 16 ≤ CO·R·V·16 ≤ the tile's length.
                unsafe {
                    let at = tile.as_mut_ptr().add(((o * R + y) * V + q) * L);
                    let v = if add { _mm512_add_ps(_mm512_loadu_ps(at), *v) } else { *v };
                    _mm512_storeu_ps(at, v);
                }
            }
        }
    }
}

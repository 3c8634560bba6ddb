//! Direct convolution for stride-1, undilated, ungrouped layers with a kernel larger than 1x1
//! and maps of at least 64 pixels: no im2col matrix and no packing of the image. Each sample's
//! input is copied once into a zero-bordered buffer; then a register-blocked kernel accumulates,
//! for a block of output channels and a tile of output pixels at a time, every input channel
//! and kernel tap, the input read as it lies. On AVX-512 a call computes 8 channels by 32 pixels
//! (one row, or two rows of 16 for narrow maps): two vector loads of input and eight weight
//! broadcasts feed sixteen FMAs, the ratio of a GEMM micro-kernel. With 16 registers of 8 lanes
//! (AVX2, the portable path) a call computes 6 channels by 16 pixels (one row, or two of 8 on
//! maps 8 wide or narrower): 12 accumulators, two input vectors and a broadcast, the ratio of
//! the AVX2 GEMM's tile (a wider 4 x 24 tile left no register free and ran slower). The input gradient of
//! such a layer is the same kind of convolution (the kernel flipped, its channels swapped, over
//! the output gradient) and runs here too.
//!
//! Written once over [`Vector`] and compiled for every instruction set. Which path a layer takes
//! depends on its geometry alone, never on the batch.

use crate::geom::Conv2dSpec;
use crate::isa::Isa;
use crate::kernels::conv::packed_weights::{PackKind, PackSlot};
use crate::vector::{isa_entry, Vector};

/// Products summed in one chain before the chain's sum joins the total.
const CHAIN: usize = 256;
/// A kernel call's results, on any instruction set: channels by rows by vectors of lanes.
const TILE: usize = 256;

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

/// The register blocking of a layer on an instruction set: a call's output channels, and its
/// pixels as rows of vectors.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Blocking {
    channels: usize,
    rows: usize,
    vectors: usize,
}

const fn blocking(spec: &Conv2dSpec, isa: Isa) -> Blocking {
    let wide = spec.w_out() > 16;
    match isa {
        Isa::Avx512 if wide => Blocking { channels: 8, rows: 1, vectors: 2 },
        Isa::Avx512 => Blocking { channels: 8, rows: 2, vectors: 1 },
        _ if spec.w_out() > 8 => Blocking { channels: 6, rows: 1, vectors: 2 },
        _ => Blocking { channels: 6, rows: 2, vectors: 1 },
    }
}

/// The padded input buffer's `(rows, row stride)` on `isa`: every tile of the map reads inside.
const fn buffer_shape(spec: &Conv2dSpec, isa: Isa) -> (usize, usize) {
    let b = blocking(spec, isa);
    (
        spec.h_out().next_multiple_of(b.rows) + spec.kh - 1,
        spec.w_out().next_multiple_of(b.vectors * isa.lanes()) + spec.kw - 1,
    )
}

/// Packed weights of a layer on `isa`: output channels padded to whole blocks.
const fn packed_len(spec: &Conv2dSpec, isa: Isa) -> usize {
    spec.c_out.next_multiple_of(blocking(spec, isa).channels) * spec.c_in * spec.kh * spec.kw
}

/// Scratch elements of one call on `isa`, whatever the batch: the padded buffer and the packed
/// weights.
const fn scratch_len_on(spec: &Conv2dSpec, isa: Isa) -> usize {
    let (rows, stride) = buffer_shape(spec, isa);
    spec.c_in * rows * stride + packed_len(spec, isa)
}

/// Scratch elements of one call on any instruction set, whatever the batch. (Networks size their
/// scratch at compile time; the instruction set is chosen when they run.)
pub(crate) const fn scratch_len(spec: &Conv2dSpec) -> usize {
    let mut most = 0;
    let mut i = 0;
    while i < Isa::ALL.len() {
        let len = scratch_len_on(spec, Isa::ALL[i]);
        if len > most {
            most = len;
        }
        i += 1;
    }
    most
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
/// block of output planes.
pub(crate) fn forward(call: &Call<'_>, output: &mut [f32], scratch: &mut [f32]) {
    let spec = call.spec;
    let isa = crate::isa::isa();
    // Weights as [co block][ci, i, j][channels of the block].
    let b = blocking(spec, isa);
    forward_blocks(call, output, scratch, buffer_shape(spec, isa), b.channels, |buf, block, out| {
        // SAFETY: `isa()` is an instruction set this CPU has; `channel_block` checks lengths.
        unsafe { channel_block_on(isa, spec, buf, block, out, false) }
    });
}

/// A direct kernel's forward pass: the weights packed in blocks of `width` output channels
/// (kept in the call's cache, or packed into `scratch` now), then `block(buffer, weights,
/// planes)` and the call's `finish` on each block of output planes, through [`for_each_block`].
pub(crate) fn forward_blocks(
    call: &Call<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
    shape: (usize, usize),
    width: usize,
    block: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) {
    let spec = call.spec;
    let taps = spec.c_in * spec.kh * spec.kw;
    let (space, rest) = scratch.split_at_mut(spec.c_out.next_multiple_of(width) * taps);
    let packed = packed_or_cached(width, spec.c_out, taps, call.weight, call.cache, space);
    for_each_block(spec, call.n, call.input, packed, output, rest, shape, width, |buf, weights, out, first| {
        block(buf, weights, out);
        (call.finish)(first, out);
    });
}

/// The weights packed by [`pack_weights`] in blocks of `width`: those in `cache` (packed there
/// on first use), or, without a cache or with one holding another width, packed into `space`
/// now.
pub(crate) fn packed_or_cached<'a>(
    width: usize,
    c_out: usize,
    taps: usize,
    weight: &[f32],
    cache: Option<&'a PackSlot>,
    space: &'a mut [f32],
) -> &'a [f32] {
    let len = space.len();
    let cached = cache.and_then(|slot| {
        slot.get_or_pack(PackKind::Blocks, width, len, |dst| pack_weights(width, c_out, taps, weight, dst))
    });
    match cached {
        Some(packed) => packed,
        None => {
            pack_weights(width, c_out, taps, weight, space);
            space
        }
    }
}

/// Packs weights `[c_out][taps]` (PyTorch's layout, `taps = c_in·kh·kw`) as
/// `[block of width output channels][taps][width]`, zero past `c_out`. The packed side is
/// written in order and the `width` source rows read side by side, each in order: written row
/// by row instead, each cache line of a large layer's packed weights would be loaded `width`
/// times.
pub(crate) fn pack_weights(width: usize, c_out: usize, taps: usize, weight: &[f32], packed: &mut [f32]) {
    let blocks = c_out.div_ceil(width);
    for (b, block) in packed[..blocks * width * taps].chunks_exact_mut(width * taps).enumerate() {
        let live = width.min(c_out - b * width);
        let rows = &weight[b * width * taps..(b * width + live) * taps];
        for (t, dst) in block.chunks_exact_mut(width).enumerate() {
            for (c, d) in dst.iter_mut().enumerate() {
                *d = if c < live { rows[c * taps + t] } else { 0.0 };
            }
        }
    }
}

/// The input gradient of a layer that [`applies`], as a direct convolution of the output
/// gradient with the kernel flipped and its channels swapped, padded by `k - 1 - p`: written to
/// `grad_input`, or added to it when `accumulate`. Returns `false`, touching nothing, where the
/// padding exceeds `k - 1`.
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
    let isa = crate::isa::isa();
    if scratch_len_on(&t, isa) > scratch.len() {
        return false;
    }
    let co = blocking(&t, isa).channels;
    let (kh, kw) = (spec.kh, spec.kw);
    let t_taps = spec.c_out * kh * kw;
    let (packed, rest) = scratch.split_at_mut(packed_len(&t, isa));
    // Output channel `ci` of the transposed convolution takes tap (co, kh-1-i, kw-1-j) from
    // w[co][ci][i][j]: read the weights in their order and scatter.
    packed[(spec.c_in / co) * co * t_taps..].fill(0.0);
    for o in 0..spec.c_out {
        for ci in 0..spec.c_in {
            let block = &mut packed[(ci / co) * co * t_taps..][..co * t_taps];
            for i in 0..kh {
                for j in 0..kw {
                    let tap = (o * kh + kh - 1 - i) * kw + kw - 1 - j;
                    block[tap * co + ci % co] = weight[((o * spec.c_in + ci) * kh + i) * kw + j];
                }
            }
        }
    }
    for_each_block(&t, n, grad_output, packed, grad_input, rest, buffer_shape(&t, isa), co, |buf, block, out, _| {
        // SAFETY: `isa()` is an instruction set this CPU has; `channel_block` checks lengths.
        unsafe { channel_block_on(isa, &t, buf, block, out, accumulate) }
    });
    true
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

isa_entry! {
    /// [`channel_block`] compiled for `isa`.
    unsafe fn channel_block_on(spec: &Conv2dSpec, buf: &[f32], block: &[f32], out: &mut [f32], accumulate: bool)
        => channel_block;
}

/// One block of output channels (`out`, their planes: as many as the blocking's, or fewer in
/// the last block) over the whole map, from the padded input `buf` and the block's packed
/// weights; written to `out`, or added to it when `accumulate`.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
///
/// # Panics
/// If `buf` or `block` is shorter than the padded input or the block's packed weights.
#[inline(always)]
unsafe fn channel_block<V: Vector>(spec: &Conv2dSpec, buf: &[f32], block: &[f32], out: &mut [f32], accumulate: bool) {
    let b = blocking(spec, V::ISA);
    let (rows, stride) = buffer_shape(spec, V::ISA);
    let (r, v, l) = (b.rows, b.vectors, V::LANES);
    let (ho, wo) = (spec.h_out(), spec.w_out());
    let plane = rows * stride;
    let cos = out.len() / (ho * wo);
    let chunk = (CHAIN / (spec.kh * spec.kw)).max(1);
    assert!(buf.len() >= spec.c_in * plane && block.len() >= b.channels * spec.c_in * spec.kh * spec.kw);
    let mut tile = [0.0f32; TILE];
    for oh0 in (0..ho).step_by(r) {
        for ow0 in (0..wo).step_by(v * l) {
            let at = oh0 * stride + ow0;
            // Input channels in chunks of about `CHAIN` products, each chunk's sum added to the
            // tile: chains as long as a GEMM's, which keeps rounding as small.
            for (k, c0) in (0..spec.c_in).step_by(chunk).enumerate() {
                let cs = chunk.min(spec.c_in - c0);
                // SAFETY: the CPU has `V`'s instruction set (the caller's word); the kernel reads
                // rows oh0..oh0+r+kh-1 and columns ow0..ow0+v·l+kw-1 of channels c0..c0+cs, all
                // inside `buf` by `buffer_shape` (asserted long enough above), and their
                // `channels·cs·kh·kw` packed weights, inside `block`.
                unsafe {
                    let x = buf.as_ptr().add(c0 * plane + at);
                    let w = block.as_ptr().add(c0 * spec.kh * spec.kw * b.channels);
                    let g = (x, plane, stride, cs, spec.kh, spec.kw, w);
                    match (b.channels, r, v) {
                        (8, 1, 2) => kernel::<V, 8, 1, 2>(g, &mut tile, k > 0),
                        (8, 2, 1) => kernel::<V, 8, 2, 1>(g, &mut tile, k > 0),
                        (6, 1, 2) => kernel::<V, 6, 1, 2>(g, &mut tile, k > 0),
                        _ => kernel::<V, 6, 2, 1>(g, &mut tile, k > 0),
                    }
                }
            }
            let lanes = (v * l).min(wo - ow0);
            for c in 0..cos {
                for y in 0..r.min(ho - oh0) {
                    let src = &tile[(c * r + y) * v * l..][..lanes];
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

/// A kernel call's input: the first input value, the distance between channel planes and
/// between rows, the number of input channels, the kernel's height and width, and the packed
/// weights.
type Operands = (*const f32, usize, usize, usize, usize, usize, *const f32);

/// One block of `CO` output channels by `R` rows of `NV` vectors of output pixels over `c_in`
/// input channels, written to `tile` as `[CO][R][NV·LANES]`, or added to it when `add`.
///
/// # Safety
/// The CPU must have `V`'s instruction set; `x` must have `c_in` planes `plane` apart, each
/// with `R + kh - 1` rows `stride` apart of `NV·LANES + kw - 1` readable values; `w` must hold
/// `c_in·kh·kw·CO` values.
#[inline(always)]
unsafe fn kernel<V: Vector, const CO: usize, const R: usize, const NV: usize>(
    (x, plane, stride, c_in, kh, kw, w): Operands,
    tile: &mut [f32; TILE],
    add: bool,
) {
    const { assert!(CO * R * NV * 16 <= TILE) };
    let l = V::LANES;
    let mut acc = [[[V::zero(); NV]; R]; CO];
    let mut wp = w;
    for c in 0..c_in {
        // SAFETY: this and all pointer arithmetic below stay within the bounds the caller
        // vouches for.
        let xc = unsafe { x.add(c * plane) };
        for i in 0..kh {
            for j in 0..kw {
                let mut xs = [[V::zero(); NV]; R];
                for (y, row) in xs.iter_mut().enumerate() {
                    for (q, v) in row.iter_mut().enumerate() {
                        // SAFETY: see above.
                        *v = unsafe { V::load(xc.add((y + i) * stride + j + q * l)) };
                    }
                }
                for (o, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: see above.
                    let b = V::splat(unsafe { *wp.add(o) });
                    for (a, xr) in acc.iter_mut().zip(&xs) {
                        for (a, xv) in a.iter_mut().zip(xr) {
                            *a = b.mul_add(*xv, *a);
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
                // SAFETY: (o·R + y)·NV·l + q·l + l ≤ CO·R·NV·16 ≤ the tile's length.
                unsafe {
                    let at = tile.as_mut_ptr().add(((o * R + y) * NV + q) * l);
                    let v = if add { V::load(at).add(*v) } else { *v };
                    v.store(at);
                }
            }
        }
    }
}

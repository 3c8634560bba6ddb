//! Direct convolution with the output channels across the vector lanes, for the layers the
//! pixel-lane kernel of [`crate::kernels::conv::direct_pixels`] does not take or takes badly: strided layers, 1x1
//! layers, dilated layers and maps 8 pixels wide or narrower (ResNet's later stages, the stem,
//! the downsampling shortcuts). A kernel call computes two vectors of output channels (`CB`: 32
//! on AVX-512, 16 on AVX2 and the portable path) for up to `P` output pixels of one row (12, or
//! 6 where there are 16 registers): per kernel tap two vector loads of packed weights and one
//! broadcast input value per pixel feed `2·P` FMAs, and the input is read as it lies (inside a
//! zero border), so any stride or dilation costs nothing extra and no lane idles on a narrow
//! map. The weights are packed `[CB-channel block][c_in, kh, kw][CB]` once per call.
//!
//! Written once over [`Vector`] and compiled for every instruction set. Which path a layer takes
//! depends on its geometry alone, never on the batch.

use crate::geom::Conv2dSpec;
use crate::isa::Isa;
use crate::kernels::conv::direct_pixels::Call;
use crate::vector::{isa_entry, Vector};

/// Vectors of output channels a kernel call computes.
const NV: usize = 2;
/// Output channels a kernel call computes, at most, on any instruction set.
pub(crate) const MAX_CB: usize = 32;
/// Output pixels (of one row) a kernel call computes, at most, on any instruction set.
pub(crate) const MAX_P: usize = 12;
/// Products summed in one chain before the chain's sum joins the total (as [`crate::kernels::conv::direct_pixels`]).
pub(crate) const CHAIN: usize = 256;

/// Output channels a kernel call computes on `isa`: two vectors.
pub(crate) const fn block_channels(isa: Isa) -> usize {
    NV * isa.lanes()
}

/// Output pixels a kernel call computes on `isa`, at most: `2·P` accumulators, with room left
/// for the two weight vectors and a broadcast.
pub(crate) const fn pixels_per_call(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 12,
        Isa::Avx2 | Isa::Portable => 6,
    }
}

/// Output rows narrower than this go to [`crate::kernels::conv::small_maps`], which takes the
/// pixels of every row and sample together: here a call's pixels come from one row, and a few
/// pixels make too few accumulators to hide the weight loads.
pub(crate) const MIN_WIDTH: usize = 7;

/// Whether this kernel takes the layer's forward pass: one group, horizontal stride 1 or 2, at
/// least 16 output channels, rows at least `MIN_WIDTH` wide, and either a layer the pixel-lane
/// kernel does not take or a map at most 8 wide (where half of its lanes would idle).
pub(crate) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.groups == 1
        && (spec.sw == 1 || spec.sw == 2)
        && spec.c_out >= 16
        && spec.w_out() >= MIN_WIDTH
        && (!crate::kernels::conv::direct_pixels::applies(spec) || spec.w_out() <= 8)
}

/// The padded input buffer's `(rows, row stride)`: the input inside its zero border.
const fn buffer_shape(spec: &Conv2dSpec) -> (usize, usize) {
    (spec.h_in + spec.ph + spec.ph_end, spec.w_in + spec.pw + spec.pw_end)
}

/// Packed weights of a layer on `isa`: output channels padded to whole blocks.
pub(crate) const fn packed_len(spec: &Conv2dSpec, isa: Isa) -> usize {
    spec.c_out.next_multiple_of(block_channels(isa)) * spec.c_in * spec.kh * spec.kw
}

/// Scratch elements of one call, whatever the batch and the instruction set: the padded buffer
/// and the packed weights.
pub(crate) const fn scratch_len(spec: &Conv2dSpec) -> usize {
    let (rows, stride) = buffer_shape(spec);
    spec.c_in * rows * stride + packed_len(spec, Isa::Avx512)
}

/// Convolves `call.n` samples into `output` (overwritten), then runs `call.finish` on each
/// block of output planes.
pub(crate) fn forward(call: &Call<'_>, output: &mut [f32], scratch: &mut [f32]) {
    let spec = call.spec;
    let isa = crate::isa::isa();
    // Weights as [co block][ci, i, j][CB output channels].
    crate::kernels::conv::direct_pixels::forward_blocks(
        call,
        output,
        scratch,
        buffer_shape(spec),
        block_channels(isa),
        // SAFETY: `isa()` is an instruction set this CPU has; `channel_block` checks its
        // operands' lengths.
        |buf, block, out| unsafe { channel_block_on(isa, spec, buf, block, out) },
    );
}

isa_entry! {
    /// [`channel_block`] compiled for `isa`.
    unsafe fn channel_block_on(spec: &Conv2dSpec, buf: &[f32], block: &[f32], out: &mut [f32]) => channel_block;
}

/// One block of up to `CB` output channels (`out`, their planes) over the whole map.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
///
/// # Panics
/// If `buf` or `block` is shorter than the layer's padded input or the block's weights.
#[inline(always)]
unsafe fn channel_block<V: Vector>(spec: &Conv2dSpec, buf: &[f32], block: &[f32], out: &mut [f32]) {
    let (cb, p) = (block_channels(V::ISA), pixels_per_call(V::ISA));
    let (rows, stride) = buffer_shape(spec);
    let (ho, wo) = (spec.h_out(), spec.w_out());
    let plane = rows * stride;
    let cos = out.len() / (ho * wo);
    let kk = spec.kh * spec.kw;
    let chunk = (CHAIN / kk).max(1);
    let geometry = Taps { plane, stride, kh: spec.kh, kw: spec.kw, dh: spec.dh, dw: spec.dw };
    let mut tile = [[0.0f32; MAX_CB]; MAX_P];
    for oh in 0..ho {
        for ow0 in (0..wo).step_by(p) {
            let np = p.min(wo - ow0);
            let at = oh * spec.sh * stride + ow0 * spec.sw;
            for (k, c0) in (0..spec.c_in).step_by(chunk).enumerate() {
                let cs = chunk.min(spec.c_in - c0);
                // The last pixel's last tap reads column (ow0 + np - 1)·sw + (kw - 1)·dw and row
                // oh·sh + (kh - 1)·dh of a padded plane, inside it because that output pixel
                // exists; channels c0..c0+cs lie inside `buf`, their weights inside `block`.
                assert!(at + (spec.kh - 1) * spec.dh * stride + (np - 1) * spec.sw + (spec.kw - 1) * spec.dw < plane);
                assert!((c0 + cs) * plane <= buf.len() && (c0 + cs) * kk * cb <= block.len());
                // SAFETY: the CPU has `V`'s instruction set (the caller's word); the reads are
                // in bounds by the two assertions above.
                unsafe {
                    kernel_for::<V>(
                        np,
                        spec.sw,
                        buf.as_ptr().add(c0 * plane + at),
                        cs,
                        &geometry,
                        block.as_ptr().add(c0 * kk * cb),
                        &mut tile,
                        k > 0,
                    )
                };
            }
            for c in 0..cos {
                let dst = &mut out[c * ho * wo + oh * wo + ow0..][..np];
                for (d, t) in dst.iter_mut().zip(&tile) {
                    *d = t[c];
                }
            }
        }
    }
}

/// Where a kernel call's taps lie in the padded input.
pub(crate) struct Taps {
    /// Elements between input channels.
    pub plane: usize,
    /// Elements between rows.
    pub stride: usize,
    pub kh: usize,
    pub kw: usize,
    pub dh: usize,
    pub dw: usize,
}

/// [`kernel`] for `np` pixels at horizontal stride `sw` (1 or 2).
///
/// # Safety
/// As [`kernel`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn kernel_for<V: Vector>(
    np: usize,
    sw: usize,
    x: *const f32,
    c_in: usize,
    t: &Taps,
    w: *const f32,
    tile: &mut [[f32; MAX_CB]; MAX_P],
    add: bool,
) {
    macro_rules! pick {
        ($($n:literal)*) => {
            match (np, sw) {
                $(
                    // SAFETY: the caller's guarantees, passed on.
                    ($n, 1) => unsafe { kernel::<V, $n, 1>(x, c_in, t, w, tile, add) },
                    // SAFETY: as above.
                    ($n, _) => unsafe { kernel::<V, $n, 2>(x, c_in, t, w, tile, add) },
                )*
                _ => unreachable!("at most {} pixels a call", pixels_per_call(V::ISA)),
            }
        };
    }
    if pixels_per_call(V::ISA) == 12 {
        pick!(1 2 3 4 5 6 7 8 9 10 11 12)
    } else {
        pick!(1 2 3 4 5 6)
    }
}

/// `2·V::LANES` output channels for `NP` output pixels of one row, `S` input columns apart,
/// over `c_in` input channels: written to the first `NP` rows of `tile`, or added to them when
/// `add`.
///
/// # Safety
/// The CPU must have `V`'s instruction set; `x` must have `c_in` planes `t.plane` apart, each
/// with rows `(kh - 1)·dh` past `x` and columns `(NP - 1)·S + (kw - 1)·dw` past it, `t.stride`
/// apart, readable; `w` must hold `c_in·kh·kw·2·V::LANES` values.
#[inline(always)]
unsafe fn kernel<V: Vector, const NP: usize, const S: usize>(
    x: *const f32,
    c_in: usize,
    t: &Taps,
    w: *const f32,
    tile: &mut [[f32; MAX_CB]; MAX_P],
    add: bool,
) {
    let l = V::LANES;
    let mut acc = [[V::zero(); NV]; NP];
    let mut wp = w;
    for c in 0..c_in {
        for i in 0..t.kh {
            // SAFETY: this and all pointer arithmetic and reads below stay within the bounds
            // the caller vouches for.
            let xr = unsafe { x.add(c * t.plane + i * t.dh * t.stride) };
            for j in 0..t.kw {
                // SAFETY: see above.
                let (w0, w1, xt) = unsafe { (V::load(wp), V::load(wp.add(l)), xr.add(j * t.dw)) };
                for (p, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: see above.
                    let b = V::splat(unsafe { *xt.add(p * S) });
                    acc[0] = w0.mul_add(b, acc[0]);
                    acc[1] = w1.mul_add(b, acc[1]);
                }
                // SAFETY: see above.
                wp = unsafe { wp.add(NV * l) };
            }
        }
    }
    for (row, acc) in tile.iter_mut().zip(&acc) {
        for (q, v) in acc.iter().enumerate() {
            // SAFETY: (q + 1)·LANES ≤ 2·16 = MAX_CB, the row's length.
            unsafe {
                let at = row.as_mut_ptr().add(q * l);
                let v = if add { V::load(at).add(*v) } else { *v };
                v.store(at);
            }
        }
    }
}

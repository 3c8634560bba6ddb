//! Pointwise convolution (1x1 kernel, stride 1, no padding, one group): the bulk of
//! MobileNet's and EfficientNet's multiply-adds, the expansions and projections around each
//! depthwise layer. Per sample it is the product `y[c_out, h·w] = W[c_out, c_in] · x[c_in, h·w]`
//! with both `x` and `y` exactly as NCHW lays them out, so the kernel reads the input and
//! writes the output in place: no bordered copy, no packing, no transposition.
//!
//! A kernel call computes up to 8 output channels by up to 3 vectors (48 pixels) of one plane:
//! per input channel, up to 3 vector loads of input and 8 weight broadcasts feed up to 24 FMAs.
//! The map's last vector is masked, so any `h·w` runs without reading or writing past the
//! planes. The epilogue (scale, shift, activation) runs on each call's results while they are
//! in registers or in L1.
//!
//! The same [`product`] serves [`crate::kernels::conv::small_maps`], over an im2col matrix
//! instead of the input.
//!
//! Work is a grid of (pixel chunk, 8-channel block) units; a large product's units are split
//! among the threads in contiguous ranges. A unit is computed the same way whoever runs it, so
//! the split changes no bits. Used where AVX-512F is present; elsewhere the packed product runs.

use crate::geom::Conv2dSpec;
use crate::kernels::activation::Act;
pub(crate) use crate::kernels::conv::direct_pixels::available;
use crate::kernels::conv::{DisjointPlanes, Epilogue};

/// Lanes of a vector.
const L: usize = 16;
/// Output channels a kernel call computes, at most.
const CO: usize = 8;
/// Vectors of pixels a kernel call computes, at most: 8 x 3 = 24 accumulators.
const MAX_V: usize = 3;
/// Products summed in one chain before the chain's sum joins the total, as in the other direct
/// kernels: chains as long as a GEMM's keep rounding as small.
pub(crate) const CHAIN: usize = 256;
/// Multiply-adds of one sample above which its units are split among the threads.
const PAR_MIN_WORK: usize = 1 << 20;

/// Whether this kernel takes the layer.
pub(crate) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.groups == 1 && spec.is_pointwise()
}

/// The units of one product: pixel chunks (balanced, each at most `MAX_V` vectors) by channel
/// blocks.
#[derive(Clone, Copy)]
struct Grid {
    /// Output channels (rows of the weights).
    rows: usize,
    /// The inner dimension: input channels, or im2col rows.
    inner: usize,
    /// Pixels (columns of the input and output).
    cols: usize,
    vectors: usize,
    chunks: usize,
    blocks: usize,
}

impl Grid {
    fn new(rows: usize, inner: usize, cols: usize) -> Self {
        let vectors = cols.div_ceil(L);
        Grid { rows, inner, cols, vectors, chunks: vectors.div_ceil(MAX_V), blocks: rows.div_ceil(CO) }
    }

    /// Pixels `p0..p1` of chunk `q`: chunk sizes differ by at most one vector.
    fn pixels(&self, q: usize) -> (usize, usize) {
        let v0 = self.vectors * q / self.chunks;
        let v1 = self.vectors * (q + 1) / self.chunks;
        (v0 * L, (v1 * L).min(self.cols))
    }
}

/// Convolves `n` samples into `output` (overwritten) with the epilogue applied. Returns
/// `false`, touching nothing, where the CPU lacks AVX-512F.
pub(crate) fn forward(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    epilogue: Epilogue<'_>,
    output: &mut [f32],
) -> bool {
    if !available() {
        return false;
    }
    let (inner, cols) = (spec.c_in, spec.h_in * spec.w_in);
    for (x, y) in input[..n * spec.in_len()].chunks_exact(spec.in_len()).zip(output.chunks_exact_mut(spec.out_len())) {
        product(spec.c_out, inner, cols, x, weight, &epilogue, y);
    }
    true
}

/// `y[rows, cols] = epilogue(weight[rows, inner] · x[inner, cols])`, all three row-major as they
/// lie, `y` overwritten. Callers check [`available`] (AVX-512F) first and take another path
/// where it is missing.
///
/// # Panics
/// If a slice is shorter than its matrix, or the CPU lacks AVX-512F.
pub(crate) fn product(
    rows: usize,
    inner: usize,
    cols: usize,
    x: &[f32],
    weight: &[f32],
    epilogue: &Epilogue<'_>,
    y: &mut [f32],
) {
    assert!(available(), "the pointwise product needs AVX-512F");
    assert!(x.len() >= inner * cols && weight.len() >= rows * inner && y.len() >= rows * cols);
    epilogue.check(rows);
    #[cfg(target_arch = "x86_64")]
    {
        use rayon::prelude::*;
        let grid = Grid::new(rows, inner, cols);
        let units = grid.chunks * grid.blocks;
        let parts = if rows * inner * cols >= PAR_MIN_WORK { rayon::current_num_threads().min(units) } else { 1 };
        let planes = DisjointPlanes(y.as_mut_ptr());
        let run = |p: usize| {
            for u in units * p / parts..units * (p + 1) / parts {
                // SAFETY: the CPU has AVX-512F; `x`, `weight` and `y` hold their
                // matrices (asserted above), of which unit `u` alone writes its channels' pixel
                // chunk, and `y` stays borrowed until all units are done.
                unsafe { x86::unit(grid, u / grid.blocks, u % grid.blocks, x, weight, epilogue, planes) };
            }
        };
        if parts > 1 {
            (0..parts).into_par_iter().for_each(run);
        } else {
            run(0);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, weight, y);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// Unit (pixel chunk `q`, channel block `b`) of a product: the sums, the scale and shift,
    /// then the activation over the chunk's runs while they are in L1.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `x` must hold the `[inner, cols]` matrix and `weight` the
    /// `[rows, inner]` one; `y` must point to `rows` writable rows of `cols` values whose
    /// unit-`(q, b)` part nothing else reads or writes during the call.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn unit(
        grid: Grid,
        q: usize,
        b: usize,
        x: &[f32],
        weight: &[f32],
        epilogue: &Epilogue<'_>,
        y: DisjointPlanes,
    ) {
        let (p0, p1) = grid.pixels(q);
        let (o0, co) = (b * CO, CO.min(grid.rows - b * CO));
        let nv = (p1 - p0).div_ceil(L);
        let tail = p1 - p0 - (nv - 1) * L;
        let call = Call {
            x: x[p0..].as_ptr(),
            hw: grid.cols,
            c_in: grid.inner,
            w: weight[o0 * grid.inner..].as_ptr(),
            // SAFETY: row o0 starts inside `y`'s rows (o0 < rows).
            y: unsafe { y.0.add(o0 * grid.cols + p0) },
            last: if tail == L { u16::MAX } else { (1u16 << tail) - 1 },
            scale: channel_values(epilogue.scale, o0, co, 1.0),
            shift: channel_values(epilogue.shift, o0, co, 0.0),
            scaled: epilogue.scale.is_some(),
            shifted: epilogue.scale.is_some() || epilogue.shift.is_some(),
            clamp: match epilogue.act {
                Act::Relu => Some((0.0, f32::INFINITY)),
                Act::Relu6 => Some((0.0, 6.0)),
                _ => None,
            },
        };
        macro_rules! pick {
            ($($c:literal)*) => {
                match (co, nv) {
                    $(
                        // SAFETY: the caller's guarantees; the call's pointers address the
                        // unit's channels and pixels, its last vector masked to the map.
                        ($c, 1) => unsafe { kernel::<$c, 1>(&call) },
                        // SAFETY: as above.
                        ($c, 2) => unsafe { kernel::<$c, 2>(&call) },
                        // SAFETY: as above.
                        ($c, _) => unsafe { kernel::<$c, 3>(&call) },
                    )*
                    _ => unreachable!("at most {CO} channels a call"),
                }
            };
        }
        pick!(1 2 3 4 5 6 7 8);
        if call.clamp.is_none() && epilogue.act != Act::Identity {
            for o in 0..co {
                // SAFETY: the unit's run of channel o0 + o, written by the kernel just now and
                // the unit's alone.
                let run = unsafe { std::slice::from_raw_parts_mut(call.y.add(o * grid.cols), p1 - p0) };
                crate::kernels::activation::in_place(epilogue.act, run);
            }
        }
    }

    /// The epilogue's values for channels `o0..o0 + co`, `default` past them or without any.
    fn channel_values(v: Option<&[f32]>, o0: usize, co: usize, default: f32) -> [f32; CO] {
        let mut out = [default; CO];
        if let Some(v) = v {
            out[..co].copy_from_slice(&v[o0..o0 + co]);
        }
        out
    }

    /// One kernel call's operands.
    struct Call {
        /// The first pixel of input channel 0; channels `hw` apart.
        x: *const f32,
        hw: usize,
        c_in: usize,
        /// The first output channel's weights; channels `c_in` apart.
        w: *const f32,
        /// The first pixel of the first output channel's plane; planes `hw` apart.
        y: *mut f32,
        /// Lanes of the last vector inside the map.
        last: u16,
        scale: [f32; CO],
        shift: [f32; CO],
        /// Whether to multiply by `scale` and whether to add `shift`: a missing one is skipped
        /// rather than applied as 1 or 0, as [`Epilogue`] does on the other paths, so every
        /// path gives the same bits.
        scaled: bool,
        shifted: bool,
        /// ReLU and ReLU6 as bounds applied before the store; other activations run over the
        /// unit's runs afterwards.
        clamp: Option<(f32, f32)>,
    }

    /// `C` output channels by `V` vectors of pixels over all input channels, in chains of
    /// `CHAIN`; the last chain's sum is scaled, shifted, clamped and stored.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `call.x` must have `c_in` planes `hw` apart with `V` vectors
    /// readable where `call.last` marks lanes of the last one, `call.w` `C` rows of `c_in`
    /// weights `c_in` apart, and `call.y` `C` planes `hw` apart with the same lanes writable.
    #[target_feature(enable = "avx512f")]
    #[inline(never)]
    unsafe fn kernel<const C: usize, const V: usize>(call: &Call) {
        let mask = |q: usize| if q + 1 == V { call.last } else { u16::MAX };
        let mut c0 = 0;
        while c0 < call.c_in {
            let c1 = (c0 + CHAIN).min(call.c_in);
            let mut acc = [[_mm512_setzero_ps(); V]; C];
            for c in c0..c1 {
                let mut xs = [_mm512_setzero_ps(); V];
                for (q, v) in xs.iter_mut().enumerate() {
                    // SAFETY: channel c's plane, vector q, only lanes inside the map.
                    *v = unsafe { _mm512_maskz_loadu_ps(mask(q), call.x.add(c * call.hw + q * L)) };
                }
                for (o, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: weight (o, c) of the block's rows.
                    let w = _mm512_set1_ps(unsafe { *call.w.add(o * call.c_in + c) });
                    for (a, xv) in acc.iter_mut().zip(&xs) {
                        *a = _mm512_fmadd_ps(w, *xv, *a);
                    }
                }
            }
            let last = c1 == call.c_in;
            for (o, acc) in acc.iter().enumerate() {
                let (s, t) = (_mm512_set1_ps(call.scale[o]), _mm512_set1_ps(call.shift[o]));
                for (q, a) in acc.iter().enumerate() {
                    // SAFETY: output channel o's plane, vector q, only lanes inside the map.
                    let at = unsafe { call.y.add(o * call.hw + q * L) };
                    let mut v = *a;
                    if c0 > 0 {
                        // SAFETY: as above; the earlier chains' sum is stored there.
                        v = _mm512_add_ps(unsafe { _mm512_maskz_loadu_ps(mask(q), at) }, v);
                    }
                    if last {
                        if call.scaled {
                            v = _mm512_mul_ps(v, s);
                        }
                        if call.shifted {
                            v = _mm512_add_ps(v, t);
                        }
                        if let Some((lo, hi)) = call.clamp {
                            // `max(lo, v)` then `min(hi, ·)` return `v` where it is NaN, as
                            // `Act::apply` keeps NaN, and give its bits elsewhere.
                            v = _mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), v));
                        }
                    }
                    // SAFETY: as above.
                    unsafe { _mm512_mask_storeu_ps(at, mask(q), v) };
                }
            }
            c0 = c1;
        }
    }
}

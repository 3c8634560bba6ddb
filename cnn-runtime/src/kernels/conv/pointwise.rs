//! Pointwise convolution (1x1 kernel, stride 1, no padding, one group): the bulk of
//! MobileNet's and EfficientNet's multiply-adds, the expansions and projections around each
//! depthwise layer. Per sample it is the product `y[c_out, h·w] = W[c_out, c_in] · x[c_in, h·w]`
//! with both `x` and `y` exactly as NCHW lays them out, so the kernel reads the input and
//! writes the output in place: no bordered copy, no packing, no transposition.
//!
//! A kernel call computes up to `CO` output channels by a few vectors of pixels of one plane
//! (AVX-512: 8 channels by 48 pixels, 24 accumulators of its 32 registers; AVX2 and the portable
//! path: 6 channels by 16 pixels, 12 of 16): per input channel, up to 3 (or 2) vector loads of
//! input and `CO` weight broadcasts feed up to 24 (or 12) fused multiply-adds.
//! The map's last vector is masked, so any `h·w` runs without reading or writing past the
//! planes. The epilogue (scale, shift, activation) runs on each call's results while they are
//! in registers or in L1.
//!
//! The same [`product`] serves [`crate::kernels::conv::small_maps`], over an im2col matrix
//! instead of the input.
//!
//! Work is a grid of (pixel tile, channel block) units; a large product's units are split
//! among the threads in contiguous ranges. A unit is computed the same way whoever runs it, so
//! the split changes no bits. Written once over [`Vector`] and compiled for every instruction
//! set.

use crate::geom::Conv2dSpec;
use crate::isa::{isa, Isa};
use crate::kernels::activation::Act;
use crate::kernels::conv::{DisjointPlanes, Epilogue};
use crate::vector::{isa_entry, Vector};

/// Output channels a kernel call computes, at most, on any instruction set.
const MAX_CO: usize = 8;
/// Products summed in one chain before the chain's sum joins the total, as in the other direct
/// kernels: chains as long as a GEMM's keep rounding as small.
pub(crate) const CHAIN: usize = 256;
/// Multiply-adds of one sample above which its units are split among the threads.
const PAR_MIN_WORK: usize = 1 << 20;
/// Bytes of input a tile of pixels holds across the input channels, at most (unless one chunk
/// is larger): half of L1, so that the tile stays there while every channel block reads it.
const TILE_BYTES: usize = 16 << 10;

/// Output channels a kernel call computes on `isa`: as many as leave registers for the input
/// vectors and a broadcast beside the accumulators.
const fn channels_per_call(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 8,
        Isa::Avx2 | Isa::Portable => 6,
    }
}

/// Vectors of pixels a kernel call computes on `isa`, at most.
const fn vectors_per_call(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 3,
        Isa::Avx2 | Isa::Portable => 2,
    }
}

/// Whether this kernel takes the layer.
pub(crate) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.groups == 1 && spec.is_pointwise()
}

/// The units of one product: tiles of pixels by channel blocks, every block of a tile before
/// the next tile.
///
/// A unit runs the kernel over its tile chunk by chunk (of up to [`vectors_per_call`]
/// vectors): the tile's input stays in L1 for the next blocks, and the per-unit set-up (the
/// epilogue's values, the dispatch on the block's channel count) is paid once per tile rather
/// than per chunk, which had cost an expansion layer of 16 input channels (MobileNet V2's first,
/// 16 to 96 channels at 112x112) a third of its time.
#[derive(Clone, Copy)]
struct Grid {
    /// Output channels (rows of the weights).
    rows: usize,
    /// The inner dimension: input channels, or im2col rows.
    inner: usize,
    /// Pixels (columns of the input and output).
    cols: usize,
    /// Lanes of a vector.
    lanes: usize,
    /// Output channels of a block.
    co: usize,
    /// Vectors of a tile: a multiple of the chunk, but in the last tile.
    tile: usize,
    tiles: usize,
    blocks: usize,
}

impl Grid {
    fn new(isa: Isa, rows: usize, inner: usize, cols: usize) -> Self {
        let (lanes, co, chunk) = (isa.lanes(), channels_per_call(isa), vectors_per_call(isa));
        let vectors = cols.div_ceil(lanes).max(1);
        let column_bytes = inner.max(1) * lanes * size_of::<f32>();
        let tile = (TILE_BYTES / column_bytes / chunk * chunk).clamp(chunk, vectors.next_multiple_of(chunk));
        Grid { rows, inner, cols, lanes, co, tile, tiles: vectors.div_ceil(tile), blocks: rows.div_ceil(co) }
    }

    /// Pixels `p0..p1` of tile `t`.
    fn pixels(&self, t: usize) -> (usize, usize) {
        let p0 = t * self.tile * self.lanes;
        (p0, (p0 + self.tile * self.lanes).min(self.cols))
    }
}

/// Convolves `n` samples into `output` (overwritten) with the epilogue applied.
pub(crate) fn forward(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    epilogue: Epilogue<'_>,
    output: &mut [f32],
) {
    let (inner, cols) = (spec.c_in, spec.h_in * spec.w_in);
    for (x, y) in input[..n * spec.in_len()].chunks_exact(spec.in_len()).zip(output.chunks_exact_mut(spec.out_len())) {
        product(spec.c_out, inner, cols, x, weight, &epilogue, y);
    }
}

/// `y[rows, cols] = epilogue(weight[rows, inner] · x[inner, cols])`, all three row-major as they
/// lie, `y` overwritten.
///
/// # Panics
/// If a slice is shorter than its matrix.
pub(crate) fn product(
    rows: usize,
    inner: usize,
    cols: usize,
    x: &[f32],
    weight: &[f32],
    epilogue: &Epilogue<'_>,
    y: &mut [f32],
) {
    use rayon::prelude::*;
    assert!(x.len() >= inner * cols && weight.len() >= rows * inner && y.len() >= rows * cols);
    epilogue.check(rows);
    let isa = isa();
    let grid = Grid::new(isa, rows, inner, cols);
    let units = grid.tiles * grid.blocks;
    let parts = if rows * inner * cols >= PAR_MIN_WORK { rayon::current_num_threads().min(units) } else { 1 };
    let planes = DisjointPlanes(y.as_mut_ptr());
    let run = |p: usize| {
        // SAFETY: `isa()` is an instruction set this CPU has; `x`, `weight` and `y` hold their
        // matrices (asserted above), of which the units of part `p` alone write their channels'
        // pixel tiles, and `y` stays borrowed until all units are done.
        unsafe { units_on(isa, grid, units * p / parts, units * (p + 1) / parts, x, weight, epilogue, planes) };
    };
    if parts > 1 {
        (0..parts).into_par_iter().for_each(run);
    } else {
        run(0);
    }
}

isa_entry! {
    /// [`units`] compiled for `isa`.
    unsafe fn units_on(
        grid: Grid,
        lo: usize,
        hi: usize,
        x: &[f32],
        weight: &[f32],
        epilogue: &Epilogue<'_>,
        y: DisjointPlanes,
    ) => units;
}

/// Units `lo..hi` of a product, each as [`unit`].
///
/// # Safety
/// As [`unit`], for every unit of the range.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn units<V: Vector>(
    grid: Grid,
    lo: usize,
    hi: usize,
    x: &[f32],
    weight: &[f32],
    epilogue: &Epilogue<'_>,
    y: DisjointPlanes,
) {
    for u in lo..hi {
        // SAFETY: the caller's contract.
        unsafe { unit::<V>(grid, u / grid.blocks, u % grid.blocks, x, weight, epilogue, y) };
    }
}

/// Unit (pixel tile `t`, channel block `b`) of a product: the sums, the scale and shift,
/// then the activation over the tile's runs while they are in L1.
///
/// # Safety
/// The CPU must have `V`'s instruction set; `x` must hold the `[inner, cols]` matrix and
/// `weight` the `[rows, inner]` one; `y` must point to `rows` writable rows of `cols` values
/// whose unit-`(t, b)` part nothing else reads or writes during the call.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn unit<V: Vector>(
    grid: Grid,
    t: usize,
    b: usize,
    x: &[f32],
    weight: &[f32],
    epilogue: &Epilogue<'_>,
    y: DisjointPlanes,
) {
    let (p0, p1) = grid.pixels(t);
    let (o0, co) = (b * grid.co, grid.co.min(grid.rows - b * grid.co));
    let nv = (p1 - p0).div_ceil(V::LANES);
    let tail = p1 - p0 - (nv - 1) * V::LANES;
    let call = Call::<V> {
        x: x[p0..].as_ptr(),
        hw: grid.cols,
        c_in: grid.inner,
        w: weight[o0 * grid.inner..].as_ptr(),
        // SAFETY: row o0 starts inside `y`'s rows (o0 < rows).
        y: unsafe { y.0.add(o0 * grid.cols + p0) },
        last: V::mask(tail),
        last_full: tail == V::LANES,
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
        ($chunk:literal: $($c:literal)*) => {
            match co {
                $(
                    // SAFETY: the caller's guarantees; the call's pointers address the
                    // unit's channels and its tile of `nv` vectors, the last masked to the map.
                    $c => unsafe { tile::<V, $c, $chunk>(&call, nv) },
                )*
                _ => unreachable!("at most {MAX_CO} channels a call"),
            }
        };
    }
    const _: () = assert!(vectors_per_call(Isa::Avx512) == 3 && vectors_per_call(Isa::Avx2) == 2);
    if V::LANES == 16 {
        pick!(3: 1 2 3 4 5 6 7 8);
    } else {
        pick!(2: 1 2 3 4 5 6);
    }
    if call.clamp.is_none() && epilogue.act != Act::Identity {
        for o in 0..co {
            // SAFETY: the unit's run of channel o0 + o, written by the kernel just now and the
            // unit's alone.
            let run = unsafe { std::slice::from_raw_parts_mut(call.y.add(o * grid.cols), p1 - p0) };
            if V::FMA {
                crate::kernels::activation::in_place::<true>(epilogue.act, run);
            } else {
                crate::kernels::activation::in_place::<false>(epilogue.act, run);
            }
        }
    }
}

/// The `nv` vectors of a call's tile, `CHUNK` at a time; the last chunk (1 to `CHUNK` vectors)
/// ends at the map's edge.
///
/// # Safety
/// As [`kernel`], for `nv` vectors.
#[inline(always)]
unsafe fn tile<V: Vector, const C: usize, const CHUNK: usize>(call: &Call<V>, nv: usize) {
    let mut v0 = 0;
    while nv - v0 > CHUNK {
        // SAFETY: whole vectors v0..v0 + CHUNK of the tile, before its last one.
        unsafe { kernel::<V, C, CHUNK, false>(call, v0) };
        v0 += CHUNK;
    }
    // SAFETY: the tile's last 1 to CHUNK vectors, the last one masked to the map where it is
    // partial.
    unsafe {
        match (nv - v0, call.last_full) {
            (1, true) => kernel::<V, C, 1, false>(call, v0),
            (2, true) => kernel::<V, C, 2, false>(call, v0),
            (_, true) => kernel::<V, C, CHUNK, false>(call, v0),
            (1, false) => kernel::<V, C, 1, true>(call, v0),
            (2, false) => kernel::<V, C, 2, true>(call, v0),
            (_, false) => kernel::<V, C, CHUNK, true>(call, v0),
        }
    }
}

/// The epilogue's values for channels `o0..o0 + co`, `default` past them or without any.
#[inline(always)]
fn channel_values(v: Option<&[f32]>, o0: usize, co: usize, default: f32) -> [f32; MAX_CO] {
    let mut out = [default; MAX_CO];
    if let Some(v) = v {
        out[..co].copy_from_slice(&v[o0..o0 + co]);
    }
    out
}

/// One kernel call's operands.
struct Call<V: Vector> {
    /// The first pixel of input channel 0; channels `hw` apart.
    x: *const f32,
    hw: usize,
    c_in: usize,
    /// The first output channel's weights; channels `c_in` apart.
    w: *const f32,
    /// The first pixel of the first output channel's plane; planes `hw` apart.
    y: *mut f32,
    /// Lanes of the last vector inside the map, and whether that is all of them.
    last: V::Mask,
    last_full: bool,
    scale: [f32; MAX_CO],
    shift: [f32; MAX_CO],
    /// Whether to multiply by `scale` and whether to add `shift`: a missing one is skipped
    /// rather than applied as 1 or 0, as [`Epilogue`] does on the other paths, so every path
    /// gives the same bits.
    scaled: bool,
    shifted: bool,
    /// ReLU and ReLU6 as bounds applied before the store; other activations run over the
    /// unit's runs afterwards.
    clamp: Option<(f32, f32)>,
}

/// `C` output channels by `NV` vectors of pixels from vector `v0` of the call's tile, over all
/// input channels, in chains of `CHAIN`; the last chain's sum is scaled, shifted, clamped and
/// stored. With `MASKED`, the last of the `NV` vectors is the map's partial last one (masked by
/// `call.last`); the choice is a constant so that the inner loop has no branch.
///
/// # Safety
/// The CPU must have `V`'s instruction set; `call.x` must have `c_in` planes `hw` apart with
/// vectors `v0..v0 + NV` readable (where `call.last` marks lanes of the last one, with
/// `MASKED`), `call.w` `C` rows of `c_in` weights `c_in` apart, and `call.y` `C` planes `hw`
/// apart with the same lanes writable.
#[inline(always)]
unsafe fn kernel<V: Vector, const C: usize, const NV: usize, const MASKED: bool>(call: &Call<V>, v0: usize) {
    // Whole vectors load and store plainly; only a partial last one is masked (AVX2's masked
    // moves are slow, the store especially).
    let partial = |q: usize| MASKED && q + 1 == NV;
    // SAFETY: vector v0 of the tile lies inside the planes (the caller's bounds).
    let (x, y) = unsafe { (call.x.add(v0 * V::LANES), call.y.add(v0 * V::LANES)) };
    let load = |at: *const f32, q: usize| {
        // SAFETY: the caller's bounds: whole vectors, or the lanes `last` marks.
        unsafe {
            if partial(q) {
                V::load_masked(at, call.last)
            } else {
                V::load(at)
            }
        }
    };
    let mut c0 = 0;
    while c0 < call.c_in {
        let c1 = (c0 + CHAIN).min(call.c_in);
        let mut acc = [[V::zero(); NV]; C];
        // Pointers stepped per input channel rather than indices multiplied, which LLVM left
        // in the loop.
        // SAFETY: channel c0's plane and weight column, inside their matrices.
        let (mut xc, mut wc) = unsafe { (x.add(c0 * call.hw), call.w.add(c0)) };
        for _ in c0..c1 {
            let mut xs = [V::zero(); NV];
            for (q, v) in xs.iter_mut().enumerate() {
                // SAFETY: the channel's plane, vector q, inside the map (`load` masks the tail).
                *v = load(unsafe { xc.add(q * V::LANES) }, q);
            }
            for (o, acc) in acc.iter_mut().enumerate() {
                // SAFETY: weight (o, c) of the block's rows.
                let w = V::splat(unsafe { *wc.add(o * call.c_in) });
                for (a, xv) in acc.iter_mut().zip(&xs) {
                    *a = w.mul_add(*xv, *a);
                }
            }
            // SAFETY: one past the chain's last channel at most: the planes and rows go on.
            unsafe {
                xc = xc.add(call.hw);
                wc = wc.add(1);
            }
        }
        let done = c1 == call.c_in;
        for (o, acc) in acc.iter().enumerate() {
            let (s, t) = (V::splat(call.scale[o]), V::splat(call.shift[o]));
            for (q, a) in acc.iter().enumerate() {
                // SAFETY: output channel o's plane, vector q, inside the map.
                let at = unsafe { y.add(o * call.hw + q * V::LANES) };
                let mut v = *a;
                if c0 > 0 {
                    // The earlier chains' sum is stored there.
                    v = load(at, q).add(v);
                }
                if done {
                    if call.scaled {
                        v = v.mul(s);
                    }
                    if call.shifted {
                        v = v.add(t);
                    }
                    if let Some((lo, hi)) = call.clamp {
                        // `max(lo, v)` then `min(hi, ·)` return `v` where it is NaN, as
                        // `Act::apply` keeps NaN, and give its bits elsewhere.
                        v = V::splat(hi).min(V::splat(lo).max(v));
                    }
                }
                // SAFETY: as above: whole vectors, or the lanes `last` marks.
                unsafe {
                    if partial(q) {
                        v.store_masked(at, call.last)
                    } else {
                        v.store(at)
                    }
                }
            }
        }
        c0 = c1;
    }
}

//! 2-D pooling: max and average, with padding, `ceil_mode` and the adaptive forms, all through
//! the windows [`Pool2dSpec`] describes.

use crate::geom::{Pool2dGeom, Pool2dSpec, Window};
use crate::kernels::conv::check_len;

#[track_caller]
fn check(spec: &Pool2dSpec, n: usize, input: usize, output: usize) {
    check_len("input", input, n * spec.in_len());
    check_len("output", output, n * spec.out_len());
}

/// Max-pools `n` NCHW samples into `output` (padding never wins: it stands for `-inf`).
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn max_pool2d_forward<G: Pool2dGeom>(n: usize, input: &[f32], output: &mut [f32]) {
    let spec = G::SPEC;
    check(&spec, n, input.len(), output.len());
    if is_halving(&spec) {
        max_halve(&spec, n, input, output);
    } else {
        max_windows::<false>(&spec, n, input, output, &mut []);
    }
}

/// Whether the pool is the common 2x2 window at stride 2 without padding, in floor mode.
const fn is_halving(spec: &Pool2dSpec) -> bool {
    !spec.adaptive
        && !spec.is_dilated()
        && spec.kh == 2
        && spec.kw == 2
        && spec.sh == 2
        && spec.sw == 2
        && spec.ph == 0
        && spec.pw == 0
        && spec.h_out == spec.h_in / 2
        && spec.w_out == spec.w_in / 2
}

/// [`max_core`] for 2x2 windows at stride 2: two input rows make one output row, by pairs.
fn max_halve(spec: &Pool2dSpec, n: usize, input: &[f32], output: &mut [f32]) {
    halve::<false>(spec, n, input, output, &mut []);
}

/// As [`max_pool2d_forward`], and records in `argmax` where each maximum came from (its index in
/// its input channel plane, `h * w_in + w`), which is all the backward pass needs.
///
/// Ties go to the first maximum in row-major window order and a NaN wins over any number, as in
/// PyTorch.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn max_pool2d_forward_argmax<G: Pool2dGeom>(n: usize, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
    let spec = G::SPEC;
    check(&spec, n, input.len(), output.len());
    check_len("argmax", argmax.len(), n * spec.out_len());
    if is_halving(&spec) {
        max_halve_argmax(&spec, n, input, output, argmax);
    } else {
        max_windows::<true>(&spec, n, input, output, argmax);
    }
}

/// [`max_core`] with argmax for 2x2 windows at stride 2, without the window arithmetic and
/// with selects rather than branches.
fn max_halve_argmax(spec: &Pool2dSpec, n: usize, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
    halve::<true>(spec, n, input, output, argmax);
}

/// 2x2 max pooling at stride 2 over `n · c` planes, row pair by row pair, recording the argmax
/// when `RECORD` (`argmax` is not touched otherwise).
fn halve<const RECORD: bool>(spec: &Pool2dSpec, n: usize, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
    match crate::isa::isa() {
        // SAFETY: `isa()` chose AVX-512F on this CPU.
        #[cfg(target_arch = "x86_64")]
        crate::isa::Isa::Avx512 => unsafe { x86::halve_avx512::<RECORD>(spec, n, input, output, argmax) },
        // SAFETY: `isa()` chose AVX2 and FMA on this CPU.
        #[cfg(target_arch = "x86_64")]
        crate::isa::Isa::Avx2 => unsafe { x86::halve_avx2::<RECORD>(spec, n, input, output, argmax) },
        _ => halve_rows::<RECORD>(spec, n, input, output, argmax, halve_row::<RECORD>),
    }
}

/// The loops of [`halve`] around `row_kernel`.
#[inline(always)]
fn halve_rows<const RECORD: bool>(
    spec: &Pool2dSpec,
    n: usize,
    input: &[f32],
    output: &mut [f32],
    argmax: &mut [u32],
    row_kernel: impl Fn(&[f32], &[f32], &mut [f32], &mut [u32], u32, u32),
) {
    let (w, wo) = (spec.w_in, spec.w_out);
    let (plane_in, plane_out) = (spec.h_in * w, spec.h_out * wo);
    for p in 0..n * spec.c {
        let src = &input[p * plane_in..(p + 1) * plane_in];
        for oh in 0..spec.h_out {
            let (top, bottom) = (&src[2 * oh * w..][..2 * wo], &src[(2 * oh + 1) * w..][..2 * wo]);
            let base = (2 * oh * w) as u32;
            let at = p * plane_out + oh * wo;
            let row = &mut output[at..at + wo];
            let idx = if RECORD { &mut argmax[at..at + wo] } else { &mut [][..] };
            row_kernel(top, bottom, row, idx, base, w as u32);
        }
    }
}

/// One output row of [`halve`] from its two input rows `top` and `bottom` (`2 · row.len()`
/// values each); `base` is `top`'s index in its plane and `w` the plane's width.
#[inline(always)]
fn halve_row<const RECORD: bool>(top: &[f32], bottom: &[f32], row: &mut [f32], idx: &mut [u32], base: u32, w: u32) {
    for (ow, (t, b)) in top.chunks_exact(2).zip(bottom.chunks_exact(2)).enumerate() {
        let i0 = base + 2 * ow as u32;
        let (mut best, mut arg) = (t[0], i0);
        // As `max_core`: the first maximum in window order, a NaN over any number.
        for (v, k) in [(t[1], i0 + 1), (b[0], i0 + w), (b[1], i0 + w + 1)] {
            let take = v > best || (v.is_nan() && !best.is_nan());
            best = if take { v } else { best };
            arg = if take { k } else { arg };
        }
        row[ow] = best;
        if RECORD {
            idx[ow] = arg;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Pool2dSpec;
    use std::arch::x86_64::*;

    /// [`super::halve`] with the AVX-512 row kernel below.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn halve_avx512<const RECORD: bool>(
        spec: &Pool2dSpec,
        n: usize,
        input: &[f32],
        output: &mut [f32],
        argmax: &mut [u32],
    ) {
        super::halve_rows::<RECORD>(spec, n, input, output, argmax, |t, b, r, i, base, w| {
            // SAFETY: this function runs only where the CPU has AVX-512F.
            unsafe { halve_row::<RECORD>(t, b, r, i, base, w) }
        });
    }

    /// [`super::halve`] with the portable row loop compiled for AVX2, whose blends make it
    /// vector code.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn halve_avx2<const RECORD: bool>(
        spec: &Pool2dSpec,
        n: usize,
        input: &[f32],
        output: &mut [f32],
        argmax: &mut [u32],
    ) {
        super::halve_rows::<RECORD>(spec, n, input, output, argmax, super::halve_row::<RECORD>);
    }

    /// [`super::halve_row`] sixteen outputs at a time: the even and odd columns of each input
    /// row are separated by permutes, and the window's four values are compared in the same
    /// order and with the same rule as the scalar loop, so both give the same bits.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn halve_row<const RECORD: bool>(
        top: &[f32],
        bottom: &[f32],
        row: &mut [f32],
        idx: &mut [u32],
        base: u32,
        w: u32,
    ) {
        let wo = row.len();
        assert!(top.len() >= 2 * wo && bottom.len() >= 2 * wo && (!RECORD || idx.len() >= wo));
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for ow0 in (0..wo).step_by(16) {
            let live = (wo - ow0).min(16);
            let out_mask = (((1u32 << live) - 1) & 0xffff) as __mmask16;
            let lo_mask = (((1u64 << (2 * live).min(16)) - 1) & 0xffff) as __mmask16;
            let hi_mask = (((1u64 << (2 * live).saturating_sub(16)) - 1) & 0xffff) as __mmask16;
            // SAFETY: the masks cover the 2·live values from 2·ow0 on, inside `top` and `bottom`
            // by the assertion; masked-off lanes are not read.
            let (t, b) = unsafe {
                let (t, b) = (top.as_ptr().add(2 * ow0), bottom.as_ptr().add(2 * ow0));
                let (t0, t1) = (_mm512_maskz_loadu_ps(lo_mask, t), _mm512_maskz_loadu_ps(hi_mask, t.add(16)));
                let (b0, b1) = (_mm512_maskz_loadu_ps(lo_mask, b), _mm512_maskz_loadu_ps(hi_mask, b.add(16)));
                ((t0, t1), (b0, b1))
            };
            let i0 = _mm512_add_epi32(_mm512_set1_epi32((base + 2 * ow0 as u32) as i32), even);
            let mut best = _mm512_permutex2var_ps(t.0, even, t.1);
            let mut arg = i0;
            let candidates = [
                (_mm512_permutex2var_ps(t.0, odd, t.1), 1),
                (_mm512_permutex2var_ps(b.0, even, b.1), w),
                (_mm512_permutex2var_ps(b.0, odd, b.1), w + 1),
            ];
            for (v, offset) in candidates {
                let nan_v = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                let nan_best = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(best, best);
                let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best) | (nan_v & !nan_best);
                best = _mm512_mask_blend_ps(take, best, v);
                if RECORD {
                    arg = _mm512_mask_blend_epi32(take, arg, _mm512_add_epi32(i0, _mm512_set1_epi32(offset as i32)));
                }
            }
            // SAFETY: `out_mask` covers outputs ow0..ow0+live, inside `row` (and `idx`).
            unsafe {
                _mm512_mask_storeu_ps(row.as_mut_ptr().add(ow0), out_mask, best);
                if RECORD {
                    _mm512_mask_storeu_epi32(idx.as_mut_ptr().add(ow0).cast(), out_mask, arg);
                }
            }
        }
    }
}

/// Routes each output gradient to the input position its maximum came from (`argmax`, from
/// [`max_pool2d_forward_argmax`]); overlapping windows add up. `grad_input` is overwritten, or
/// added to when `accumulate`.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn max_pool2d_backward<G: Pool2dGeom>(
    n: usize,
    grad_output: &[f32],
    argmax: &[u32],
    grad_input: &mut [f32],
    accumulate: bool,
) {
    let spec = G::SPEC;
    let (plane_in, plane_out) = (spec.h_in * spec.w_in, spec.h_out * spec.w_out);
    check(&spec, n, grad_input.len(), grad_output.len());
    check_len("argmax", argmax.len(), n * spec.out_len());
    let grad_input = &mut grad_input[..n * spec.in_len()];
    if !accumulate {
        grad_input.fill(0.0);
    }
    for p in 0..n * spec.c {
        let dst = &mut grad_input[p * plane_in..(p + 1) * plane_in];
        let at = &argmax[p * plane_out..(p + 1) * plane_out];
        let g = &grad_output[p * plane_out..(p + 1) * plane_out];
        for (&i, &g) in at.iter().zip(g) {
            dst[i as usize] += g;
        }
    }
}

/// Calls `f(plane, out, rows, cols)` for every output cell of `n` samples: `plane` indexes the
/// `n · c` channel planes, `out` the cell within its output plane, and `rows`, `cols` its window.
#[inline(always)]
fn for_each_window(spec: &Pool2dSpec, n: usize, mut f: impl FnMut(usize, usize, Window, Window)) {
    for p in 0..n * spec.c {
        for oh in 0..spec.h_out {
            let rows = spec.row(oh);
            for ow in 0..spec.w_out {
                f(p, oh * spec.w_out + ow, rows, spec.col(ow));
            }
        }
    }
}

/// [`max_core`], or for fixed windows the same comparisons in the same order taken tap by tap
/// along whole output rows (loops over the row that vectorize, where a window at a time does
/// not): ResNet's 3x3 stride-2 stem pool.
fn max_windows<const RECORD: bool>(spec: &Pool2dSpec, n: usize, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
    if spec.adaptive {
        return max_core::<RECORD>(spec, n, input, output, argmax);
    }
    if spec.is_dilated() {
        return max_dilated::<RECORD>(spec, n, input, output, argmax);
    }
    /// The same loops compiled for AVX-512 and for AVX2, whose masked moves (AVX-512) or
    /// blends make the row loops vector code.
    #[cfg(target_arch = "x86_64")]
    mod compiled {
        use super::{max_rows, Pool2dSpec};
        /// # Safety
        /// The CPU must support AVX-512F.
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn avx512<const RECORD: bool>(
            spec: &Pool2dSpec,
            n: usize,
            input: &[f32],
            output: &mut [f32],
            argmax: &mut [u32],
        ) {
            max_rows::<RECORD>(spec, n, input, output, argmax);
        }
        /// # Safety
        /// The CPU must support AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn avx2<const RECORD: bool>(
            spec: &Pool2dSpec,
            n: usize,
            input: &[f32],
            output: &mut [f32],
            argmax: &mut [u32],
        ) {
            max_rows::<RECORD>(spec, n, input, output, argmax);
        }
    }
    match crate::isa::isa() {
        // SAFETY: `isa()` chose AVX-512F on this CPU.
        #[cfg(target_arch = "x86_64")]
        crate::isa::Isa::Avx512 => unsafe { compiled::avx512::<RECORD>(spec, n, input, output, argmax) },
        // SAFETY: `isa()` chose AVX2 and FMA on this CPU.
        #[cfg(target_arch = "x86_64")]
        crate::isa::Isa::Avx2 => unsafe { compiled::avx2::<RECORD>(spec, n, input, output, argmax) },
        _ => max_rows::<RECORD>(spec, n, input, output, argmax),
    }
}

/// The loops of [`max_windows`] for fixed windows.
#[inline(always)]
fn max_rows<const RECORD: bool>(spec: &Pool2dSpec, n: usize, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
    let (w, wo) = (spec.w_in, spec.w_out);
    let (plane_in, plane_out) = (spec.h_in * w, spec.h_out * wo);
    for p in 0..n * spec.c {
        let src = &input[p * plane_in..(p + 1) * plane_in];
        for oh in 0..spec.h_out {
            let rows = spec.row(oh);
            let at = p * plane_out + oh * wo;
            let best = &mut output[at..at + wo];
            best.fill(f32::NEG_INFINITY);
            let arg = if RECORD { &mut argmax[at..at + wo] } else { &mut [][..] };
            if RECORD {
                // Where a window of nothing but -inf points: its first element.
                arg.iter_mut().enumerate().for_each(|(ow, a)| *a = (rows.lo * w + spec.col(ow).lo) as u32);
            }
            for i in rows.lo..rows.hi {
                let row = &src[i * w..(i + 1) * w];
                for j in 0..spec.kw {
                    // Output columns whose window holds input column ow·sw + j - pw.
                    let (lo, hi) = crate::kernels::conv::im2col::valid_range(w, wo, spec.sw, j, spec.pw);
                    for ow in lo..hi {
                        let c = ow * spec.sw + j - spec.pw;
                        let (v, b) = (row[c], best[ow]);
                        let take = v > b || (v.is_nan() && !b.is_nan());
                        best[ow] = if take { v } else { b };
                        if RECORD {
                            arg[ow] = if take { (i * w + c) as u32 } else { arg[ow] };
                        }
                    }
                }
            }
        }
    }
}

#[inline(always)]
fn max_core<const RECORD: bool>(spec: &Pool2dSpec, n: usize, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
    let w = spec.w_in;
    let (plane_in, plane_out) = (spec.h_in * w, spec.h_out * spec.w_out);
    for_each_window(spec, n, |p, o, rows, cols| {
        let src = &input[p * plane_in..(p + 1) * plane_in];
        let mut best = f32::NEG_INFINITY;
        let mut at = rows.lo * w + cols.lo;
        for i in rows.lo..rows.hi {
            for j in cols.lo..cols.hi {
                let v = src[i * w + j];
                if v > best || (v.is_nan() && !best.is_nan()) {
                    best = v;
                    at = i * w + j;
                }
            }
        }
        output[p * plane_out + o] = best;
        if RECORD {
            argmax[p * plane_out + o] = at as u32;
        }
    });
}

/// The input indices one output index's dilated window reads along an axis of `len`: taps
/// `o·s - p + j·d` for `j < k`, those inside the input, as PyTorch's max pool visits them.
#[inline(always)]
fn dilated_taps(len: usize, o: usize, k: usize, s: usize, p: usize, d: usize) -> impl Iterator<Item = usize> {
    let start = (o * s) as isize - p as isize;
    (0..k as isize)
        .map(move |j| start + j * d as isize)
        .filter(move |&i| i >= 0 && (i as usize) < len)
        .map(|i| i as usize)
}

/// Max pooling with a dilated window (PyTorch's `dilation`): every output cell visits its taps
/// in row-major order, the first maximum (a NaN over any number) winning, as [`max_core`].
fn max_dilated<const RECORD: bool>(spec: &Pool2dSpec, n: usize, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
    let w = spec.w_in;
    let (plane_in, plane_out) = (spec.h_in * w, spec.h_out * spec.w_out);
    for p in 0..n * spec.c {
        let src = &input[p * plane_in..(p + 1) * plane_in];
        for oh in 0..spec.h_out {
            for ow in 0..spec.w_out {
                let (mut best, mut at) = (f32::NEG_INFINITY, usize::MAX);
                for i in dilated_taps(spec.h_in, oh, spec.kh, spec.sh, spec.ph, spec.dh) {
                    for j in dilated_taps(w, ow, spec.kw, spec.sw, spec.pw, spec.dw) {
                        let v = src[i * w + j];
                        if at == usize::MAX || v > best || (v.is_nan() && !best.is_nan()) {
                            best = v;
                            at = i * w + j;
                        }
                    }
                }
                let o = p * plane_out + oh * spec.w_out + ow;
                output[o] = best;
                if RECORD {
                    argmax[o] = at as u32;
                }
            }
        }
    }
}

/// The divisor of an output cell's mean.
#[inline(always)]
fn divisor(spec: &Pool2dSpec, r: Window, c: Window) -> f32 {
    if spec.divisor_override != 0 && !spec.adaptive {
        spec.divisor_override as f32
    } else if spec.count_include_pad && !spec.adaptive {
        (r.padded * c.padded) as f32
    } else {
        ((r.hi - r.lo) * (c.hi - c.lo)) as f32
    }
}

/// Average-pools `n` NCHW samples into `output`, as `nn.AvgPool2d` (dividing by the window with
/// its padding when `count_include_pad`, or by `divisor_override`) or `nn.AdaptiveAvgPool2d`.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn avg_pool2d_forward<G: Pool2dGeom>(n: usize, input: &[f32], output: &mut [f32]) {
    let spec = G::SPEC;
    check(&spec, n, input.len(), output.len());
    let w = spec.w_in;
    let (plane_in, plane_out) = (spec.h_in * w, spec.h_out * spec.w_out);
    for_each_window(&spec, n, |p, o, rows, cols| {
        let src = &input[p * plane_in..(p + 1) * plane_in];
        let sum: f32 = (rows.lo..rows.hi).map(|i| src[i * w + cols.lo..i * w + cols.hi].iter().sum::<f32>()).sum();
        output[p * plane_out + o] = sum / divisor(&spec, rows, cols);
    });
}

/// The backward pass of [`avg_pool2d_forward`]: each output gradient, divided as the mean was,
/// goes to every input position of its window. `grad_input` is overwritten, or added to when
/// `accumulate`.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn avg_pool2d_backward<G: Pool2dGeom>(n: usize, grad_output: &[f32], grad_input: &mut [f32], accumulate: bool) {
    let spec = G::SPEC;
    check(&spec, n, grad_input.len(), grad_output.len());
    let w = spec.w_in;
    let (plane_in, plane_out) = (spec.h_in * w, spec.h_out * spec.w_out);
    let grad_input = &mut grad_input[..n * spec.in_len()];
    if !accumulate {
        grad_input.fill(0.0);
    }
    for_each_window(&spec, n, |p, o, rows, cols| {
        let share = grad_output[p * plane_out + o] / divisor(&spec, rows, cols);
        let dst = &mut grad_input[p * plane_in..(p + 1) * plane_in];
        for i in rows.lo..rows.hi {
            dst[i * w + cols.lo..i * w + cols.hi].iter_mut().for_each(|d| *d += share);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    macro_rules! pool_geoms {
        ($($name:ident: $spec:expr;)*) => {
            $(
                struct $name;
                impl Pool2dGeom for $name {
                    const SPEC: Pool2dSpec = $spec;
                }
            )*
            const ALL: &[fn(usize)] = &[$(check::<$name>),*];
        };
    }

    const fn simple(c: usize, h: usize, w: usize, k: (usize, usize), s: (usize, usize)) -> Pool2dSpec {
        Pool2dSpec::simple(c, h, w, k, s)
    }

    pool_geoms! {
        One: simple(1, 1, 1, (1, 1), (1, 1));
        Halve: simple(6, 28, 28, (2, 2), (2, 2));
        // A whole vector of 16 outputs and a tail of 3, from an odd width.
        HalveWide: simple(2, 5, 39, (2, 2), (2, 2));
        OddFloor: simple(3, 7, 9, (2, 2), (2, 2));
        Overlap: simple(2, 8, 8, (3, 3), (2, 2));
        TupleWindow: simple(2, 9, 10, (2, 3), (1, 2));
        StrideBeyondWindow: simple(1, 11, 11, (2, 2), (3, 4));
        Whole: simple(4, 5, 3, (5, 3), (1, 1));
        // MaxPool2d(3, 2, padding=1) on 7x6 (ResNet's stem pool).
        Padded: Pool2dSpec { ph: 1, pw: 1, h_out: 4, w_out: 3, ..simple(2, 7, 6, (3, 3), (2, 2)) };
        // AvgPool2d((2, 3), 2, padding=(1, 0), ceil_mode=True) on 6x8: 4x4.
        CeilPadded: Pool2dSpec { ph: 1, pw: 0, h_out: 4, w_out: 4, ..simple(2, 6, 8, (2, 3), (2, 2)) };
        // ceil_mode=True without padding: AvgPool2d(2, 2) on 5x5 gives 3x3.
        Ceil: Pool2dSpec { h_out: 3, w_out: 3, ..simple(1, 5, 5, (2, 2), (2, 2)) };
        NoPadCount: Pool2dSpec { ph: 1, pw: 1, h_out: 3, w_out: 3, count_include_pad: false, ..simple(3, 5, 5, (3, 3), (2, 2)) };
        Adaptive: Pool2dSpec { h_out: 3, w_out: 2, adaptive: true, ..simple(2, 5, 7, (1, 1), (1, 1)) };
        AdaptiveGrow: Pool2dSpec { h_out: 4, w_out: 5, adaptive: true, ..simple(1, 3, 2, (1, 1), (1, 1)) };
        Global: Pool2dSpec { h_out: 1, w_out: 1, adaptive: true, ..simple(4, 3, 5, (1, 1), (1, 1)) };
        // MaxPool2d(3, 1, padding=1, dilation=2) on 7x6: (7 + 2 - 4 - 1) + 1 = 5 by 4.
        Dilated: Pool2dSpec { ph: 1, pw: 1, h_out: 5, w_out: 4, dh: 2, dw: 2, ..simple(2, 7, 6, (3, 3), (1, 1)) };
        // MaxPool2d((2, 3), 2, dilation=(3, 1), ceil_mode=True) on 8x7: 3 by 3.
        DilatedCeil: Pool2dSpec { h_out: 3, w_out: 3, dh: 3, dw: 1, ..simple(1, 8, 7, (2, 3), (2, 2)) };
        // AvgPool2d(3, 2, padding=1, divisor_override=5) on 5x6: 3x3.
        Override: Pool2dSpec { ph: 1, pw: 1, h_out: 3, w_out: 3, divisor_override: 5, ..simple(2, 5, 6, (3, 3), (2, 2)) };
    }

    fn check<G: Pool2dGeom>(n: usize) {
        let spec = G::SPEC;
        assert!(spec.is_valid(), "{spec:?}");
        // Coarse values so that windows hold ties.
        let input: Vec<f32> = reference::values(n * spec.in_len(), 7).iter().map(|v| (v * 4.0).round()).collect();
        let (want, want_at) = reference::pool2d(&spec, n, &input, true);
        let want: Vec<f32> = want.iter().map(|v| *v as f32).collect();
        let mut out = vec![f32::NAN; n * spec.out_len()];
        max_pool2d_forward::<G>(n, &input, &mut out);
        assert_eq!(out, want, "{spec:?} n={n}");
        let mut out = vec![f32::NAN; n * spec.out_len()];
        let mut at = vec![u32::MAX; n * spec.out_len()];
        max_pool2d_forward_argmax::<G>(n, &input, &mut out, &mut at);
        assert_eq!(out, want);
        assert_eq!(at, want_at, "{spec:?} n={n}");
        if spec.is_dilated() {
            // Average pooling has no dilation (nor has PyTorch's).
            return;
        }

        let input = reference::values(n * spec.in_len(), 8);
        let (want, _) = reference::pool2d(&spec, n, &input, false);
        let mut out = vec![f32::NAN; n * spec.out_len()];
        avg_pool2d_forward::<G>(n, &input, &mut out);
        reference::assert_close("avg", &out, &want);
        // The backward pass is the adjoint: <avg(x), g> == <x, avg_backward(g)>.
        let g = reference::values(n * spec.out_len(), 9);
        for accumulate in [false, true] {
            let mut back = vec![if accumulate { 0.5 } else { f32::NAN }; n * spec.in_len()];
            avg_pool2d_backward::<G>(n, &g, &mut back, accumulate);
            let lhs: f64 = out.iter().zip(&g).map(|(a, b)| *a as f64 * *b as f64).sum();
            let rhs: f64 = input
                .iter()
                .zip(&back)
                .map(|(a, b)| *a as f64 * (*b as f64 - if accumulate { 0.5 } else { 0.0 }))
                .sum();
            assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()), "{spec:?}: {lhs} vs {rhs}");
        }
    }

    #[test]
    fn matches_naive_loop_over_swept_geometries() {
        for n in [1, 2, 3] {
            for check in ALL {
                check(n);
            }
        }
    }

    #[test]
    fn backward_routes_to_the_first_maximum_and_adds_overlaps() {
        // One 1x3x3 plane, window 2, stride 1: the centre 9 is every window's maximum.
        let input = [1.0, 2.0, 3.0, 4.0, 9.0, 9.0, 7.0, 8.0, 9.0];
        let mut out = [0.0; 4];
        let mut at = [0u32; 4];
        max_pool2d_forward_argmax::<Overlap1>(1, &input, &mut out, &mut at);
        assert_eq!(out, [9.0; 4]);
        assert_eq!(at, [4, 4, 4, 4], "ties go to the first maximum in window order");
        let mut grad = [f32::NAN; 9];
        max_pool2d_backward::<Overlap1>(1, &[1.0, 2.0, 3.0, 4.0], &at, &mut grad, false);
        assert_eq!(grad, [0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0]);
        max_pool2d_backward::<Overlap1>(1, &[1.0, 2.0, 3.0, 4.0], &at, &mut grad, true);
        assert_eq!(grad[4], 20.0);
    }

    /// The AVX-512 row kernel gives the portable loop's bits, NaNs and signed zeros included,
    /// over widths with and without a tail.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_rows_match_the_portable_loop() {
        if crate::isa::isa() != crate::isa::Isa::Avx512 {
            return;
        }
        let pick = [0.0, -0.0, 1.0, 2.0, f32::NAN, -3.0];
        for wo in 1..=40 {
            let values: Vec<f32> = reference::values(4 * wo, wo as u64)
                .iter()
                .map(|v| pick[((v.abs() * 97.0) as usize) % pick.len()])
                .collect();
            let (top, bottom) = values.split_at(2 * wo);
            let (mut want, mut want_at) = (vec![7.0; wo], vec![7u32; wo]);
            halve_row::<true>(top, bottom, &mut want, &mut want_at, 10, 2 * wo as u32 + 1);
            let (mut got, mut got_at) = (vec![7.0; wo], vec![7u32; wo]);
            // SAFETY: AVX-512F was detected above.
            unsafe { x86::halve_row::<true>(top, bottom, &mut got, &mut got_at, 10, 2 * wo as u32 + 1) };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!((bits(&got), &got_at), (bits(&want), &want_at), "width {wo}");
        }
    }

    struct Overlap1;
    impl Pool2dGeom for Overlap1 {
        const SPEC: Pool2dSpec = Pool2dSpec::simple(1, 3, 3, (2, 2), (1, 1));
    }

    #[test]
    fn nan_propagates() {
        let mut input = vec![1.0; 6 * 28 * 28];
        input[1] = f32::NAN;
        let mut out = vec![0.0; 6 * 14 * 14];
        max_pool2d_forward::<Halve>(1, &input, &mut out);
        assert!(out[0].is_nan());
        assert_eq!(out[1], 1.0);
        // The argmax points at the first NaN of a window, after a larger number too; a tie of
        // -0 and +0 keeps the first.
        let mut input = vec![0.0f32; 2 * 5 * 39];
        input[1] = 5.0;
        input[39] = f32::NAN;
        input[40] = f32::NAN;
        input[2] = -0.0;
        input[3] = 0.0;
        let (mut out, mut at) = (vec![1.0; 2 * 2 * 19], vec![0u32; 2 * 2 * 19]);
        max_pool2d_forward_argmax::<HalveWide>(1, &input, &mut out, &mut at);
        assert!(out[0].is_nan());
        assert_eq!((at[0], at[1]), (39, 2));
        assert!(out[1].is_sign_negative());
    }
}

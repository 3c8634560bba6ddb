//! Direct convolution for stride-1, undilated, ungrouped layers with a kernel larger than 1x1:
//! no im2col matrix and no packing of the image. Each sample's input is copied once into a
//! zero-bordered buffer; then a register-blocked AVX-512 kernel accumulates, for 8 output
//! channels and 32 output pixels (one row, or two rows of 16 for narrow maps) at a time, every
//! input channel and kernel tap: two vector loads of input and eight weight broadcasts feed
//! sixteen FMAs, the ratio of a GEMM micro-kernel, with the input read as it lies.
//!
//! Used where AVX-512F is present; elsewhere the im2col path runs.

use crate::geom::Conv2dSpec;

/// Output channels a kernel call computes.
const CO: usize = 8;
/// Lanes of a vector.
const L: usize = 16;

/// Whether the direct kernel takes this layer.
pub(crate) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.groups == 1 && spec.sh == 1 && spec.sw == 1 && spec.dh == 1 && spec.dw == 1 && spec.kh * spec.kw > 1
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

/// Convolves `n` samples into `output` (overwritten), without bias or activation. Returns
/// `false`, touching nothing, where the CPU lacks AVX-512F.
pub(crate) fn forward(spec: &Conv2dSpec, n: usize, input: &[f32], weight: &[f32], output: &mut [f32], scratch: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::simd() == crate::simd::Simd::Avx512 {
            run(spec, n, input, weight, output, scratch);
            return true;
        }
    }
    let _ = (spec, n, input, weight, output, scratch);
    false
}

#[cfg(target_arch = "x86_64")]
fn run(spec: &Conv2dSpec, n: usize, input: &[f32], weight: &[f32], output: &mut [f32], scratch: &mut [f32]) {
    let (rows, stride) = buffer_shape(spec);
    let (r, v) = blocking(spec);
    let (h, w, ho, wo) = (spec.h_in, spec.w_in, spec.h_out(), spec.w_out());
    let taps = spec.c_in * spec.kh * spec.kw;
    let plane = rows * stride;
    let (buf, packed) = scratch.split_at_mut(spec.c_in * plane);
    let packed = &mut packed[..spec.c_out.next_multiple_of(CO) * taps];
    // Weights as [co block][ci, i, j][8 output channels], zero past c_out.
    for (b, block) in packed.chunks_exact_mut(CO * taps).enumerate() {
        for t in 0..taps {
            for c in 0..CO {
                let co = b * CO + c;
                block[t * CO + c] = if co < spec.c_out { weight[co * taps + t] } else { 0.0 };
            }
        }
    }
    buf.fill(0.0);
    let mut tile = [0.0f32; CO * 2 * L];
    for s in 0..n {
        // The sample, placed inside its zero border (the border stays zero from sample to sample).
        for c in 0..spec.c_in {
            for y in 0..h {
                let src = &input[s * spec.in_len() + (c * h + y) * w..][..w];
                buf[c * plane + (y + spec.ph) * stride + spec.pw..][..w].copy_from_slice(src);
            }
        }
        let out = &mut output[s * spec.out_len()..(s + 1) * spec.out_len()];
        for (b, block) in packed.chunks_exact(CO * taps).enumerate() {
            let co0 = b * CO;
            let cos = CO.min(spec.c_out - co0);
            for oh0 in (0..ho).step_by(r) {
                for ow0 in (0..wo).step_by(v * L) {
                    let at = oh0 * stride + ow0;
                    // SAFETY: AVX-512F was detected by the caller; the kernel reads rows
                    // oh0..oh0+r+kh-1 and columns ow0..ow0+v·16+kw-1 of every channel's plane, all
                    // inside `buf` by `buffer_shape`, and `CO·taps` packed weights of `block`.
                    unsafe {
                        let x = buf.as_ptr().add(at);
                        if (r, v) == (1, 2) {
                            kernel::<1, 2>(x, plane, stride, spec.c_in, spec.kh, spec.kw, block.as_ptr(), &mut tile);
                        } else {
                            kernel::<2, 1>(x, plane, stride, spec.c_in, spec.kh, spec.kw, block.as_ptr(), &mut tile);
                        }
                    }
                    let lanes = (v * L).min(wo - ow0);
                    for c in 0..cos {
                        for y in 0..r.min(ho - oh0) {
                            let src = &tile[(c * r + y) * v * L..][..lanes];
                            out[((co0 + c) * ho + oh0 + y) * wo + ow0..][..lanes].copy_from_slice(src);
                        }
                    }
                }
            }
        }
    }
}

/// One block of `CO` output channels by `R` rows of `V` vectors of output pixels, written to
/// `tile` as `[CO][R][V·16]`.
///
/// # Safety
/// The CPU must have AVX-512F; `x` must have `c_in` planes `plane` apart, each with `R + kh - 1`
/// rows `stride` apart of `V·16 + kw - 1` readable values; `w` must hold `c_in·kh·kw·CO` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const R: usize, const V: usize>(
    x: *const f32,
    plane: usize,
    stride: usize,
    c_in: usize,
    kh: usize,
    kw: usize,
    w: *const f32,
    tile: &mut [f32; CO * 2 * L],
) {
    use std::arch::x86_64::*;
    let mut acc = [[[_mm512_setzero_ps(); V]; R]; CO];
    let mut wp = w;
    for c in 0..c_in {
        // SAFETY (all pointer arithmetic below): within the bounds the caller vouches for.
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
                unsafe { _mm512_storeu_ps(tile.as_mut_ptr().add(((o * R + y) * V + q) * L), *v) };
            }
        }
    }
}

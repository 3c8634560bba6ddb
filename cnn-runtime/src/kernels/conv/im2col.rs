//! Unfolding convolution windows into the columns of a matrix, so that a convolution becomes
//! one matrix product.

use crate::geom::Conv2dSpec;

/// Range `lo..hi` of output columns whose input column `o * stride + offset - pad` falls inside
/// `0..len`.
#[inline(always)]
pub(crate) fn valid_range(len: usize, out: usize, stride: usize, offset: usize, pad: usize) -> (usize, usize) {
    let lo = if pad > offset { (pad - offset).div_ceil(stride) } else { 0 };
    let hi = if len + pad > offset { ((len - 1 + pad - offset) / stride + 1).min(out) } else { 0 };
    (lo.min(hi), hi)
}

/// Copies `src` to `dst` (equal lengths) in fixed blocks of 8, which compile to a few vector
/// moves: the rows copied here are short, and a `memcpy` call per row costs more than the copy.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [f32], src: &[f32]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let s: &[f32; 8] = s.try_into().expect("8 elements");
        let d: &mut [f32; 8] = d.try_into().expect("8 elements");
        *d = *s;
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// Unfolds `n` NCHW samples into `col`, a `[c_in·kh·kw, n·h_out·w_out]` row-major matrix: row
/// `(c, i, j)` holds, for every sample and output pixel, the input value under kernel tap
/// `(i, j)` of channel `c`, or 0 where the tap falls in the padding.
///
/// # Panics
/// If `input` or `col` is shorter than `n` samples need.
#[track_caller]
#[inline]
pub fn im2col(spec: &Conv2dSpec, n: usize, input: &[f32], col: &mut [f32]) {
    let (h, w, ho, wo) = (spec.h_in, spec.w_in, spec.h_out(), spec.w_out());
    let (hw_in, hw_out) = (h * w, ho * wo);
    let in_len = spec.in_len();
    assert!(input.len() >= n * in_len, "im2col: input has {} elements, needs {n} x {in_len}", input.len());
    let cols = n * hw_out;
    assert!(
        col.len() >= spec.col_rows() * cols,
        "im2col: col has {} elements, needs {} x {cols}",
        col.len(),
        spec.col_rows()
    );
    for c in 0..spec.c_in {
        for ki in 0..spec.kh {
            let (oh_lo, oh_hi) = valid_range(h, ho, spec.sh, ki * spec.dh, spec.ph);
            for kj in 0..spec.kw {
                let (ow_lo, ow_hi) = valid_range(w, wo, spec.sw, kj * spec.dw, spec.pw);
                let row = (c * spec.kh + ki) * spec.kw + kj;
                let row = &mut col[row * cols..(row + 1) * cols];
                for s in 0..n {
                    let plane = &input[s * in_len + c * hw_in..s * in_len + (c + 1) * hw_in];
                    let dst = &mut row[s * hw_out..(s + 1) * hw_out];
                    dst[..oh_lo * wo].fill(0.0);
                    dst[oh_hi * wo..].fill(0.0);
                    for oh in oh_lo..oh_hi {
                        let ih = oh * spec.sh + ki * spec.dh - spec.ph;
                        let d = &mut dst[oh * wo..(oh + 1) * wo];
                        d[..ow_lo].fill(0.0);
                        d[ow_hi..].fill(0.0);
                        if ow_lo < ow_hi {
                            let iw0 = ow_lo * spec.sw + kj * spec.dw - spec.pw;
                            let src = &plane[ih * w + iw0..];
                            let d = &mut d[ow_lo..ow_hi];
                            if spec.sw == 1 {
                                copy_short(d, &src[..d.len()]);
                            } else {
                                for (x, v) in d.iter_mut().zip(src.iter().step_by(spec.sw)) {
                                    *x = *v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each entry of `col` (laid out as [`im2col`] writes it) into
/// the input position it was read from, so `grad_input = col2im(grad_col)`. Entries that fell
/// in the padding are dropped. `input` is overwritten, or added to when `accumulate`.
///
/// # Panics
/// If `col` or `input` is shorter than `n` samples need.
#[track_caller]
#[inline]
pub fn col2im(spec: &Conv2dSpec, n: usize, col: &[f32], input: &mut [f32], accumulate: bool) {
    let (h, w, ho, wo) = (spec.h_in, spec.w_in, spec.h_out(), spec.w_out());
    let (hw_in, hw_out) = (h * w, ho * wo);
    let in_len = spec.in_len();
    assert!(input.len() >= n * in_len, "col2im: input has {} elements, needs {n} x {in_len}", input.len());
    let cols = n * hw_out;
    assert!(
        col.len() >= spec.col_rows() * cols,
        "col2im: col has {} elements, needs {} x {cols}",
        col.len(),
        spec.col_rows()
    );
    if !accumulate {
        input[..n * in_len].fill(0.0);
    }
    for c in 0..spec.c_in {
        for ki in 0..spec.kh {
            let (oh_lo, oh_hi) = valid_range(h, ho, spec.sh, ki * spec.dh, spec.ph);
            for kj in 0..spec.kw {
                let (ow_lo, ow_hi) = valid_range(w, wo, spec.sw, kj * spec.dw, spec.pw);
                if ow_lo >= ow_hi {
                    continue;
                }
                let row = (c * spec.kh + ki) * spec.kw + kj;
                let row = &col[row * cols..(row + 1) * cols];
                for s in 0..n {
                    let plane = &mut input[s * in_len + c * hw_in..s * in_len + (c + 1) * hw_in];
                    let src = &row[s * hw_out..(s + 1) * hw_out];
                    for oh in oh_lo..oh_hi {
                        let ih = oh * spec.sh + ki * spec.dh - spec.ph;
                        let iw0 = ow_lo * spec.sw + kj * spec.dw - spec.pw;
                        let dst = &mut plane[ih * w + iw0..];
                        let src = &src[oh * wo + ow_lo..oh * wo + ow_hi];
                        if spec.sw == 1 {
                            dst[..src.len()].iter_mut().zip(src).for_each(|(d, v)| *d += v);
                        } else {
                            for (d, v) in dst.iter_mut().step_by(spec.sw).zip(src) {
                                *d += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::values;

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> == <x, col2im(y)> for every geometry: the defining property of the
        // backward pass.
        let specs = [
            Conv2dSpec::simple(2, 1, 7, 9, (3, 3), (1, 1), (1, 1)),
            Conv2dSpec::simple(3, 1, 8, 13, (3, 5), (2, 1), (1, 2)),
            Conv2dSpec::simple(1, 1, 10, 10, (2, 2), (3, 3), (0, 0)),
            Conv2dSpec::simple(1, 1, 2, 2, (3, 3), (1, 2), (2, 2)),
            // Dilation, asymmetric ('same') padding.
            Conv2dSpec { dh: 2, dw: 3, ph_end: 3, pw_end: 2, ..Conv2dSpec::simple(2, 1, 7, 8, (3, 2), (1, 1), (2, 1)) },
        ];
        for spec in specs {
            for n in [1, 3] {
                let x = values(n * spec.in_len(), 1);
                let y = values(n * spec.col_len(), 2);
                let mut col = vec![0.0; n * spec.col_len()];
                im2col(&spec, n, &x, &mut col);
                let mut back = vec![f32::NAN; n * spec.in_len()];
                col2im(&spec, n, &y, &mut back, false);
                let lhs: f64 = col.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
                let rhs: f64 = x.iter().zip(&back).map(|(a, b)| *a as f64 * *b as f64).sum();
                assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()), "{spec:?}: {lhs} vs {rhs}");
            }
        }
    }

    #[test]
    fn valid_range_matches_brute_force() {
        for len in 1..7 {
            for stride in 1..4 {
                for pad in 0..4 {
                    for k in 1..=len + 2 * pad {
                        let out = (len + 2 * pad - k) / stride + 1;
                        for offset in 0..k {
                            let ok: Vec<usize> = (0..out)
                                .filter(|&o| {
                                    let i = (o * stride + offset) as isize - pad as isize;
                                    i >= 0 && (i as usize) < len
                                })
                                .collect();
                            let (lo, hi) = valid_range(len, out, stride, offset, pad);
                            let got: Vec<usize> = (lo..hi).collect();
                            assert_eq!(got, ok, "len {len} stride {stride} pad {pad} offset {offset}");
                        }
                    }
                }
            }
        }
    }
}

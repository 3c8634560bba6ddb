//! Naive loops, written straight from PyTorch's definitions, that the kernels are tested against.

use crate::geom::{Conv2dSpec, LinearSpec, Pool2dSpec};

/// Deterministic pseudo-random values in [-1, 1).
pub fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Every kernel tap of a convolution: `(sample, c_out, oh, ow, c_in, i, j, input index, weight
/// index, output index)` for the taps that fall inside the input, straight from `nn.Conv2d`'s
/// definition (groups, dilation, padding before and after).
fn conv_taps(spec: &Conv2dSpec, n: usize, mut f: impl FnMut(usize, usize, usize)) {
    let (ho, wo) = (spec.h_out(), spec.w_out());
    let (cig, cog) = (spec.c_in / spec.groups, spec.c_out / spec.groups);
    for s in 0..n {
        for co in 0..spec.c_out {
            let g = co / cog;
            for oh in 0..ho {
                for ow in 0..wo {
                    let yi = s * spec.out_len() + (co * ho + oh) * wo + ow;
                    for cl in 0..cig {
                        let ci = g * cig + cl;
                        for i in 0..spec.kh {
                            for j in 0..spec.kw {
                                let ih = (oh * spec.sh + i * spec.dh) as isize - spec.ph as isize;
                                let iw = (ow * spec.sw + j * spec.dw) as isize - spec.pw as isize;
                                if ih < 0 || iw < 0 || ih >= spec.h_in as isize || iw >= spec.w_in as isize {
                                    continue;
                                }
                                let xi = s * spec.in_len() + (ci * spec.h_in + ih as usize) * spec.w_in + iw as usize;
                                let wi = ((co * cig + cl) * spec.kh + i) * spec.kw + j;
                                f(xi, wi, yi);
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn conv2d(spec: &Conv2dSpec, n: usize, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
    let mut out: Vec<f64> =
        (0..n * spec.out_len()).map(|i| b[i / (spec.h_out() * spec.w_out()) % spec.c_out] as f64).collect();
    conv_taps(spec, n, |xi, wi, yi| out[yi] += x[xi] as f64 * w[wi] as f64);
    out
}

/// `nn.MaxPool2d` / `nn.AvgPool2d` / the adaptive pools from their definitions: the maximum
/// (first in window order, NaN winning) with its plane index, or the mean.
pub fn pool2d(spec: &Pool2dSpec, n: usize, x: &[f32], max: bool) -> (Vec<f64>, Vec<u32>) {
    let (ho, wo) = (spec.h_out, spec.w_out);
    let mut out = Vec::new();
    let mut at = Vec::new();
    // Per axis: the input indices of output cell o, and the divisor's share with padding.
    let cells = |len: usize, out: usize, k: usize, s: usize, p: usize, d: usize, o: usize| -> (Vec<usize>, usize) {
        if spec.adaptive {
            let (lo, hi) = (o * len / out, ((o + 1) * len).div_ceil(out));
            return ((lo..hi).collect(), hi - lo);
        }
        // Taps start + j·d; a window of the average pool (d = 1) is cut at the padded end.
        let start = (o * s) as isize - p as isize;
        let end = (start + k as isize).min((len + p) as isize);
        let idx = (0..k as isize)
            .map(|j| start + j * d as isize)
            .filter(|&i| i >= 0 && (i as usize) < len)
            .map(|i| i as usize)
            .collect();
        (idx, (end - start) as usize)
    };
    for p in 0..n * spec.c {
        for oh in 0..ho {
            let (rows, pr) = cells(spec.h_in, ho, spec.kh, spec.sh, spec.ph, spec.dh, oh);
            for ow in 0..wo {
                let (cols, pc) = cells(spec.w_in, wo, spec.kw, spec.sw, spec.pw, spec.dw, ow);
                let mut best = (f64::NEG_INFINITY, u32::MAX);
                let mut sum = 0.0;
                for &h in &rows {
                    for &w in &cols {
                        let v = x[p * spec.h_in * spec.w_in + h * spec.w_in + w] as f64;
                        sum += v;
                        if best.1 == u32::MAX || v > best.0 || (v.is_nan() && !best.0.is_nan()) {
                            best = (v, (h * spec.w_in + w) as u32);
                        }
                    }
                }
                let count = if spec.divisor_override != 0 && !spec.adaptive {
                    spec.divisor_override
                } else if spec.count_include_pad && !spec.adaptive {
                    pr * pc
                } else {
                    rows.len() * cols.len()
                };
                out.push(if max { best.0 } else { sum / count as f64 });
                at.push(best.1);
            }
        }
    }
    (out, at)
}

pub fn linear(spec: &LinearSpec, n: usize, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
    let (fi, fo) = (spec.in_features, spec.out_features);
    let mut out = vec![0.0; n * fo];
    for s in 0..n {
        for o in 0..fo {
            out[s * fo + o] = b[o] as f64 + (0..fi).map(|i| x[s * fi + i] as f64 * w[o * fi + i] as f64).sum::<f64>();
        }
    }
    out
}

/// Gradients `(dx, dw, db)` of [`conv2d`] given the output gradient `dy`.
pub fn conv2d_grads(spec: &Conv2dSpec, n: usize, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0; n * spec.in_len()];
    let mut dw = vec![0.0; spec.weight_len()];
    let mut db = vec![0.0; spec.c_out];
    for (i, g) in dy.iter().enumerate().take(n * spec.out_len()) {
        db[i / (spec.h_out() * spec.w_out()) % spec.c_out] += *g as f64;
    }
    conv_taps(spec, n, |xi, wi, yi| {
        dw[wi] += dy[yi] as f64 * x[xi] as f64;
        dx[xi] += dy[yi] as f64 * w[wi] as f64;
    });
    (dx, dw, db)
}

/// Gradients `(dx, dw, db)` of [`linear`] given the output gradient `dy`.
pub fn linear_grads(spec: &LinearSpec, n: usize, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (fi, fo) = (spec.in_features, spec.out_features);
    let mut dx = vec![0.0; n * fi];
    let mut dw = vec![0.0; fo * fi];
    let mut db = vec![0.0; fo];
    for s in 0..n {
        for o in 0..fo {
            let g = dy[s * fo + o] as f64;
            db[o] += g;
            for i in 0..fi {
                dw[o * fi + i] += g * x[s * fi + i] as f64;
                dx[s * fi + i] += g * w[o * fi + i] as f64;
            }
        }
    }
    (dx, dw, db)
}

/// Asserts `got` matches `want` within `1e-4` relative to the larger of 1 and the largest
/// reference magnitude (f32 sums of a few hundred terms against f64 ones).
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= 1e-4 * scale, "{what}[{i}]: {g} vs {w}");
    }
}

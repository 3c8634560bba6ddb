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

pub fn conv2d(spec: &Conv2dSpec, n: usize, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
    let (ho, wo) = (spec.h_out(), spec.w_out());
    let mut out = vec![0.0; n * spec.out_len()];
    for s in 0..n {
        for co in 0..spec.c_out {
            for oh in 0..ho {
                for ow in 0..wo {
                    let mut acc = b[co] as f64;
                    for ci in 0..spec.c_in {
                        for i in 0..spec.kh {
                            for j in 0..spec.kw {
                                let ih = (oh * spec.sh + i) as isize - spec.ph as isize;
                                let iw = (ow * spec.sw + j) as isize - spec.pw as isize;
                                if ih < 0 || iw < 0 || ih >= spec.h_in as isize || iw >= spec.w_in as isize {
                                    continue;
                                }
                                let xv = x[s * spec.in_len() + (ci * spec.h_in + ih as usize) * spec.w_in + iw as usize];
                                let wv = w[((co * spec.c_in + ci) * spec.kh + i) * spec.kw + j];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    out[s * spec.out_len() + (co * ho + oh) * wo + ow] = acc;
                }
            }
        }
    }
    out
}

pub fn max_pool2d(spec: &Pool2dSpec, n: usize, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let (ho, wo) = (spec.h_out(), spec.w_out());
    let mut out = Vec::new();
    let mut at = Vec::new();
    for p in 0..n * spec.c {
        for oh in 0..ho {
            for ow in 0..wo {
                let mut best = (f32::NEG_INFINITY, 0u32);
                let mut first = true;
                for i in 0..spec.kh {
                    for j in 0..spec.kw {
                        let (h, w) = (oh * spec.sh + i, ow * spec.sw + j);
                        let v = x[p * spec.h_in * spec.w_in + h * spec.w_in + w];
                        if first || v > best.0 {
                            best = (v, (h * spec.w_in + w) as u32);
                            first = false;
                        }
                    }
                }
                out.push(best.0);
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
    let (ho, wo) = (spec.h_out(), spec.w_out());
    let mut dx = vec![0.0; n * spec.in_len()];
    let mut dw = vec![0.0; spec.weight_len()];
    let mut db = vec![0.0; spec.c_out];
    for s in 0..n {
        for co in 0..spec.c_out {
            for oh in 0..ho {
                for ow in 0..wo {
                    let g = dy[s * spec.out_len() + (co * ho + oh) * wo + ow] as f64;
                    db[co] += g;
                    for ci in 0..spec.c_in {
                        for i in 0..spec.kh {
                            for j in 0..spec.kw {
                                let ih = (oh * spec.sh + i) as isize - spec.ph as isize;
                                let iw = (ow * spec.sw + j) as isize - spec.pw as isize;
                                if ih < 0 || iw < 0 || ih >= spec.h_in as isize || iw >= spec.w_in as isize {
                                    continue;
                                }
                                let xi = s * spec.in_len() + (ci * spec.h_in + ih as usize) * spec.w_in + iw as usize;
                                let wi = ((co * spec.c_in + ci) * spec.kh + i) * spec.kw + j;
                                dw[wi] += g * x[xi] as f64;
                                dx[xi] += g * w[wi] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
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

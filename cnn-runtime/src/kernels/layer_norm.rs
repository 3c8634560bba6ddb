//! Layer normalization over the channels of each position: `nn.LayerNorm(C)` on a flat value or
//! a channels-last one (`[H, W, C]`, channels contiguous), and torchvision's `LayerNorm2d` on
//! `[C, H, W]` (channels `H·W` apart). One kernel serves both: a sample is `outer` groups of `c`
//! channels `inner` elements apart, each of the `outer · inner` positions normalized on its own.
//! Means and variances are summed in `f64`, in a fixed order of lanes ([`lane_sums`]), so results
//! do not depend on threads or on the instruction set the loops are compiled for.

use crate::isa::isa;
use crate::kernels::conv::check_len;
use crate::kernels::dot::{lane_sums, lane_sums_by};
use crate::vector::{isa_entry, Vector};

/// The shape of one sample for [`layer_norm_forward`]: `outer` groups of `c` channels, each
/// channel `inner` elements after the previous one.
#[derive(Clone, Copy, Debug)]
pub struct LayerNormShape {
    pub outer: usize,
    pub c: usize,
    pub inner: usize,
}

impl LayerNormShape {
    fn len(&self) -> usize {
        self.outer * self.c * self.inner
    }

    /// Calls `f(base)` for each position of `n` samples; channel `k` of the position is at
    /// `base + k * inner`.
    #[inline(always)]
    fn positions(&self, n: usize, mut f: impl FnMut(usize)) {
        for o in 0..n * self.outer {
            for i in 0..self.inner {
                f(o * self.c * self.inner + i);
            }
        }
    }

    /// Mean and `1 / sqrt(var + eps)` of the position at `base` (biased variance, as PyTorch).
    #[inline(always)]
    fn stats(&self, x: &[f32], base: usize, eps: f32) -> (f32, f32) {
        let mean;
        let var;
        if self.inner == 1 {
            // Channels-last: the position's channels are one slice.
            let xs = &x[base..base + self.c];
            mean = lane_sums(xs, xs, |v, _| (v as f64, 0.0)).0 / self.c as f64;
            var = lane_sums(xs, xs, |v, _| ((v as f64 - mean).powi(2), 0.0)).0 / self.c as f64;
        } else {
            let at = |k: usize| x[base + k * self.inner] as f64;
            mean = lane_sums_by(self.c, |k| (at(k), 0.0)).0 / self.c as f64;
            var = lane_sums_by(self.c, |k| ((at(k) - mean).powi(2), 0.0)).0 / self.c as f64;
        }
        (mean as f32, (1.0 / (var + eps as f64).sqrt()) as f32)
    }
}

/// `y = (x - mean) / sqrt(var + eps) * weight + bias` at every position of `n` samples.
///
/// # Panics
/// If a slice is shorter than the shape and `n` need.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_forward(
    n: usize,
    shape: LayerNormShape,
    eps: f32,
    x: &[f32],
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    check_len("input", x.len(), n * shape.len());
    check_len("output", y.len(), n * shape.len());
    weight.inspect(|w| check_len("weight", w.len(), shape.c));
    bias.inspect(|b| check_len("bias", b.len(), shape.c));
    // SAFETY: `isa()` is an instruction set this CPU has.
    unsafe { forward_on(isa(), n, shape, eps, x, weight, bias, y) }
}

/// # Safety
/// The CPU must have `V`'s instruction set (the loops are compiled for it; `V` itself is not
/// used: the compiler vectorizes them).
#[inline(always)]
unsafe fn forward<V: Vector>(
    n: usize,
    shape: LayerNormShape,
    eps: f32,
    x: &[f32],
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let c = shape.c;
    shape.positions(n, |base| {
        let (mean, rstd) = shape.stats(x, base, eps);
        for k in 0..c {
            let at = base + k * shape.inner;
            let mut v = (x[at] - mean) * rstd;
            if let Some(w) = weight {
                v *= w[k];
            }
            if let Some(b) = bias {
                v += b[k];
            }
            y[at] = v;
        }
    });
}

/// The gradients of [`layer_norm_forward`]: the input's is written (or added, with its flag) to
/// `grad_input`, the weight's and bias's added to theirs. The statistics are computed again
/// from `x`, so training keeps only the input.
///
/// # Panics
/// If a slice is shorter than the shape and `n` need.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward(
    n: usize,
    shape: LayerNormShape,
    eps: f32,
    x: &[f32],
    weight: Option<&[f32]>,
    dy: &[f32],
    grad_input: Option<(&mut [f32], bool)>,
    grad_weight: Option<&mut [f32]>,
    grad_bias: Option<&mut [f32]>,
) {
    check_len("input", x.len(), n * shape.len());
    check_len("grad_output", dy.len(), n * shape.len());
    // SAFETY: `isa()` is an instruction set this CPU has.
    unsafe { backward_on(isa(), n, shape, eps, x, weight, dy, grad_input, grad_weight, grad_bias) }
}

/// # Safety
/// The CPU must have `V`'s instruction set (the loops are compiled for it; `V` itself is not
/// used: the compiler vectorizes them).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn backward<V: Vector>(
    n: usize,
    shape: LayerNormShape,
    eps: f32,
    x: &[f32],
    weight: Option<&[f32]>,
    dy: &[f32],
    mut grad_input: Option<(&mut [f32], bool)>,
    mut grad_weight: Option<&mut [f32]>,
    mut grad_bias: Option<&mut [f32]>,
) {
    let (c, inner) = (shape.c, shape.inner);
    shape.positions(n, |base| {
        let (mean, rstd) = shape.stats(x, base, eps);
        let xhat = |k: usize| (x[base + k * inner] - mean) * rstd;
        let g = |k: usize| dy[base + k * inner] * weight.map_or(1.0, |w| w[k]);
        if let Some(gw) = grad_weight.as_deref_mut() {
            (0..c).for_each(|k| gw[k] += dy[base + k * inner] * xhat(k));
        }
        if let Some(gb) = grad_bias.as_deref_mut() {
            (0..c).for_each(|k| gb[k] += dy[base + k * inner]);
        }
        if let Some((dx, accumulate)) = grad_input.as_mut() {
            let (sum_g, sum_gx) = lane_sums_by(c, |k| (g(k) as f64, (g(k) * xhat(k)) as f64));
            let (mean_g, mean_gx) = (sum_g / c as f64, sum_gx / c as f64);
            for k in 0..c {
                let v = rstd * (g(k) - mean_g as f32 - xhat(k) * mean_gx as f32);
                let at = base + k * inner;
                if *accumulate {
                    dx[at] += v;
                } else {
                    dx[at] = v;
                }
            }
        }
    });
}

isa_entry! {
    /// [`forward`] compiled for `isa`.
    unsafe fn forward_on(
        n: usize,
        shape: LayerNormShape,
        eps: f32,
        x: &[f32],
        weight: Option<&[f32]>,
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) => forward;
}

isa_entry! {
    /// [`backward`] compiled for `isa`.
    unsafe fn backward_on(
        n: usize,
        shape: LayerNormShape,
        eps: f32,
        x: &[f32],
        weight: Option<&[f32]>,
        dy: &[f32],
        grad_input: Option<(&mut [f32], bool)>,
        grad_weight: Option<&mut [f32]>,
        grad_bias: Option<&mut [f32]>,
    ) => backward;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Layer norm in f64, position by position.
    fn naive(shape: LayerNormShape, n: usize, x: &[f32], w: &[f32], b: &[f32], eps: f64) -> Vec<f64> {
        let mut y = vec![0.0; x.len()];
        for s in 0..n * shape.outer {
            for i in 0..shape.inner {
                let idx: Vec<usize> = (0..shape.c).map(|k| (s * shape.c + k) * shape.inner + i).collect();
                let mean = idx.iter().map(|&j| x[j] as f64).sum::<f64>() / shape.c as f64;
                let var = idx.iter().map(|&j| (x[j] as f64 - mean).powi(2)).sum::<f64>() / shape.c as f64;
                for (k, &j) in idx.iter().enumerate() {
                    y[j] = (x[j] as f64 - mean) / (var + eps).sqrt() * w[k] as f64 + b[k] as f64;
                }
            }
        }
        y
    }

    /// Forward and backward give the same bits on every path this CPU has.
    #[test]
    fn every_path_gives_the_same_bits() {
        for shape in [LayerNormShape { outer: 2, c: 21, inner: 1 }, LayerNormShape { outer: 1, c: 11, inner: 5 }] {
            let len = 2 * shape.len();
            let x: Vec<f32> = (0..len).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3).collect();
            let dy: Vec<f32> = (0..len).map(|i| ((i as f32) * 0.71).sin()).collect();
            let w: Vec<f32> = (0..shape.c).map(|k| 1.0 + 0.1 * k as f32).collect();
            let run = |isa: crate::Isa| {
                let (mut y, mut dx, mut gw) = (vec![0.0; len], vec![0.0; len], vec![0.0; shape.c]);
                let (gx, gw_) = (Some((&mut dx[..], false)), Some(&mut gw[..]));
                // SAFETY: only instruction sets this CPU supports.
                unsafe {
                    forward_on(isa, 2, shape, 1e-5, &x, Some(&w), None, &mut y);
                    backward_on(isa, 2, shape, 1e-5, &x, Some(&w), &dy, gx, gw_, None);
                }
                [y, dx, gw].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
            };
            let want = run(crate::Isa::Portable);
            for isa in crate::Isa::supported() {
                assert_eq!(run(isa), want, "{isa} {shape:?}");
            }
        }
    }

    #[test]
    fn matches_a_naive_loop_and_finite_differences() {
        for shape in [
            LayerNormShape { outer: 1, c: 5, inner: 1 },
            LayerNormShape { outer: 3, c: 4, inner: 1 },
            LayerNormShape { outer: 1, c: 3, inner: 7 },
        ] {
            let n = 2;
            let len = n * shape.len();
            let x: Vec<f32> = (0..len).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3).collect();
            let w: Vec<f32> = (0..shape.c).map(|k| 1.0 + 0.1 * k as f32).collect();
            let b: Vec<f32> = (0..shape.c).map(|k| 0.05 * k as f32 - 0.1).collect();
            let mut y = vec![0.0; len];
            layer_norm_forward(n, shape, 1e-5, &x, Some(&w), Some(&b), &mut y);
            let want = naive(shape, n, &x, &w, &b, 1e-5);
            for (g, w) in y.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-5, "{g} vs {w}");
            }
            // Loss = Σ r·y for fixed r: its gradient against central differences in f64.
            let r: Vec<f32> = (0..len).map(|i| ((i as f32) * 0.71).sin()).collect();
            let (mut dx, mut gw, mut gb) = (vec![0.0; len], vec![0.0; shape.c], vec![0.0; shape.c]);
            layer_norm_backward(n, shape, 1e-5, &x, Some(&w), &r, Some((&mut dx, false)), Some(&mut gw), Some(&mut gb));
            let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
                naive(shape, n, x, w, b, 1e-5).iter().zip(&r).map(|(y, r)| y * *r as f64).sum()
            };
            let h = 1e-3f32;
            for i in 0..len {
                let (mut up, mut down) = (x.clone(), x.clone());
                up[i] += h;
                down[i] -= h;
                let fd = (loss(&up, &w, &b) - loss(&down, &w, &b)) / (2.0 * h as f64);
                assert!((dx[i] as f64 - fd).abs() < 2e-3, "dx[{i}] {} vs {fd}", dx[i]);
            }
            for k in 0..shape.c {
                let (mut up, mut down) = (w.clone(), w.clone());
                up[k] += h;
                down[k] -= h;
                let fd = (loss(&x, &up, &b) - loss(&x, &down, &b)) / (2.0 * h as f64);
                assert!((gw[k] as f64 - fd).abs() < 2e-3, "dw[{k}] {} vs {fd}", gw[k]);
                let (mut up, mut down) = (b.clone(), b.clone());
                up[k] += h;
                down[k] -= h;
                let fd = (loss(&x, &w, &up) - loss(&x, &w, &down)) / (2.0 * h as f64);
                assert!((gb[k] as f64 - fd).abs() < 2e-3, "db[{k}] {} vs {fd}", gb[k]);
            }
        }
    }
}

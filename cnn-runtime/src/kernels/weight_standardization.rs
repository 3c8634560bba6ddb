//! Weight standardisation, timm's `ScaledStdConv2d` and `StdConv2d`: the layer convolves with
//! each output channel's weights standardized over their `fan_in` values,
//! `ŵ = (w - mean) / sqrt(var + eps) · gain · scale` (biased variance, as `F.batch_norm` in
//! training mode computes it; `gain` a learned `[out, 1, 1, 1]` tensor and `scale =
//! gamma / sqrt(fan_in)`, or neither for `StdConv2d`).
//!
//! The standardized weights are kept in the layer's [`PackSlot`] and so computed once per
//! change of the parameters, not once per call. The backward pass takes the convolution's
//! gradient with respect to `ŵ`, summed over the whole batch, and turns it into the gradients
//! of `w` and `gain` once ([`ws_backward`]): the map is linear in that gradient, so it need not
//! run per tile.

use super::conv::packed_weights::{PackKind, PackSlot};

/// Per output channel: the mean and `1 / sqrt(var + eps)` of its weights, in f64.
fn moments(w: &[f32], eps: f32) -> (f64, f64) {
    let n = w.len() as f64;
    let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = w.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean, 1.0 / (var + f64::from(eps)).sqrt())
}

/// `ŵ` of `weight` (`out` rows of `fan_in`), written to `dst`.
///
/// # Panics
/// If the lengths disagree with `out`.
pub fn standardize(out: usize, weight: &[f32], gain: Option<&[f32]>, scale: f32, eps: f32, dst: &mut [f32]) {
    assert!(out > 0 && weight.len().is_multiple_of(out), "weight of {} values for {out} output channels", weight.len());
    assert_eq!(dst.len(), weight.len(), "standardized weight length");
    let fan_in = weight.len() / out;
    for (o, (w, d)) in weight.chunks_exact(fan_in).zip(dst.chunks_exact_mut(fan_in)).enumerate() {
        let (mean, inv) = moments(w, eps);
        let a = gain.map_or(1.0, |g| f64::from(g[o]) * f64::from(scale));
        for (d, &v) in d.iter_mut().zip(w) {
            *d = ((f64::from(v) - mean) * inv * a) as f32;
        }
    }
}

/// The standardized weights of a layer, from its slot (computed there on the first call after
/// the parameters changed).
///
/// # Panics
/// If the lengths disagree with `out`.
pub fn ws_weight<'a>(
    cache: &'a PackSlot,
    out: usize,
    weight: &[f32],
    gain: Option<&[f32]>,
    scale: f32,
    eps: f32,
) -> &'a [f32] {
    cache
        .get_or_pack(PackKind::Derived, 0, weight.len(), |dst| standardize(out, weight, gain, scale, eps, dst))
        .expect("a layer's derived weights are always of its weight's length")
}

/// Turns `grad_weight`, the gradient with respect to the standardized weights, into the
/// gradient with respect to `weight` (in place), and writes `gain`'s to `grad_gain`: the
/// backward of a batch norm over each output channel's `fan_in` weights.
///
/// # Panics
/// If the lengths disagree with `out`, or `gain` and `grad_gain` are not both given or both not.
pub fn ws_backward(
    out: usize,
    weight: &[f32],
    gain: Option<&[f32]>,
    scale: f32,
    eps: f32,
    grad_weight: &mut [f32],
    mut grad_gain: Option<&mut [f32]>,
) {
    assert!(out > 0 && weight.len().is_multiple_of(out), "weight of {} values for {out} output channels", weight.len());
    assert_eq!(grad_weight.len(), weight.len(), "grad_weight length");
    assert_eq!(gain.is_some(), grad_gain.is_some(), "a gain and its gradient go together");
    let fan_in = weight.len() / out;
    let n = fan_in as f64;
    for (o, (w, g)) in weight.chunks_exact(fan_in).zip(grad_weight.chunks_exact_mut(fan_in)).enumerate() {
        let (mean, inv) = moments(w, eps);
        let a = gain.map_or(1.0, |gain| f64::from(gain[o]) * f64::from(scale));
        // d = dL/dx̂ = a · dL/dŵ, x̂ = (w - mean) · inv.
        let (mut sum_d, mut sum_dx, mut sum_gx) = (0.0f64, 0.0f64, 0.0f64);
        for (&v, &gv) in w.iter().zip(g.iter()) {
            let xh = (f64::from(v) - mean) * inv;
            let gv = f64::from(gv);
            sum_d += a * gv;
            sum_dx += a * gv * xh;
            sum_gx += gv * xh;
        }
        if let (Some(gg), Some(_)) = (grad_gain.as_deref_mut(), gain) {
            gg[o] = (f64::from(scale) * sum_gx) as f32;
        }
        let (mean_d, mean_dx) = (sum_d / n, sum_dx / n);
        for (&v, gv) in w.iter().zip(g.iter_mut()) {
            let xh = (f64::from(v) - mean) * inv;
            *gv = (inv * (a * f64::from(*gv) - mean_d - xh * mean_dx)) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ŵ` of one channel the slow way, in f64.
    fn naive(w: &[f64], gain: f64, scale: f64, eps: f64) -> Vec<f64> {
        let n = w.len() as f64;
        let mean = w.iter().sum::<f64>() / n;
        let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        w.iter().map(|v| (v - mean) / (var + eps).sqrt() * gain * scale).collect()
    }

    fn weights(out: usize, fan_in: usize) -> (Vec<f32>, Vec<f32>) {
        let w = (0..out * fan_in).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.05 + (i % 3) as f32 * 0.01).collect();
        let gain = (0..out).map(|o| 0.5 + o as f32 * 0.25).collect();
        (w, gain)
    }

    #[test]
    fn standardizes_each_output_channel_as_the_naive_formula() {
        for (out, fan_in) in [(1, 1), (1, 9), (3, 7), (8, 27)] {
            let (w, gain) = weights(out, fan_in);
            for (gain, scale, eps) in [(Some(&gain[..]), 0.3f32, 1e-5f32), (None, 1.0, 1e-8)] {
                let mut got = vec![0.0; w.len()];
                standardize(out, &w, gain, scale, eps, &mut got);
                for o in 0..out {
                    let row: Vec<f64> = w[o * fan_in..(o + 1) * fan_in].iter().map(|&v| f64::from(v)).collect();
                    let g = gain.map_or(1.0, |g| f64::from(g[o]) * f64::from(scale));
                    let want = naive(&row, g, 1.0, f64::from(eps));
                    for (a, b) in got[o * fan_in..(o + 1) * fan_in].iter().zip(&want) {
                        assert!((f64::from(*a) - b).abs() <= 1e-6 * (1.0 + b.abs()), "{out}x{fan_in}: {a} vs {b}");
                    }
                }
            }
        }
    }

    /// The gradients of `L = Σ c_i ŵ_i` against central finite differences in f64.
    #[test]
    fn gradients_match_finite_differences() {
        for (out, fan_in) in [(1, 2), (2, 9), (3, 5)] {
            let (w, gain) = weights(out, fan_in);
            let c: Vec<f32> = (0..w.len()).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.1).collect();
            for with_gain in [true, false] {
                let (scale, eps) = (if with_gain { 0.4f32 } else { 1.0 }, 1e-5f32);
                let g = with_gain.then_some(&gain[..]);
                let mut gw = c.clone();
                let mut gg = vec![0.0f32; out];
                ws_backward(out, &w, g, scale, eps, &mut gw, with_gain.then_some(&mut gg[..]));
                let loss = |w: &[f64], gain: &[f64]| -> f64 {
                    (0..out)
                        .flat_map(|o| {
                            let a = if with_gain { gain[o] * f64::from(scale) } else { 1.0 };
                            naive(&w[o * fan_in..(o + 1) * fan_in], a, 1.0, f64::from(eps))
                        })
                        .zip(&c)
                        .map(|(v, &c)| v * f64::from(c))
                        .sum()
                };
                let w64: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
                let g64: Vec<f64> = gain.iter().map(|&v| f64::from(v)).collect();
                let h = 1e-6;
                for i in 0..w.len() {
                    let (mut p, mut m) = (w64.clone(), w64.clone());
                    p[i] += h;
                    m[i] -= h;
                    let fd = (loss(&p, &g64) - loss(&m, &g64)) / (2.0 * h);
                    assert!((f64::from(gw[i]) - fd).abs() <= 1e-4 * (1.0 + fd.abs()), "w[{i}]: {} vs {fd}", gw[i]);
                }
                if with_gain {
                    for o in 0..out {
                        let (mut p, mut m) = (g64.clone(), g64.clone());
                        p[o] += h;
                        m[o] -= h;
                        let fd = (loss(&w64, &p) - loss(&w64, &m)) / (2.0 * h);
                        assert!(
                            (f64::from(gg[o]) - fd).abs() <= 1e-4 * (1.0 + fd.abs()),
                            "gain[{o}]: {} vs {fd}",
                            gg[o]
                        );
                    }
                }
            }
        }
    }
}

//! Group normalization (`nn.GroupNorm`) and instance normalization (`nn.InstanceNorm2d`, the
//! case of one channel a group). Each sample's channels fall into `groups` groups of
//! `c / groups` consecutive channels; a group of `[C, H, W]` (or of a flat `[C]`) is one
//! contiguous run, normalized by its own mean and biased variance, then scaled and shifted per
//! channel. Nothing spans the batch, so tiles of any size give the same bits.
//!
//! The one batch-wide quantity is instance norm's running statistics
//! (`track_running_stats=True`): in training each tile adds its samples' group means and
//! unbiased variances to a partial ([`group_norm_forward`]'s `moments`), the partials are
//! reduced in group order ([`group_norm_reduce`]) and the running values move by the momentum
//! (`batch_norm::update_running`), as PyTorch's `F.instance_norm` does through a batch norm of
//! the `N · C` instances. Sums are taken in `f64` in a fixed order of lanes ([`lane_sums`]), so
//! results do not depend on threads or on the instruction set.

use crate::isa::isa;
use crate::kernels::conv::check_len;
use crate::kernels::dot::lane_sums;
use crate::vector::{isa_entry, Vector};

/// One sample's layout for the group norm kernels: `c` channels of `plane` elements each,
/// normalized in `groups` groups of `c / groups` consecutive channels.
#[derive(Clone, Copy, Debug)]
pub struct GroupNormShape {
    pub c: usize,
    pub groups: usize,
    pub plane: usize,
}

impl GroupNormShape {
    fn len(&self) -> usize {
        self.c * self.plane
    }

    /// Elements of one group.
    fn group_len(&self) -> usize {
        self.c / self.groups * self.plane
    }

    #[track_caller]
    fn check(&self) {
        assert!(
            self.groups > 0 && self.c.is_multiple_of(self.groups) && self.plane > 0,
            "group norm: {} groups do not divide {} channels of {} elements",
            self.groups,
            self.c,
            self.plane
        );
    }

    /// Mean and biased variance of one group's elements.
    #[inline(always)]
    fn moments(xs: &[f32]) -> (f64, f64) {
        let (s, q) = lane_sums(xs, xs, |v, _| {
            let v = v as f64;
            (v, v * v)
        });
        let mean = s / xs.len() as f64;
        (mean, (q / xs.len() as f64 - mean * mean).max(0.0))
    }
}

/// `y = (x - mean) / sqrt(var + eps) · weight[k] + bias[k]` for every group of `n` samples,
/// computed as `(x - mean) · s + bias[k]` with `s = weight[k] / sqrt(var + eps)`: centring first
/// keeps the rounding at the scale of the deviations (`x · s + (bias - mean · s)` loses digits
/// when the mean is large against them, which small gradients downstream feel). With `moments` (`2 · groups` long), each group's mean is
/// added to `moments[g]` and its unbiased variance to `moments[groups + g]`: instance norm's
/// running statistics in training.
///
/// # Panics
/// If a slice is shorter than the shape and `n` need, or `groups` does not divide `c`.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn group_norm_forward(
    n: usize,
    shape: GroupNormShape,
    eps: f32,
    x: &[f32],
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    y: &mut [f32],
    moments: Option<&mut [f64]>,
) {
    shape.check();
    check_len("input", x.len(), n * shape.len());
    check_len("output", y.len(), n * shape.len());
    weight.inspect(|w| check_len("weight", w.len(), shape.c));
    bias.inspect(|b| check_len("bias", b.len(), shape.c));
    if let Some(m) = &moments {
        check_len("moments", m.len(), 2 * shape.groups);
    }
    // SAFETY: `isa()` is an instruction set this CPU has.
    unsafe { forward_on(isa(), n, shape, eps, x, weight, bias, y, moments) }
}

/// # Safety
/// The CPU must have `V`'s instruction set (the loops are compiled for it; `V` itself is not
/// used: the compiler vectorizes them).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn forward<V: Vector>(
    n: usize,
    shape: GroupNormShape,
    eps: f32,
    x: &[f32],
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    y: &mut [f32],
    mut moments: Option<&mut [f64]>,
) {
    let (len, per_group, plane) = (shape.group_len(), shape.c / shape.groups, shape.plane);
    let runs = x[..n * shape.len()].chunks_exact(len).zip(y.chunks_exact_mut(len));
    for (i, (xs, ys)) in runs.enumerate() {
        let g = i % shape.groups;
        let (mean, var) = GroupNormShape::moments(xs);
        if let Some(m) = moments.as_deref_mut() {
            m[g] += mean;
            m[shape.groups + g] += var * len as f64 / (len as f64 - 1.0);
        }
        let rstd = (1.0 / (var + eps as f64).sqrt()) as f32;
        let mean = mean as f32;
        for (j, (xc, yc)) in xs.chunks_exact(plane).zip(ys.chunks_exact_mut(plane)).enumerate() {
            let k = g * per_group + j;
            let s = rstd * weight.map_or(1.0, |w| w[k]);
            let b = bias.map_or(0.0, |b| b[k]);
            yc.iter_mut().zip(xc).for_each(|(y, x)| *y = (x - mean) * s + b);
        }
    }
}

/// Reduces the groups' `moments` partials of [`group_norm_forward`] (each `stride` long, this
/// layer's `2 · groups` at `offset`), in group order, to the batch's mean of the instances'
/// means (`out[..groups]`) and of their unbiased variances (`out[groups..]`), `batch` samples.
///
/// # Panics
/// If a slice is shorter than it should be.
#[track_caller]
pub fn group_norm_reduce(partials: &[f64], stride: usize, offset: usize, groups: usize, batch: usize, out: &mut [f64]) {
    check_len("out", out.len(), 2 * groups);
    let tiles = partials.len() / stride.max(1);
    let inv = 1.0 / batch.max(1) as f64;
    for (k, o) in out[..2 * groups].iter_mut().enumerate() {
        *o = (0..tiles).map(|t| partials[t * stride + offset + k]).sum::<f64>() * inv;
    }
}

/// The gradients of [`group_norm_forward`]: the input's is written (or added, with its flag) to
/// `grad_input`, the weight's and bias's added to theirs. The statistics are computed again
/// from `x`, so training keeps only the input.
///
/// # Panics
/// If a slice is shorter than the shape and `n` need, or `groups` does not divide `c`.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn group_norm_backward(
    n: usize,
    shape: GroupNormShape,
    eps: f32,
    x: &[f32],
    weight: Option<&[f32]>,
    dy: &[f32],
    grad_input: Option<(&mut [f32], bool)>,
    grad_weight: Option<&mut [f32]>,
    grad_bias: Option<&mut [f32]>,
) {
    shape.check();
    check_len("input", x.len(), n * shape.len());
    check_len("grad_output", dy.len(), n * shape.len());
    weight.inspect(|w| check_len("weight", w.len(), shape.c));
    if let Some((dx, _)) = &grad_input {
        check_len("grad_input", dx.len(), n * shape.len());
    }
    grad_weight.as_deref().inspect(|g| check_len("grad_weight", g.len(), shape.c));
    grad_bias.as_deref().inspect(|g| check_len("grad_bias", g.len(), shape.c));
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
    shape: GroupNormShape,
    eps: f32,
    x: &[f32],
    weight: Option<&[f32]>,
    dy: &[f32],
    mut grad_input: Option<(&mut [f32], bool)>,
    mut grad_weight: Option<&mut [f32]>,
    mut grad_bias: Option<&mut [f32]>,
) {
    let (len, per_group, plane) = (shape.group_len(), shape.c / shape.groups, shape.plane);
    for i in 0..n * shape.len() / len {
        let (g, at) = (i % shape.groups, i * len);
        let (xs, dys) = (&x[at..at + len], &dy[at..at + len]);
        let (mean, var) = GroupNormShape::moments(xs);
        let rstd = 1.0 / (var + eps as f64).sqrt();
        // Per channel Σdy and Σdy·x̂, which are the bias's and weight's gradients and, weighted
        // by the channel's weight, the group's sums that the input's gradient subtracts.
        let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
        for j in 0..per_group {
            let k = g * per_group + j;
            let (xc, dc) = (&xs[j * plane..(j + 1) * plane], &dys[j * plane..(j + 1) * plane]);
            let (sd, sdx) = lane_sums(dc, xc, |d, x| (d as f64, d as f64 * ((x as f64 - mean) * rstd)));
            if let Some(gw) = grad_weight.as_deref_mut() {
                gw[k] += sdx as f32;
            }
            if let Some(gb) = grad_bias.as_deref_mut() {
                gb[k] += sd as f32;
            }
            let w = weight.map_or(1.0, |w| w[k]) as f64;
            sum_g += w * sd;
            sum_gx += w * sdx;
        }
        let Some((dx, accumulate)) = grad_input.as_mut() else { continue };
        // dx = rstd · (w·dy - mean(w·dy) - x̂ · mean(w·dy·x̂)), as `a · dy + b · (x - mean) + c`
        // per channel: centring first keeps the rounding at the scale of the deviations, not of
        // the values (`b · x + c` loses digits when the mean is large against the spread).
        let (mean_g, mean_gx) = (sum_g / len as f64, sum_gx / len as f64);
        let (b, c, mean) = ((-rstd * rstd * mean_gx) as f32, (-rstd * mean_g) as f32, mean as f32);
        for j in 0..per_group {
            let k = g * per_group + j;
            let a = (rstd * weight.map_or(1.0, |w| w[k]) as f64) as f32;
            let range = at + j * plane..at + (j + 1) * plane;
            let (xc, dc) = (&x[range.clone()], &dy[range.clone()]);
            let out = &mut dx[range];
            let term = |d: f32, x: f32| a * d + b * (x - mean) + c;
            if *accumulate {
                out.iter_mut().zip(dc.iter().zip(xc)).for_each(|(o, (&d, &x))| *o += term(d, x));
            } else {
                out.iter_mut().zip(dc.iter().zip(xc)).for_each(|(o, (&d, &x))| *o = term(d, x));
            }
        }
    }
}

isa_entry! {
    /// [`forward`] compiled for `isa`.
    unsafe fn forward_on(
        n: usize,
        shape: GroupNormShape,
        eps: f32,
        x: &[f32],
        weight: Option<&[f32]>,
        bias: Option<&[f32]>,
        y: &mut [f32],
        moments: Option<&mut [f64]>,
    ) => forward;
}

isa_entry! {
    /// [`backward`] compiled for `isa`.
    unsafe fn backward_on(
        n: usize,
        shape: GroupNormShape,
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

    /// Group norm in f64, group by group.
    fn naive(shape: GroupNormShape, n: usize, x: &[f32], w: &[f32], b: &[f32], eps: f64) -> Vec<f64> {
        let len = shape.c / shape.groups * shape.plane;
        let mut y = vec![0.0; x.len()];
        for (i, xs) in x[..n * shape.len()].chunks(len).enumerate() {
            let mean = xs.iter().map(|&v| v as f64).sum::<f64>() / len as f64;
            let var = xs.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / len as f64;
            for (j, &v) in xs.iter().enumerate() {
                let k = (i % shape.groups) * (shape.c / shape.groups) + j / shape.plane;
                y[i * len + j] = (v as f64 - mean) / (var + eps).sqrt() * w[k] as f64 + b[k] as f64;
            }
        }
        y
    }

    fn data(len: usize, c: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = (0..len).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3 + (i % 3) as f32).collect();
        let dy = (0..len).map(|i| ((i as f32) * 0.71).sin()).collect();
        let w = (0..c).map(|k| 1.0 + 0.1 * k as f32).collect();
        let b = (0..c).map(|k| 0.05 * k as f32 - 0.1).collect();
        (x, dy, w, b)
    }

    /// Swept shapes: one group, one channel a group (instance norm), odd planes, flat values.
    const SHAPES: [GroupNormShape; 5] = [
        GroupNormShape { c: 6, groups: 3, plane: 5 },
        GroupNormShape { c: 4, groups: 1, plane: 9 },
        GroupNormShape { c: 5, groups: 5, plane: 7 },
        GroupNormShape { c: 8, groups: 2, plane: 1 },
        GroupNormShape { c: 3, groups: 3, plane: 2 },
    ];

    /// Forward and backward give the same bits on every path this CPU has.
    #[test]
    fn every_path_gives_the_same_bits() {
        for shape in SHAPES {
            let len = 2 * shape.len();
            let (x, dy, w, b) = data(len, shape.c);
            let run = |isa: crate::Isa| {
                let (mut y, mut dx, mut gw) = (vec![0.0; len], vec![0.0; len], vec![0.0; shape.c]);
                let mut m = vec![0.0f64; 2 * shape.groups];
                let (gx, gw_) = (Some((&mut dx[..], false)), Some(&mut gw[..]));
                // SAFETY: only instruction sets this CPU supports.
                unsafe {
                    forward_on(isa, 2, shape, 1e-5, &x, Some(&w), Some(&b), &mut y, Some(&mut m));
                    backward_on(isa, 2, shape, 1e-5, &x, Some(&w), &dy, gx, gw_, None);
                }
                let m: Vec<f32> = m.iter().map(|&v| v as f32).collect();
                [y, dx, gw, m].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
            };
            let want = run(crate::Isa::Portable);
            for isa in crate::Isa::supported() {
                assert_eq!(run(isa), want, "{isa} {shape:?}");
            }
        }
    }

    #[test]
    fn matches_a_naive_loop_and_finite_differences() {
        for shape in SHAPES {
            let n = 3;
            let len = n * shape.len();
            let (x, r, w, b) = data(len, shape.c);
            let mut y = vec![0.0; len];
            group_norm_forward(n, shape, 1e-5, &x, Some(&w), Some(&b), &mut y, None);
            let want = naive(shape, n, &x, &w, &b, 1e-5);
            for (g, w) in y.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-5 * w.abs().max(1.0), "{shape:?}: {g} vs {w}");
            }
            // Without affine parameters: weight 1, bias 0.
            let mut plain = vec![0.0; len];
            group_norm_forward(n, shape, 1e-5, &x, None, None, &mut plain, None);
            let want = naive(shape, n, &x, &vec![1.0; shape.c], &vec![0.0; shape.c], 1e-5);
            assert!(plain.iter().zip(&want).all(|(g, w)| (*g as f64 - w).abs() < 1e-5 * w.abs().max(1.0)));
            // Loss = Σ r·y for fixed r: its gradients against central differences in f64; the
            // input's gradient added onto ones checks accumulation.
            let (mut dx, mut gw, mut gb) = (vec![1.0; len], vec![0.0; shape.c], vec![0.0; shape.c]);
            group_norm_backward(n, shape, 1e-5, &x, Some(&w), &r, Some((&mut dx, true)), Some(&mut gw), Some(&mut gb));
            let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
                naive(shape, n, x, w, b, 1e-5).iter().zip(&r).map(|(y, r)| y * *r as f64).sum()
            };
            let h = 1e-3f32;
            let fd = |f: &dyn Fn(f32) -> f64| (f(h) - f(-h)) / (2.0 * h as f64);
            let moved = |v: &[f32], i: usize, d: f32| {
                let mut v = v.to_vec();
                v[i] += d;
                v
            };
            for (i, &got) in dx.iter().enumerate() {
                let want = fd(&|d| loss(&moved(&x, i, d), &w, &b));
                assert!((got as f64 - 1.0 - want).abs() < 2e-3, "{shape:?} dx[{i}] {} vs {want}", got - 1.0);
            }
            for k in 0..shape.c {
                let want = fd(&|d| loss(&x, &moved(&w, k, d), &b));
                assert!((gw[k] as f64 - want).abs() < 2e-3, "{shape:?} dw[{k}] {} vs {want}", gw[k]);
                let want = fd(&|d| loss(&x, &w, &moved(&b, k, d)));
                assert!((gb[k] as f64 - want).abs() < 2e-3, "{shape:?} db[{k}] {} vs {want}", gb[k]);
            }
        }
    }

    /// The moments summed over tiles and reduced are the batch's mean of the instance means and
    /// unbiased variances, and the running update moves by the momentum.
    #[test]
    fn running_statistics_follow_the_instances() {
        let shape = GroupNormShape { c: 2, groups: 2, plane: 4 };
        let x: Vec<f32> = (0..3 * 8).map(|i| (i * i % 7) as f32).collect();
        // Two tiles: one sample, then two, each its own partial.
        let mut partials = vec![0.0f64; 2 * 4];
        let mut y = [0.0; 24];
        group_norm_forward(1, shape, 1e-5, &x[..8], None, None, &mut y[..8], Some(&mut partials[..4]));
        group_norm_forward(2, shape, 1e-5, &x[8..], None, None, &mut y[8..], Some(&mut partials[4..]));
        let mut out = vec![0.0; 4];
        group_norm_reduce(&partials, 4, 0, 2, 3, &mut out);
        for k in 0..2 {
            let inst: Vec<&[f32]> = (0..3).map(|s| &x[s * 8 + k * 4..s * 8 + k * 4 + 4]).collect();
            let mean = |v: &[f32]| v.iter().map(|&a| a as f64).sum::<f64>() / v.len() as f64;
            let var = |v: &[f32]| v.iter().map(|&a| (a as f64 - mean(v)).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            let want_mean = inst.iter().map(|v| mean(v)).sum::<f64>() / 3.0;
            let want_var = inst.iter().map(|v| var(v)).sum::<f64>() / 3.0;
            assert!((out[k] - want_mean).abs() < 1e-12 && (out[2 + k] - want_var).abs() < 1e-12, "{k}");
            let (mut rm, mut rv) = (vec![0.5f32; 2], vec![2.0f32; 2]);
            crate::kernels::batch_norm::update_running(2, &out[..2], &out[2..], 0.1, &mut rm, &mut rv);
            assert!((rm[k] as f64 - (0.45 + 0.1 * want_mean)).abs() < 1e-6);
            assert!((rv[k] as f64 - (1.8 + 0.1 * want_var)).abs() < 1e-6);
        }
    }
}

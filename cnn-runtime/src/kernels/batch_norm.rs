//! Batch normalization (`nn.BatchNorm2d` over `[c, h, w]` samples, `nn.BatchNorm1d` over `[c]`
//! samples, where the plane is one element).
//!
//! At inference it is a per-channel scale and shift, folded into the layer before it where it
//! can be ([`batch_norm_fold`]). In training the statistics span the whole batch, which the
//! tiled schedule computes in three steps: each group of samples adds its channel sums into its
//! own partial ([`batch_norm_stats`]), the partials are reduced in group order
//! ([`batch_norm_reduce`]), and every tile normalizes with the result
//! ([`batch_norm_train_forward`]). The backward pass has the same shape. Sums are kept in `f64`,
//! so the variance `E[x²] - E[x]²` loses nothing to cancellation at `f32` inputs.

use crate::isa::isa;
use crate::kernels::activation::{act_in_place, Act, ACT_RUN};
use crate::kernels::conv::check_len;
use crate::kernels::dot::lane_sums;
use crate::vector::{isa_entry, Vector};

/// The per-channel `scale` and `shift` that eval-mode batch norm applies, `y = x · scale +
/// shift`, with the bias of the layer before it (if any) folded in: `scale = γ / sqrt(var + ε)`,
/// `shift = β + (bias - mean) · scale`. A missing `γ` is 1 and a missing `β` 0 (`affine=False`).
///
/// # Panics
/// If a slice is shorter than `c`.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_fold(
    c: usize,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    mean: &[f32],
    var: &[f32],
    eps: f32,
    bias_before: Option<&[f32]>,
    scale: &mut [f32],
    shift: &mut [f32],
) {
    check_len("running_mean", mean.len(), c);
    check_len("running_var", var.len(), c);
    check_len("scale", scale.len(), c);
    check_len("shift", shift.len(), c);
    for k in 0..c {
        let s = gamma.map_or(1.0, |g| g[k]) / (var[k] + eps).sqrt();
        scale[k] = s;
        shift[k] = beta.map_or(0.0, |b| b[k]) + (bias_before.map_or(0.0, |b| b[k]) - mean[k]) * s;
    }
}

/// The input gradient of a frozen batch norm (torchvision's `FrozenBatchNorm2d`, whose weight
/// and statistics are constants; also a batch norm in eval mode): `dy · weight[c] /
/// sqrt(running_var[c] + eps)` (a missing weight is 1), written to `dx` or added to it when
/// `accumulate`.
///
/// # Panics
/// If a slice is shorter than `n · c · plane` (or `c`).
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn frozen_batch_norm_backward(
    n: usize,
    c: usize,
    plane: usize,
    weight: Option<&[f32]>,
    var: &[f32],
    eps: f32,
    dy: &[f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    weight.inspect(|w| check_len("weight", w.len(), c));
    check_len("running_var", var.len(), c);
    check_len("grad_output", dy.len(), n * c * plane);
    check_len("grad_input", dx.len(), n * c * plane);
    let len = n * c * plane;
    for (i, (dx, dy)) in dx[..len].chunks_exact_mut(plane).zip(dy[..len].chunks_exact(plane)).enumerate() {
        // The same scale as `batch_norm_fold`'s, so that training and inference agree.
        let k = i % c;
        let s = weight.map_or(1.0, |w| w[k]) / (var[k] + eps).sqrt();
        if accumulate {
            dx.iter_mut().zip(dy).for_each(|(dx, dy)| *dx += dy * s);
        } else {
            dx.iter_mut().zip(dy).for_each(|(dx, dy)| *dx = dy * s);
        }
    }
}

/// `y = act(x · scale[c] + shift[c])` over `n` samples of `c` channels of `plane` elements.
///
/// # Panics
/// If a slice is shorter than `n · c · plane` (or `c`).
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn scale_shift(n: usize, c: usize, plane: usize, x: &[f32], scale: &[f32], shift: &[f32], act: Act, y: &mut [f32]) {
    check_len("input", x.len(), n * c * plane);
    check_len("output", y.len(), n * c * plane);
    check_len("scale", scale.len(), c);
    check_len("shift", shift.len(), c);
    // Runs of whole planes, about `ACT_RUN` elements (one plane at least), each scaled and
    // shifted then activated; runs rather than planes, so that planes of one element
    // (`BatchNorm1d`) do not cost a call each.
    let per_run = (ACT_RUN / plane).max(1) * plane;
    let x = &x[..n * c * plane];
    for (r, (xs, ys)) in x.chunks(per_run).zip(y.chunks_mut(per_run)).enumerate() {
        let first = r * per_run / plane;
        for (i, (xs, ys)) in xs.chunks_exact(plane).zip(ys.chunks_exact_mut(plane)).enumerate() {
            let (s, b) = (scale[(first + i) % c], shift[(first + i) % c]);
            ys.iter_mut().zip(xs).for_each(|(y, x)| *y = x * s + b);
        }
        act_in_place(act, ys);
    }
}

/// Adds the channel sums of `n` samples to `partial`: `Σx` to `partial[..c]` and `Σx²` to
/// `partial[c..2c]`.
///
/// # Panics
/// If a slice is shorter than it should be.
#[track_caller]
pub fn batch_norm_stats(n: usize, c: usize, plane: usize, x: &[f32], partial: &mut [f64]) {
    check_len("input", x.len(), n * c * plane);
    check_len("partial", partial.len(), 2 * c);
    // SAFETY: `isa()` is an instruction set this CPU has.
    unsafe { stats_on(isa(), n, c, plane, x, partial) }
}

/// # Safety
/// The CPU must have `V`'s instruction set (the loops are compiled for it; `V` itself is not
/// used: the compiler vectorizes them).
#[inline(always)]
unsafe fn stats<V: Vector>(n: usize, c: usize, plane: usize, x: &[f32], partial: &mut [f64]) {
    for (i, xs) in x[..n * c * plane].chunks_exact(plane).enumerate() {
        let (s, q) = lane_sums(xs, xs, |v, _| {
            let v = v as f64;
            (v, v * v)
        });
        partial[i % c] += s;
        partial[c + i % c] += q;
    }
}

/// Reduces the groups' [`batch_norm_stats`] partials (each `stride` long, this layer's at
/// `offset`), in group order, over `count` elements a channel: writes the batch mean to
/// `stats[..c]`, `1 / sqrt(var + eps)` to `stats[c..2c]` and the unbiased variance (what
/// `running_var` tracks) to `stats[2c..3c]`.
///
/// # Panics
/// If a slice is shorter than it should be.
#[track_caller]
pub fn batch_norm_reduce(
    partials: &[f64],
    stride: usize,
    offset: usize,
    c: usize,
    count: usize,
    eps: f32,
    stats: &mut [f64],
) {
    check_len("stats", stats.len(), 3 * c);
    let groups = partials.len() / stride.max(1);
    let inv = 1.0 / count as f64;
    for k in 0..c {
        let (mut s, mut q) = (0.0, 0.0);
        for g in 0..groups {
            s += partials[g * stride + offset + k];
            q += partials[g * stride + offset + c + k];
        }
        let mean = s * inv;
        let var = (q * inv - mean * mean).max(0.0);
        stats[k] = mean;
        stats[c + k] = 1.0 / (var + eps as f64).sqrt();
        stats[2 * c + k] = if count > 1 { var * count as f64 / (count - 1) as f64 } else { f64::NAN };
    }
}

/// A training pass's batch-norm statistics: [`batch_norm_reduce`]'s of the batch, or in eval
/// mode (PyTorch's `model.eval()` before `backward()`) the `running` ones in their place (mean,
/// inverse deviation, and the variance where the batch's unbiased one goes), so the pass
/// normalizes as inference does.
///
/// # Panics
/// As [`batch_norm_reduce`], or if the running statistics are not `c` long.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_statistics(
    partials: &[f64],
    stride: usize,
    offset: usize,
    c: usize,
    count: usize,
    eps: f32,
    running: Option<(&[f32], &[f32])>,
    stats: &mut [f64],
) {
    match running {
        Some((mean, var)) => running_stats(c, mean, var, eps, stats),
        None => batch_norm_reduce(partials, stride, offset, c, count, eps, stats),
    }
}

/// The running statistics as [`batch_norm_reduce`] lays out the batch's.
#[track_caller]
fn running_stats(c: usize, running_mean: &[f32], running_var: &[f32], eps: f32, stats: &mut [f64]) {
    check_len("stats", stats.len(), 3 * c);
    check_len("running_mean", running_mean.len(), c);
    check_len("running_var", running_var.len(), c);
    for k in 0..c {
        let var = running_var[k] as f64;
        stats[k] = running_mean[k] as f64;
        stats[c + k] = 1.0 / (var + eps as f64).sqrt();
        stats[2 * c + k] = var;
    }
}

/// The gradients of a normalization by its running statistics in a training pass (an instance
/// norm with `track_running_stats` in eval mode, whose forward pass is inference's): `γ`'s
/// `Σ dy · x̂` and `β`'s `Σ dy` added, and the input's as [`frozen_batch_norm_backward`]'s, each
/// when asked for.
///
/// # Panics
/// If a slice is shorter than `n`, `c` and `plane` need.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn running_norm_backward(
    n: usize,
    c: usize,
    plane: usize,
    x: &[f32],
    (running_mean, running_var, eps): (&[f32], &[f32], f32),
    gamma: Option<&[f32]>,
    dy: &[f32],
    dx: Option<(&mut [f32], bool)>,
    mut grad_gamma: Option<&mut [f32]>,
    mut grad_beta: Option<&mut [f32]>,
) {
    check_len("input", x.len(), n * c * plane);
    check_len("grad_output", dy.len(), n * c * plane);
    for (i, (xs, gs)) in x[..n * c * plane].chunks_exact(plane).zip(dy.chunks_exact(plane)).enumerate() {
        let k = i % c;
        let (mean, invstd) = (running_mean[k] as f64, 1.0 / (running_var[k] as f64 + eps as f64).sqrt());
        if let Some(gg) = grad_gamma.as_deref_mut() {
            gg[k] += xs.iter().zip(gs).map(|(&x, &g)| (x as f64 - mean) * invstd * g as f64).sum::<f64>() as f32;
        }
        if let Some(gb) = grad_beta.as_deref_mut() {
            gb[k] += gs.iter().map(|&g| g as f64).sum::<f64>() as f32;
        }
    }
    if let Some((dx, accumulate)) = dx {
        frozen_batch_norm_backward(n, c, plane, gamma, running_var, eps, dy, dx, accumulate);
    }
}

/// `running = (1 - m) · running + m · batch` for the `c` channels' batch `mean` and unbiased
/// `var` (batch norm's from [`batch_norm_reduce`], instance norm's from `group_norm_reduce`), as
/// PyTorch updates them in training (`m` its momentum, or `1 / num_batches_tracked` for the
/// cumulative average).
///
/// # Panics
/// If a slice is shorter than `c`.
#[track_caller]
pub fn update_running(c: usize, mean: &[f64], var: &[f64], m: f64, running_mean: &mut [f32], running_var: &mut [f32]) {
    for (name, len) in [("mean", mean.len()), ("var", var.len()), ("running_mean", running_mean.len())] {
        check_len(name, len, c);
    }
    check_len("running_var", running_var.len(), c);
    for k in 0..c {
        running_mean[k] = ((1.0 - m) * running_mean[k] as f64 + m * mean[k]) as f32;
        running_var[k] = ((1.0 - m) * running_var[k] as f64 + m * var[k]) as f32;
    }
}

/// The per-channel `scale = γ / sqrt(var + ε)` and `shift = β - mean · scale` of the batch
/// statistics of [`batch_norm_reduce`]: eval mode for a batch norm without running statistics.
///
/// # Panics
/// If a slice is shorter than it should be.
#[track_caller]
pub fn batch_norm_batch_fold(
    c: usize,
    stats: &[f64],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    scale: &mut [f32],
    shift: &mut [f32],
) {
    check_len("stats", stats.len(), 3 * c);
    for k in 0..c {
        let (g, b) = (gamma.map_or(1.0, |v| v[k] as f64), beta.map_or(0.0, |v| v[k] as f64));
        let s = g * stats[c + k];
        scale[k] = s as f32;
        shift[k] = (b - stats[k] * s) as f32;
    }
}

/// `y = γ (x - mean) / sqrt(var + ε) + β` with the batch statistics of [`batch_norm_reduce`].
///
/// # Panics
/// If a slice is shorter than it should be.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_train_forward(
    n: usize,
    c: usize,
    plane: usize,
    x: &[f32],
    stats: &[f64],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    y: &mut [f32],
) {
    check_len("input", x.len(), n * c * plane);
    check_len("output", y.len(), n * c * plane);
    check_len("stats", stats.len(), 2 * c);
    // SAFETY: as in `batch_norm_stats`.
    unsafe { train_forward_on(isa(), n, c, plane, x, stats, gamma, beta, y) }
}

/// # Safety
/// The CPU must have `V`'s instruction set (the loops are compiled for it; `V` itself is not
/// used: the compiler vectorizes them).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn train_forward<V: Vector>(
    n: usize,
    c: usize,
    plane: usize,
    x: &[f32],
    stats: &[f64],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    y: &mut [f32],
) {
    for (i, (xs, ys)) in x[..n * c * plane].chunks_exact(plane).zip(y.chunks_exact_mut(plane)).enumerate() {
        let k = i % c;
        let (mean, invstd) = (stats[k] as f32, stats[c + k] as f32);
        let (g, b) = (gamma.map_or(1.0, |v| v[k]), beta.map_or(0.0, |v| v[k]));
        ys.iter_mut().zip(xs).for_each(|(y, x)| *y = (x - mean) * invstd * g + b);
    }
}

/// Adds the backward pass's channel sums of `n` samples to `partial`: `Σdy` to `partial[..c]`
/// and `Σdy·x̂` to `partial[c..2c]`, where `x̂ = (x - mean) / sqrt(var + ε)`.
///
/// # Panics
/// If a slice is shorter than it should be.
#[track_caller]
pub fn batch_norm_backward_stats(
    n: usize,
    c: usize,
    plane: usize,
    x: &[f32],
    stats: &[f64],
    dy: &[f32],
    partial: &mut [f64],
) {
    check_len("input", x.len(), n * c * plane);
    check_len("grad_output", dy.len(), n * c * plane);
    check_len("partial", partial.len(), 2 * c);
    // SAFETY: as in `batch_norm_stats`.
    unsafe { backward_stats_on(isa(), n, c, plane, x, stats, dy, partial) }
}

/// # Safety
/// The CPU must have `V`'s instruction set (the loops are compiled for it; `V` itself is not
/// used: the compiler vectorizes them).
#[inline(always)]
unsafe fn backward_stats<V: Vector>(
    n: usize,
    c: usize,
    plane: usize,
    x: &[f32],
    stats: &[f64],
    dy: &[f32],
    partial: &mut [f64],
) {
    for (i, (xs, gs)) in x[..n * c * plane].chunks_exact(plane).zip(dy.chunks_exact(plane)).enumerate() {
        let k = i % c;
        let (mean, invstd) = (stats[k], stats[c + k]);
        let (s, q) = lane_sums(xs, gs, |x, g| (g as f64, g as f64 * (x as f64 - mean) * invstd));
        partial[k] += s;
        partial[c + k] += q;
    }
}

/// Reduces the groups' [`batch_norm_backward_stats`] partials (each `stride` long, this layer's
/// at `offset`) in group order into `sums` (`Σdy`, then `Σdy·x̂`), and adds them to the
/// gradients of `β` and `γ`.
///
/// # Panics
/// If a slice is shorter than it should be.
#[track_caller]
pub fn batch_norm_backward_reduce(
    partials: &[f64],
    stride: usize,
    offset: usize,
    c: usize,
    sums: &mut [f64],
    grad_gamma: Option<&mut [f32]>,
    grad_beta: Option<&mut [f32]>,
) {
    check_len("sums", sums.len(), 2 * c);
    let groups = partials.len() / stride.max(1);
    for k in 0..2 * c {
        sums[k] = (0..groups).map(|g| partials[g * stride + offset + k]).sum();
    }
    if let Some(gg) = grad_gamma {
        (0..c).for_each(|k| gg[k] += sums[c + k] as f32);
    }
    if let Some(gb) = grad_beta {
        (0..c).for_each(|k| gb[k] += sums[k] as f32);
    }
}

/// The input gradient of training-mode batch norm over a batch of `count` elements a channel:
/// `dx = γ / sqrt(var + ε) · (dy - Σdy / count - x̂ · Σdy·x̂ / count)`, written to `dx` or added
/// to it when `accumulate`. In eval mode (`running`: the running variance and ε, whose
/// statistics are constants) it is [`frozen_batch_norm_backward`]'s.
///
/// # Panics
/// If a slice is shorter than it should be.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward_input(
    n: usize,
    c: usize,
    plane: usize,
    count: usize,
    x: &[f32],
    stats: &[f64],
    sums: &[f64],
    gamma: Option<&[f32]>,
    dy: &[f32],
    dx: &mut [f32],
    accumulate: bool,
    running: Option<(&[f32], f32)>,
) {
    check_len("input", x.len(), n * c * plane);
    check_len("grad_output", dy.len(), n * c * plane);
    check_len("grad_input", dx.len(), n * c * plane);
    if let Some((running_var, eps)) = running {
        return frozen_batch_norm_backward(n, c, plane, gamma, running_var, eps, dy, dx, accumulate);
    }
    // SAFETY: as in `batch_norm_stats`.
    unsafe { backward_input_on(isa(), n, c, plane, count, x, stats, sums, gamma, dy, dx, accumulate) }
}

/// # Safety
/// The CPU must have `V`'s instruction set (the loops are compiled for it; `V` itself is not
/// used: the compiler vectorizes them).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn backward_input<V: Vector>(
    n: usize,
    c: usize,
    plane: usize,
    count: usize,
    x: &[f32],
    stats: &[f64],
    sums: &[f64],
    gamma: Option<&[f32]>,
    dy: &[f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    let inv = 1.0 / count as f64;
    for (i, ((xs, gs), ds)) in
        x[..n * c * plane].chunks_exact(plane).zip(dy.chunks_exact(plane)).zip(dx.chunks_exact_mut(plane)).enumerate()
    {
        let k = i % c;
        let (mean, invstd) = (stats[k], stats[c + k]);
        let (mean_dy, mean_dy_xhat) = (sums[k] * inv, sums[c + k] * inv);
        let factor = gamma.map_or(1.0, |g| g[k] as f64) * invstd;
        for ((&x, &g), d) in xs.iter().zip(gs).zip(ds.iter_mut()) {
            let xhat = (x as f64 - mean) * invstd;
            let v = (factor * (g as f64 - mean_dy - xhat * mean_dy_xhat)) as f32;
            if accumulate {
                *d += v;
            } else {
                *d = v;
            }
        }
    }
}

isa_entry! {
    /// [`stats`] compiled for `isa`.
    unsafe fn stats_on(n: usize, c: usize, plane: usize, x: &[f32], partial: &mut [f64]) => stats;
}

isa_entry! {
    /// [`train_forward`] compiled for `isa`.
    unsafe fn train_forward_on(
        n: usize,
        c: usize,
        plane: usize,
        x: &[f32],
        stats: &[f64],
        gamma: Option<&[f32]>,
        beta: Option<&[f32]>,
        y: &mut [f32],
    ) => train_forward;
}

isa_entry! {
    /// [`backward_stats`] compiled for `isa`.
    unsafe fn backward_stats_on(
        n: usize,
        c: usize,
        plane: usize,
        x: &[f32],
        stats: &[f64],
        dy: &[f32],
        partial: &mut [f64],
    ) => backward_stats;
}

isa_entry! {
    /// [`backward_input`] compiled for `isa`.
    unsafe fn backward_input_on(
        n: usize,
        c: usize,
        plane: usize,
        count: usize,
        x: &[f32],
        stats: &[f64],
        sums: &[f64],
        gamma: Option<&[f32]>,
        dy: &[f32],
        dx: &mut [f32],
        accumulate: bool,
    ) => backward_input;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::values;

    /// The sums and the normalization give the same bits on every path this CPU has, and the
    /// sums match float64 sums taken one by one (planes of 1, fewer than the lanes, and more).
    #[test]
    fn every_path_gives_the_same_bits() {
        for (n, c, plane) in [(3, 2, 1), (2, 3, 5), (2, 2, 37)] {
            let len = n * c * plane;
            let (x, dy) = (values(len, 31), values(len, 32));
            let run = |isa: crate::Isa| {
                let (mut s, mut b, mut dx) = (vec![0.0f64; 2 * c], vec![0.0f64; 2 * c], vec![0.0f32; len]);
                let moments: Vec<f64> = (0..2 * c).map(|k| if k < c { 0.1 * k as f64 } else { 1.5 }).collect();
                // SAFETY: only instruction sets this CPU supports.
                unsafe {
                    stats_on(isa, n, c, plane, &x, &mut s);
                    backward_stats_on(isa, n, c, plane, &x, &moments, &dy, &mut b);
                    backward_input_on(isa, n, c, plane, n * plane, &x, &moments, &b, None, &dy, &mut dx, false);
                }
                (s, b, dx)
            };
            let (want, want_b, want_dx) = run(crate::Isa::Portable);
            let naive: Vec<f64> = (0..c)
                .map(|k| (0..n).flat_map(|s| &x[(s * c + k) * plane..][..plane]).map(|&v| v as f64).sum())
                .collect();
            for k in 0..c {
                assert!((want[k] - naive[k]).abs() <= 1e-12 * naive[k].abs().max(1.0), "sum {k}");
            }
            for isa in crate::Isa::supported() {
                let (got, got_b, got_dx) = run(isa);
                assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa} stats");
                assert!(got_b.iter().zip(&want_b).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa} backward stats");
                assert!(got_dx.iter().zip(&want_dx).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa} dx");
            }
        }
    }

    #[test]
    fn grouped_training_pass_matches_the_definition() {
        let (n, c, plane, eps) = (5, 3, 4, 1e-5f32);
        let x = values(n * c * plane, 1);
        let gamma = values(c, 2);
        let beta = values(c, 3);
        let forward = |x: &[f32]| -> (Vec<f32>, Vec<f64>) {
            // Groups of 2, 2 and 1 samples, each with its partial.
            let cuts = [(0, 2), (2, 4), (4, 5)];
            let mut partials = vec![0.0; cuts.len() * 2 * c];
            for (g, (a, b)) in cuts.iter().enumerate() {
                batch_norm_stats(
                    b - a,
                    c,
                    plane,
                    &x[a * c * plane..b * c * plane],
                    &mut partials[g * 2 * c..(g + 1) * 2 * c],
                );
            }
            let mut stats = vec![0.0; 3 * c];
            batch_norm_reduce(&partials, 2 * c, 0, c, n * plane, eps, &mut stats);
            let mut y = vec![0.0; x.len()];
            batch_norm_train_forward(n, c, plane, x, &stats, Some(&gamma), Some(&beta), &mut y);
            (y, stats)
        };
        let (y, stats) = forward(&x);
        for k in 0..c {
            let vals: Vec<f64> = (0..n)
                .flat_map(|s| (0..plane).map(move |p| (s, p)))
                .map(|(s, p)| x[(s * c + k) * plane + p] as f64)
                .collect();
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
            assert!((stats[k] - mean).abs() < 1e-12);
            assert!((stats[2 * c + k] - var * 20.0 / 19.0).abs() < 1e-12);
            for s in 0..n {
                for p in 0..plane {
                    let i = (s * c + k) * plane + p;
                    let want = (x[i] as f64 - mean) / (var + eps as f64).sqrt() * gamma[k] as f64 + beta[k] as f64;
                    assert!((y[i] as f64 - want).abs() < 1e-5, "{} vs {want}", y[i]);
                }
            }
        }
        let cw = values(x.len(), 4);
        let mut partial = vec![0.0; 2 * c];
        batch_norm_backward_stats(n, c, plane, &x, &stats, &cw, &mut partial);
        let mut sums = vec![0.0; 2 * c];
        let (mut gg, mut gb) = (vec![0.0; c], vec![0.0; c]);
        batch_norm_backward_reduce(&partial, 2 * c, 0, c, &mut sums, Some(&mut gg), Some(&mut gb));
        let mut dx = vec![0.0; x.len()];
        batch_norm_backward_input(n, c, plane, n * plane, &x, &stats, &sums, Some(&gamma), &cw, &mut dx, false, None);
        let loss = |x: &[f32]| forward(x).0.iter().zip(&cw).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>();
        for i in [0, 7, 13, 29, 59] {
            let h = 1e-2;
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * h as f64);
            assert!((dx[i] as f64 - numeric).abs() < 2e-3 * (1.0 + numeric.abs()), "dx[{i}]: {} vs {numeric}", dx[i]);
        }
        // dβ = Σ dy, dγ = Σ dy·x̂.
        for k in 0..c {
            let idx = (0..n).flat_map(|s| (0..plane).map(move |p| (s * c + k) * plane + p));
            let (db, dg): (f64, f64) = idx.fold((0.0, 0.0), |(a, b), i| {
                (a + cw[i] as f64, b + cw[i] as f64 * (x[i] as f64 - stats[k]) * stats[c + k])
            });
            assert!((gb[k] as f64 - db).abs() < 1e-5 && (gg[k] as f64 - dg).abs() < 1e-5);
        }
    }

    #[test]
    fn fold_and_running_statistics() {
        let (mut scale, mut shift) = ([0.0; 2], [0.0; 2]);
        batch_norm_fold(
            2,
            Some(&[2.0, 1.0]),
            Some(&[0.5, -1.0]),
            &[1.0, -2.0],
            &[3.0, 0.0],
            1.0,
            Some(&[0.25, 0.0]),
            &mut scale,
            &mut shift,
        );
        assert_eq!(scale, [1.0, 1.0]);
        assert_eq!(shift, [0.5 + (0.25 - 1.0), -1.0 + 2.0]);
        let mut y = [0.0; 4];
        scale_shift(1, 2, 2, &[1.0, -3.0, 0.0, 4.0], &[2.0, 0.5], &[1.0, 0.0], Act::Relu, &mut y);
        assert_eq!(y, [3.0, 0.0, 0.0, 2.0]);
        let (mut rm, mut rv) = ([0.0f32; 1], [1.0f32; 1]);
        update_running(1, &[2.0], &[4.0], 0.1, &mut rm, &mut rv);
        assert!((rm[0] - 0.2).abs() < 1e-7 && (rv[0] - 1.3).abs() < 1e-6);
    }

    /// Runs of planes of one element (`BatchNorm1d`), of planes shorter than a run and of
    /// planes longer than one, with an activation after, against the definition.
    #[test]
    fn frozen_batch_norm_backward_scales_each_channel() {
        let (n, c, plane) = (2, 3, 5);
        let (w, var) = ([0.5, -2.0, 1.5], [1.0, 0.25, 3.0]);
        let dy = values(n * c * plane, 7);
        for accumulate in [false, true] {
            let mut dx = vec![1.0f32; n * c * plane];
            frozen_batch_norm_backward(n, c, plane, Some(&w), &var, 1e-5, &dy, &mut dx, accumulate);
            for (i, (&got, &dy)) in dx.iter().zip(&dy).enumerate() {
                let k = i / plane % c;
                let want = f64::from(dy) * f64::from(w[k]) / (f64::from(var[k]) + 1e-5).sqrt()
                    + f64::from(u8::from(accumulate));
                assert!((f64::from(got) - want).abs() <= 1e-6 * want.abs().max(1.0), "{i}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn scale_shift_over_runs_of_planes() {
        for (n, c, plane) in [(3, 1000, 1), (2, 7, 300), (1, 3, 5000)] {
            let len = n * c * plane;
            let x = values(len, 41);
            let (scale, shift) = (values(c, 42), values(c, 43));
            let mut y = vec![f32::NAN; len];
            scale_shift(n, c, plane, &x, &scale, &shift, Act::Silu, &mut y);
            for (i, (&y, &x)) in y.iter().zip(&x).enumerate() {
                let k = i / plane % c;
                let v = (x * scale[k] + shift[k]) as f64;
                let want = v / (1.0 + (-v).exp());
                assert!((y as f64 - want).abs() <= 1e-6 * want.abs().max(1.0), "{n}x{c}x{plane} at {i}: {y} vs {want}");
            }
        }
    }
}

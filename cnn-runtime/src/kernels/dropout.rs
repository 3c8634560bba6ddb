//! Dropout (`nn.Dropout`, `nn.Dropout2d`) with masks from a counter-based generator.
//!
//! Whether a unit is kept depends only on the key (the network's seed, its training step and the
//! layer), the sample's index in the batch and the unit's index in the sample: not on which
//! thread or tile computes it. So training stays bit-identical on any thread count, and the
//! backward pass regenerates the mask instead of storing it.

use crate::kernels::conv::check_len;

/// The key of one dropout layer at one training step.
pub const fn dropout_key(seed: u64, step: u64, layer: u64) -> u64 {
    mix(mix(seed ^ 0x6a09_e667_f3bc_c908)
        ^ mix(step.wrapping_add(0x3c6e_f372_fe94_f82b))
        ^ layer.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// SplitMix64's finalizer: a bijection that spreads every input bit over the output.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The factor unit `unit` of sample `sample` is multiplied by: 0 if dropped, `1 / (1 - p)` if
/// kept (each unit dropped with probability `p`).
#[inline(always)]
fn factor(key: u64, sample: usize, unit: usize, p: f32, keep: f32) -> f32 {
    let bits = mix(key ^ mix((sample as u64) << 32 ^ unit as u64));
    // 24 bits: a uniform f32 in [0, 1) with every value exact.
    let u = (bits >> 40) as f32 * (1.0 / (1u64 << 24) as f32);
    if u < p {
        0.0
    } else {
        keep
    }
}

/// Applies dropout in training mode to `n` samples of `len` elements, the first of which is
/// sample `first` of the batch: units of `unit` consecutive elements (1 for `nn.Dropout`, a
/// channel's plane for `nn.Dropout2d`) are zeroed with probability `p`, the rest scaled by
/// `1 / (1 - p)`. Writes `y`, or scales `dy` into `dx` for the backward pass (the same mask).
///
/// # Panics
/// If a slice is shorter than `n · len`, or `unit` does not divide `len`.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn dropout(
    n: usize,
    first: usize,
    len: usize,
    unit: usize,
    p: f32,
    key: u64,
    x: &[f32],
    y: &mut [f32],
    accumulate: bool,
) {
    check_len("input", x.len(), n * len);
    check_len("output", y.len(), n * len);
    assert!(
        unit > 0 && len.is_multiple_of(unit),
        "dropout: a unit of {unit} elements does not divide a sample of {len}"
    );
    let keep = if p >= 1.0 { 0.0 } else { 1.0 / (1.0 - p) };
    for s in 0..n {
        let (xs, ys) = (&x[s * len..(s + 1) * len], &mut y[s * len..(s + 1) * len]);
        for (u, (xu, yu)) in xs.chunks_exact(unit).zip(ys.chunks_exact_mut(unit)).enumerate() {
            scaled(xu, yu, factor(key, first + s, u, p, keep), accumulate);
        }
    }
}

/// `y = x · f`, or `y += x · f`.
#[inline]
fn scaled(x: &[f32], y: &mut [f32], f: f32, accumulate: bool) {
    if accumulate {
        y.iter_mut().zip(x).for_each(|(y, x)| *y += x * f);
    } else {
        y.iter_mut().zip(x).for_each(|(y, x)| *y = x * f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_at_rate_p_and_scales_the_rest() {
        let (n, len) = (50, 400);
        let x = vec![1.0f32; n * len];
        let mut y = vec![0.0; n * len];
        dropout(n, 0, len, 1, 0.3, dropout_key(1, 0, 0), &x, &mut y, false);
        let dropped = y.iter().filter(|v| **v == 0.0).count() as f64 / y.len() as f64;
        assert!((dropped - 0.3).abs() < 0.01, "{dropped}");
        assert!(y.iter().all(|v| *v == 0.0 || (*v - 1.0 / 0.7).abs() < 1e-6));
        // The mask depends on the sample's index in the batch, not on how the batch is cut.
        let mut parts = vec![0.0; n * len];
        dropout(20, 0, len, 1, 0.3, dropout_key(1, 0, 0), &x, &mut parts[..20 * len], false);
        dropout(30, 20, len, 1, 0.3, dropout_key(1, 0, 0), &x, &mut parts[20 * len..], false);
        assert_eq!(parts, y);
        // Another step or layer, another mask.
        let mut other = vec![0.0; n * len];
        dropout(n, 0, len, 1, 0.3, dropout_key(1, 1, 0), &x, &mut other, false);
        assert_ne!(other, y);
        dropout(n, 0, len, 1, 0.3, dropout_key(1, 0, 1), &x, &mut other, false);
        assert_ne!(other, y);
    }

    #[test]
    fn channel_units_and_extremes() {
        let x = vec![2.0f32; 4 * 25];
        let mut y = vec![0.0; 100];
        dropout(1, 0, 100, 25, 0.5, 7, &x, &mut y, false);
        for plane in y.chunks(25) {
            assert!(plane.iter().all(|v| *v == plane[0]) && (plane[0] == 0.0 || plane[0] == 4.0));
        }
        dropout(1, 0, 100, 1, 0.0, 7, &x, &mut y, false);
        assert_eq!(y, x);
        dropout(1, 0, 100, 1, 1.0, 7, &x, &mut y, false);
        assert!(y.iter().all(|v| *v == 0.0));
    }
}

/// `torchvision.ops.StochasticDepth(p, mode)` in training mode for `n` samples of `len`
/// elements, the first of which is sample `first` of the batch: each sample (`row` mode), or the
/// whole batch (`batch` mode: one draw shared by every sample), is zeroed with probability `p`
/// and otherwise scaled by `1 / (1 - p)`. Writes `y`, or scales `dy` into `dx` for the backward
/// pass (the same draws, from the same key).
///
/// # Panics
/// If a slice is shorter than `n · len`.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn stochastic_depth(
    n: usize,
    first: usize,
    len: usize,
    p: f32,
    batch: bool,
    key: u64,
    x: &[f32],
    y: &mut [f32],
    accumulate: bool,
) {
    check_len("input", x.len(), n * len);
    check_len("output", y.len(), n * len);
    let keep = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
    for (s, (x, y)) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)).take(n).enumerate() {
        let sample = if batch { 0 } else { first + s };
        scaled(x, y, factor(key, sample, 0, p, keep), accumulate);
    }
}

#[cfg(test)]
mod stochastic_depth_tests {
    use super::*;

    #[test]
    fn drops_whole_samples_at_the_rate() {
        let (n, len, p) = (4000, 3, 0.3f32);
        let x = vec![1.0f32; n * len];
        let mut y = vec![0.0; n * len];
        stochastic_depth(n, 0, len, p, false, dropout_key(7, 1, 2), &x, &mut y, false);
        let dropped = y.chunks(len).filter(|s| s.iter().all(|&v| v == 0.0)).count();
        assert!(y.chunks(len).all(|s| s.iter().all(|&v| v == 0.0) || s.iter().all(|&v| v == 1.0 / 0.7)));
        let rate = dropped as f32 / n as f32;
        assert!((rate - p).abs() < 0.025, "dropped {rate}");
        // The same draws for a tile starting later in the batch, and one draw in batch mode.
        let mut tail = vec![0.0; 10 * len];
        stochastic_depth(10, 100, len, p, false, dropout_key(7, 1, 2), &x[..10 * len], &mut tail, false);
        assert_eq!(tail, y[100 * len..110 * len]);
        stochastic_depth(n, 0, len, p, true, dropout_key(7, 1, 2), &x, &mut y, false);
        assert!(y.iter().all(|&v| v == y[0]));
        // p = 0 is the identity.
        stochastic_depth(n, 0, len, 0.0, false, 5, &x, &mut y, false);
        assert_eq!(y, x);
    }
}

//! The one finite-difference gradient checker of the tests, generic over [`Network`].
//!
//! The loss is any function of the network that also returns the sum of its terms' magnitudes
//! `m` (the tests use `L = Σ c · y` with fixed random `c`), whose f32 rounding noise is about
//! `ε = noise · m`. Each picked parameter is nudged by `±h` for each `h` of `steps` in turn, until
//! no kink (of ReLU, a pool's maximum, a hard activation) lies close enough to bend the
//! difference:
//!
//! - a piecewise-linear loss (eval mode): the second difference `L(+h) - 2 L(0) + L(-h)` is
//!   within `4ε`; the central difference is then exact but for `2ε / h`;
//! - a smooth loss (train mode, batch statistics): the central differences at `h` and `h/2`
//!   agree within 2% and `4ε / h`, and their Richardson extrapolation is the estimate.
//!
//! The estimate must match the analytic gradient within `rel` of it, plus `1e-3` of the tensor's
//! largest gradient, plus that noise. A parameter on a kink at every step is skipped; at most a
//! third of a tensor's picked parameters may be.

use cnn::{Grads, Network, Sample};

/// What a loss is between its kinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Linear (eval mode: only ReLU and max pooling bend it).
    PiecewiseLinear,
    /// Smooth (train mode: batch statistics, smooth activations).
    Smooth,
}

/// How a check nudges and what it tolerates.
#[derive(Clone, Copy, Debug)]
pub struct GradCheck {
    /// Steps `h` tried, largest first.
    pub steps: &'static [f32],
    /// The loss's rounding noise relative to its terms' magnitude.
    pub noise: f64,
    /// What the loss is between kinks, which decides how a kink is told.
    pub loss: Loss,
    /// Tolerance relative to the analytic gradient.
    pub rel: f32,
    /// Parameters picked per tensor.
    pub picks: usize,
}

/// Checks every parameter tensor's gradient in `grads` (computed at the network's current
/// weights) against finite differences of `loss`, which may run the network in either mode.
///
/// # Panics
/// On the first gradient outside its tolerance, or a tensor with too many parameters on kinks.
pub fn check_gradients<N: Network>(
    net: &mut N,
    grads: &Grads<N>,
    check: GradCheck,
    mut loss: impl FnMut(&mut N) -> (f64, f64),
) {
    for (t, spec) in N::PARAMS.iter().enumerate() {
        let analytic = grads.param(spec.name).expect("every parameter has a gradient").data;
        check_values(spec.name, analytic, t, check, |i, h| {
            let at = spec.offset + i;
            let orig = net.flat_params()[at];
            net.flat_params_mut()[at] = orig + h;
            let value = loss(net);
            net.flat_params_mut()[at] = orig;
            value
        });
    }
}

/// Checks the input gradient `grad_input` (one input per sample, computed at `xs`) against
/// finite differences of `loss` of the inputs, as [`check_gradients`] checks parameters.
///
/// # Panics
/// As [`check_gradients`].
pub fn check_input_gradients<N: Network>(
    net: &mut N,
    xs: &[N::Input],
    grad_input: &[N::Input],
    check: GradCheck,
    mut loss: impl FnMut(&mut N, &[N::Input]) -> (f64, f64),
) {
    let mut xs = xs.to_vec();
    let analytic = Sample::flatten(grad_input);
    check_values("input", analytic, 0, check, |i, h| {
        let flat = Sample::flatten_mut(&mut xs);
        let orig = flat[i];
        flat[i] = orig + h;
        let value = loss(net, &xs);
        Sample::flatten_mut(&mut xs)[i] = orig;
        value
    });
}

/// The check of one tensor's `analytic` gradient at `check.picks` of its elements (spread by
/// `salt`), `nudged(i, h)` being the loss and its terms' magnitude with element `i` moved by `h`.
fn check_values(
    name: &str,
    analytic: &[f32],
    salt: usize,
    check: GradCheck,
    mut nudged: impl FnMut(usize, f32) -> (f64, f64),
) {
    let len = analytic.len();
    let scale = analytic.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let picks: Vec<usize> = (0..check.picks.min(len)).map(|k| (k * 7919 + salt * 104729) % len).collect();
    let mut checked = 0;
    for &i in &picks {
        let (mid, magnitude) = nudged(i, 0.0);
        let eps = check.noise * magnitude;
        let mut eval = |h: f32| (nudged(i, h).0, nudged(i, -h).0);
        let found = check.steps.iter().find_map(|&h| {
            let (up, down) = eval(h);
            let d1 = (up - down) / (2.0 * h as f64);
            match check.loss {
                Loss::PiecewiseLinear => {
                    ((up - 2.0 * mid + down).abs() <= 4.0 * eps).then_some((d1, 2.0 * eps / h as f64, h))
                }
                Loss::Smooth => {
                    let (up2, down2) = eval(h / 2.0);
                    let d2 = (up2 - down2) / h as f64;
                    let noise = eps / h as f64;
                    let agree = (d1 - d2).abs() <= 0.02 * d2.abs().max(d1.abs()) + 4.0 * noise;
                    agree.then_some(((4.0 * d2 - d1) / 3.0, 4.0 * noise, h))
                }
            }
        });
        let Some((numeric, noise, h)) = found else { continue };
        checked += 1;
        let numeric = numeric as f32;
        let tol = noise as f32 + check.rel * analytic[i].abs() + 1e-3 * scale;
        assert!(
            (analytic[i] - numeric).abs() <= tol,
            "{name}[{i}]: analytic {} vs numeric {numeric} (tolerance {tol}, h {h})",
            analytic[i]
        );
    }
    assert!(checked * 3 >= picks.len() * 2, "{name}: only {checked} of {} elements off a kink", picks.len());
}

/// `L = Σ c · y` over a batch's outputs and the sum of its terms' magnitudes.
pub fn weighted_sum<const O: usize>(ys: &[[f32; O]], c: &[[f32; O]]) -> (f64, f64) {
    let terms = ys.iter().zip(c).flat_map(|(y, c)| y.iter().zip(c).map(|(a, b)| (*a as f64) * (*b as f64)));
    terms.fold((0.0, 0.0), |(l, m), t| (l + t, m + t.abs()))
}

//! Element-wise activations and the softmax family, forward and backward, with PyTorch's
//! definitions (including at the kinks: each derivative is the one autograd uses).
//!
//! The transcendental ones (sigmoid, SiLU, GELU) use `exp` and `erf` below: float32
//! polynomials without branches, so that a loop over a slice compiles to vector code, and the
//! loops are compiled once per instruction set (AVX-512, AVX2 + FMA, portable) and chosen at run
//! time. A value's result is the same wherever it falls in a slice, so outputs do not depend on
//! the batch or the thread count.

use crate::isa::by_isa;
use crate::vector::{madd, PORTABLE_FMA};

/// An element-wise activation, as `nn.ReLU()`, `nn.GELU()`, and so on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// `nn.Identity()`.
    Identity,
    /// `nn.ReLU()`.
    Relu,
    /// `nn.ReLU6()`.
    Relu6,
    /// `nn.LeakyReLU(negative_slope)`.
    LeakyRelu(f32),
    /// `nn.ELU(alpha)`.
    Elu(f32),
    /// `nn.Sigmoid()`.
    Sigmoid,
    /// `nn.Tanh()`.
    Tanh,
    /// `nn.GELU()`, with the exact (erf) form.
    Gelu,
    /// `nn.GELU(approximate='tanh')`.
    GeluTanh,
    /// `nn.SiLU()`.
    Silu,
    /// `nn.Hardswish()`.
    Hardswish,
    /// `nn.Hardsigmoid()`.
    Hardsigmoid,
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

#[inline(always)]
fn sigmoid<const FMA: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp::<FMA>(-x))
}

/// `e^x` in float32, within 2 ulp of the exact value on the range it keeps (Cephes' `expf`:
/// `x = n·ln 2 + r` with `|r| <= ln 2 / 2`, a degree-7 polynomial for `e^r`, and `2^n` put
/// into the exponent bits). Inputs are held to `[-87, 88]`, where `2^n` is a normal float: an
/// activation never needs the tails (`1 / (1 + e^88)` is already below float32's smallest
/// normal number next to 1). NaN stays NaN.
///
/// With `FMA` the multiply-adds are fused (one rounding each, as every path with FMA
/// instructions computes them); without, each rounds twice, as a CPU without them can afford.
#[inline(always)]
pub(crate) fn exp<const FMA: bool>(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two, so that `n · LN2_HI` is exact for the `n` that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = madd::<FMA>(x, LOG2_E, 0.5).floor();
    let r = madd::<FMA>(n, -LN2_LO, madd::<FMA>(n, -LN2_HI, x));
    let mut p = 1.987_569_1e-4f32;
    p = madd::<FMA>(p, r, 1.398_199_9e-3);
    p = madd::<FMA>(p, r, 8.333_452e-3);
    p = madd::<FMA>(p, r, 4.166_579_6e-2);
    p = madd::<FMA>(p, r, 1.666_666_5e-1);
    p = madd::<FMA>(p, r, 0.5);
    let e_r = madd::<FMA>(p, r * r, r) + 1.0;
    // `n` is in [-126, 127] (NaN converts to 0 and the NaN of `e_r` carries through).
    e_r * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `erf(x)` in float32 to within 4e-7 (the formula's 1.5e-7 and float32 rounding), as PyTorch's vectorized CPU kernels compute it
/// (Abramowitz and Stegun 7.1.26: `1 - t·P(t)·e^{-x²}` with `t = 1 / (1 + p|x|)`, the sign put
/// back). `FMA` as for [`exp`].
#[inline(always)]
pub(crate) fn erf<const FMA: bool>(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / madd::<FMA>(0.327_591_1, a, 1.0);
    let mut p = 1.061_405_4f32;
    p = madd::<FMA>(p, t, -1.453_152);
    p = madd::<FMA>(p, t, 1.421_413_8);
    p = madd::<FMA>(p, t, -0.284_496_74);
    p = madd::<FMA>(p, t, 0.254_829_6);
    let y = 1.0 - p * t * exp::<FMA>(-a * a);
    y.copysign(x)
}

impl Act {
    /// The activation of one value (its polynomials' multiply-adds fused, as every path with
    /// FMA instructions computes them).
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        self.apply_with::<true>(x)
    }

    /// [`Act::apply`], its multiply-adds fused only with `FMA`.
    #[inline(always)]
    pub(crate) fn apply_with<const FMA: bool>(self, x: f32) -> f32 {
        match self {
            Act::Identity => x,
            // Selects rather than `max`, so NaN stays NaN as in PyTorch.
            Act::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Act::Relu6 => x.clamp(0.0, 6.0),
            Act::LeakyRelu(slope) => {
                if x > 0.0 {
                    x
                } else {
                    x * slope
                }
            }
            Act::Elu(alpha) => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x.exp_m1()
                }
            }
            Act::Sigmoid => sigmoid::<FMA>(x),
            Act::Tanh => x.tanh(),
            Act::Gelu => 0.5 * x * (1.0 + erf::<FMA>(x * std::f32::consts::FRAC_1_SQRT_2)),
            Act::GeluTanh => {
                let x = x as f64;
                (0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh())) as f32
            }
            Act::Silu => x * sigmoid::<FMA>(x),
            Act::Hardswish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Act::Hardsigmoid => (x + 3.0).clamp(0.0, 6.0) / 6.0,
        }
    }

    /// The derivative at input `x` whose output was `y`, as autograd defines it (multiply-adds
    /// fused, as in [`Act::apply`]).
    #[inline(always)]
    pub fn derivative(self, x: f32, y: f32) -> f32 {
        self.derivative_with::<true>(x, y)
    }

    /// [`Act::derivative`], its multiply-adds fused only with `FMA`.
    #[inline(always)]
    pub(crate) fn derivative_with<const FMA: bool>(self, x: f32, y: f32) -> f32 {
        match self {
            Act::Identity => 1.0,
            Act::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::Relu6 => {
                if x > 0.0 && x < 6.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::LeakyRelu(slope) => {
                if x > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            Act::Elu(alpha) => {
                if x > 0.0 {
                    1.0
                } else {
                    y + alpha
                }
            }
            Act::Sigmoid => y * (1.0 - y),
            Act::Tanh => 1.0 - y * y,
            Act::Gelu => {
                let cdf = 0.5 * (1.0 + erf::<FMA>(x * std::f32::consts::FRAC_1_SQRT_2));
                cdf + x * FRAC_1_SQRT_2PI * exp::<FMA>(-0.5 * x * x)
            }
            Act::GeluTanh => {
                let x = x as f64;
                let inner = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
                let t = inner.tanh();
                (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x)) as f32
            }
            Act::Silu => {
                let s = sigmoid::<FMA>(x);
                s * (1.0 + x * (1.0 - s))
            }
            Act::Hardswish => {
                if x < -3.0 {
                    0.0
                } else if x <= 3.0 {
                    x / 3.0 + 0.5
                } else {
                    1.0
                }
            }
            Act::Hardsigmoid => {
                if x > -3.0 && x < 3.0 {
                    1.0 / 6.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// Runs `f` with `act` as a loop body; the dispatch happens once, outside the loop, so each
/// loop is compiled for one activation.
macro_rules! dispatch {
    ($act:expr, |$a:ident| $body:expr) => {
        match $act {
            Act::Identity => {
                let $a = Act::Identity;
                $body
            }
            Act::Relu => {
                let $a = Act::Relu;
                $body
            }
            Act::Relu6 => {
                let $a = Act::Relu6;
                $body
            }
            a @ (Act::LeakyRelu(_) | Act::Elu(_)) => {
                let $a = a;
                $body
            }
            Act::Sigmoid => {
                let $a = Act::Sigmoid;
                $body
            }
            Act::Tanh => {
                let $a = Act::Tanh;
                $body
            }
            Act::Gelu => {
                let $a = Act::Gelu;
                $body
            }
            Act::GeluTanh => {
                let $a = Act::GeluTanh;
                $body
            }
            Act::Silu => {
                let $a = Act::Silu;
                $body
            }
            Act::Hardswish => {
                let $a = Act::Hardswish;
                $body
            }
            Act::Hardsigmoid => {
                let $a = Act::Hardsigmoid;
                $body
            }
        }
    };
}

/// Elements a kernel computes before it runs [`act_in_place`] over them, while they are in L1:
/// the activation's loop is compiled for the path's instruction set (its polynomials fused where
/// the path has FMA), which a loop of the caller's, compiled for none, would not be. Merges and
/// batch norm's scale and shift work in runs of this size.
pub(crate) const ACT_RUN: usize = 2048;

/// `x = act(x)` in place.
#[inline]
pub fn act_in_place(act: Act, x: &mut [f32]) {
    if act == Act::Identity {
        return;
    }
    by_isa!(in_place_avx512, in_place_avx2, in_place::<PORTABLE_FMA>(act, x));
}

/// `y = act(x)`.
///
/// # Panics
/// If the slices differ in length.
#[track_caller]
#[inline]
pub fn act_forward(act: Act, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "act_forward: input and output differ in length");
    by_isa!(forward_avx512, forward_avx2, forward::<PORTABLE_FMA>(act, x, y));
}

/// The backward pass of `y = act(x)`: `dx = dy · act'(x)`, written to `dx`, or added to it when
/// `accumulate`.
///
/// # Panics
/// If the slices differ in length.
#[track_caller]
#[inline]
pub fn act_backward(act: Act, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], accumulate: bool) {
    let n = dx.len();
    assert!(x.len() == n && y.len() == n && dy.len() == n, "act_backward: slices differ in length");
    by_isa!(backward_avx512, backward_avx2, backward::<PORTABLE_FMA>(act, x, y, dy, dx, accumulate));
}

// The loops, written once; inlined into each instruction set's copy below.

// Plain `for` loops rather than `for_each` closures: a closure is a function of its own that
// LLVM may leave out of line, compiled without the caller's vector instructions.

/// [`act_in_place`]'s loop, for kernels compiled for an instruction set to inline, its
/// multiply-adds fused with `FMA` (see [`exp`]).
#[inline(always)]
pub(crate) fn in_place<const FMA: bool>(act: Act, x: &mut [f32]) {
    dispatch!(act, |a| {
        for v in x.iter_mut() {
            *v = a.apply_with::<FMA>(*v);
        }
    });
}

#[inline(always)]
fn forward<const FMA: bool>(act: Act, x: &[f32], y: &mut [f32]) {
    dispatch!(act, |a| {
        for (y, x) in y.iter_mut().zip(x) {
            *y = a.apply_with::<FMA>(*x);
        }
    });
}

#[inline(always)]
fn backward<const FMA: bool>(act: Act, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], accumulate: bool) {
    dispatch!(act, |a| {
        let it = dx.iter_mut().zip(x.iter().zip(y)).zip(dy);
        if accumulate {
            for ((d, (x, y)), g) in it {
                *d += g * a.derivative_with::<FMA>(*x, *y);
            }
        } else {
            for ((d, (x, y)), g) in it {
                *d = g * a.derivative_with::<FMA>(*x, *y);
            }
        }
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Act;

    macro_rules! versions {
        ($feature:literal, $in_place:ident, $forward:ident, $backward:ident) => {
            /// # Safety
            /// The CPU must have the target feature.
            #[target_feature(enable = $feature)]
            pub unsafe fn $in_place(act: Act, x: &mut [f32]) {
                super::in_place::<true>(act, x)
            }

            /// # Safety
            /// The CPU must have the target feature.
            #[target_feature(enable = $feature)]
            pub unsafe fn $forward(act: Act, x: &[f32], y: &mut [f32]) {
                super::forward::<true>(act, x, y)
            }

            /// # Safety
            /// The CPU must have the target feature.
            #[target_feature(enable = $feature)]
            pub unsafe fn $backward(act: Act, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], accumulate: bool) {
                super::backward::<true>(act, x, y, dy, dx, accumulate)
            }
        };
    }

    versions!("avx512f", in_place_avx512, forward_avx512, backward_avx512);
    versions!("avx2,fma", in_place_avx2, forward_avx2, backward_avx2);
}

/// `x = max(x, 0)` in place; NaN stays NaN, as in `torch.relu`.
#[inline]
pub fn relu_in_place(x: &mut [f32]) {
    act_in_place(Act::Relu, x);
}

/// `softmax` (or `log_softmax` when `log`) over the `c` channels at each of the `plane`
/// positions of `n` samples laid out `[n, c, plane]`, as `dim=1` does in PyTorch.
///
/// # Panics
/// If a slice is shorter than `n · c · plane`.
#[track_caller]
pub fn softmax_forward(n: usize, c: usize, plane: usize, log: bool, x: &[f32], y: &mut [f32]) {
    let len = c * plane;
    assert!(x.len() >= n * len && y.len() >= n * len, "softmax_forward: slices shorter than {n} x {len}");
    for s in 0..n {
        let (x, y) = (&x[s * len..(s + 1) * len], &mut y[s * len..(s + 1) * len]);
        for p in 0..plane {
            let max = (0..c).map(|k| x[k * plane + p]).fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = (0..c).map(|k| ((x[k * plane + p] - max) as f64).exp()).sum();
            if log {
                let lse = sum.ln() as f32;
                (0..c).for_each(|k| y[k * plane + p] = x[k * plane + p] - max - lse);
            } else {
                (0..c).for_each(|k| y[k * plane + p] = (((x[k * plane + p] - max) as f64).exp() / sum) as f32);
            }
        }
    }
}

/// The backward pass of [`softmax_forward`] from its output `y`: `dx = y (dy - Σ dy·y)` for
/// softmax, `dx = dy - exp(y) Σ dy` for log-softmax; written to `dx`, or added when
/// `accumulate`.
///
/// # Panics
/// If a slice is shorter than `n · c · plane`.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn softmax_backward(
    n: usize,
    c: usize,
    plane: usize,
    log: bool,
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    let len = c * plane;
    assert!(
        y.len() >= n * len && dy.len() >= n * len && dx.len() >= n * len,
        "softmax_backward: slices shorter than {n} x {len}"
    );
    for s in 0..n {
        let at = s * len;
        for p in 0..plane {
            let idx = |k: usize| at + k * plane + p;
            let sum: f64 = if log {
                (0..c).map(|k| dy[idx(k)] as f64).sum()
            } else {
                (0..c).map(|k| dy[idx(k)] as f64 * y[idx(k)] as f64).sum()
            };
            for k in 0..c {
                let i = idx(k);
                let g = if log {
                    (dy[i] as f64 - (y[i] as f64).exp() * sum) as f32
                } else {
                    (y[i] as f64 * (dy[i] as f64 - sum)) as f32
                };
                if accumulate {
                    dx[i] += g;
                } else {
                    dx[i] = g;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_clamps_negatives_keeps_nan() {
        let mut x = [-1.5, 0.0, 2.0, f32::NAN, -0.0, f32::NEG_INFINITY];
        relu_in_place(&mut x);
        assert_eq!(&x[..3], &[0.0, 0.0, 2.0]);
        assert!(x[3].is_nan());
        assert_eq!(x[5], 0.0);
        let mut g = [0.0; 4];
        act_backward(
            Act::Relu,
            &[0.5, 0.0, -1.0, f32::NAN],
            &[0.5, 0.0, 0.0, f32::NAN],
            &[1.0, 2.0, 3.0, 4.0],
            &mut g,
            false,
        );
        assert_eq!(g, [1.0, 0.0, 0.0, 0.0]);
    }

    /// Values of each activation from its definition in PyTorch's documentation, computed in
    /// float64 with Python's `math` module.
    #[test]
    fn values_match_the_definitions() {
        let xs = [-4.0f32, -1.0, -0.25, 0.5, 2.0, 7.0];
        let cases: &[(Act, [f64; 6])] = &[
            (Act::Relu6, [0.0, 0.0, 0.0, 0.5, 2.0, 6.0]),
            (Act::LeakyRelu(0.01), [-0.04, -0.01, -0.0025, 0.5, 2.0, 7.0]),
            (Act::Elu(1.0), [-0.9816843611112658, -0.6321205588285577, -0.22119921692859512, 0.5, 2.0, 7.0]),
            (
                Act::Sigmoid,
                [
                    0.01798620996209156,
                    0.2689414213699951,
                    0.43782349911420193,
                    0.6224593312018546,
                    0.8807970779778823,
                    0.9990889488055994,
                ],
            ),
            (
                Act::Tanh,
                [
                    -0.999329299739067,
                    -0.7615941559557649,
                    -0.24491866240370913,
                    0.46211715726000974,
                    0.9640275800758169,
                    0.9999983369439447,
                ],
            ),
            (
                Act::Gelu,
                [
                    -0.00012668496733247991,
                    -0.15865525393145707,
                    -0.10032341857926907,
                    0.34573123063700656,
                    1.9544997361036416,
                    6.999999999991041,
                ],
            ),
            (
                Act::GeluTanh,
                [
                    -7.024594819227126e-05,
                    -0.15880800939172324,
                    -0.100324649298315,
                    0.34571400982514394,
                    1.954597694087775,
                    6.999999999999997,
                ],
            ),
            (
                Act::Silu,
                [
                    -0.07194483984836623,
                    -0.2689414213699951,
                    -0.10945587477855048,
                    0.3112296656009273,
                    1.7615941559557646,
                    6.993622641639195,
                ],
            ),
            (
                Act::Hardswish,
                [-0.0, -0.3333333333333333, -0.11458333333333333, 0.2916666666666667, 1.6666666666666667, 7.0],
            ),
            (
                Act::Hardsigmoid,
                [0.0, 0.3333333333333333, 0.4583333333333333, 0.5833333333333334, 0.8333333333333334, 1.0],
            ),
        ];
        for (act, want) in cases {
            for (x, w) in xs.iter().zip(want) {
                let got = act.apply(*x) as f64;
                assert!((got - w).abs() <= 1e-6 * (1.0 + w.abs()), "{act:?}({x}) = {got}, want {w}");
            }
        }
    }

    /// `exp` and `erf` against float64 over a sweep of their range (every 1/64 from -87 to 88
    /// for `exp`, every 1/256 over [-6, 6] for `erf`), and the edges.
    #[test]
    fn exp_and_erf_match_float64() {
        fn check<const FMA: bool>() {
            let mut worst = 0.0f64;
            for i in -87 * 64..88 * 64 {
                let x = i as f32 / 64.0 + 1e-3;
                let want = (x as f64).exp();
                let rel = (exp::<FMA>(x) as f64 - want).abs() / want;
                worst = worst.max(rel);
            }
            assert!(worst < 2.5e-7, "exp (fused: {FMA}): worst relative error {worst}");
            assert!(exp::<FMA>(f32::NAN).is_nan());
            assert_eq!(exp::<FMA>(0.0), 1.0);
            assert!(exp::<FMA>(-1000.0) < 1e-37 && exp::<FMA>(1000.0) > 1e38);
            let mut worst = 0.0f64;
            for i in -6 * 256..=6 * 256 {
                let x = i as f32 / 256.0;
                worst = worst.max((erf::<FMA>(x) as f64 - libm::erf(x as f64)).abs());
            }
            assert!(worst < 5e-7, "erf (fused: {FMA}): worst absolute error {worst}");
            assert_eq!(erf::<FMA>(f32::INFINITY), 1.0);
            assert_eq!(erf::<FMA>(f32::NEG_INFINITY), -1.0);
        }
        check::<true>();
        check::<false>();
    }

    /// The slice kernels (compiled for the path `CNN_ISA` picks) give each value the bits
    /// `Act::apply` and `Act::derivative` give it alone, forward and backward, with the path's
    /// fusing of multiply-adds.
    #[test]
    fn slice_kernels_equal_the_scalar_definitions_bit_for_bit() {
        let xs: Vec<f32> = (0..1003).map(|i| (i as f32 - 501.0) * 0.037).chain([f32::NAN, 90.0, -90.0]).collect();
        let dy: Vec<f32> = (0..xs.len()).map(|i| 1.0 - (i % 7) as f32 * 0.3).collect();
        for act in [Act::Sigmoid, Act::Silu, Act::Gelu, Act::GeluTanh, Act::Tanh, Act::Elu(0.5), Act::Hardswish] {
            let mut y = vec![0.0; xs.len()];
            act_forward(act, &xs, &mut y);
            let mut z = xs.clone();
            act_in_place(act, &mut z);
            let mut dx = vec![0.0; xs.len()];
            act_backward(act, &xs, &y, &dy, &mut dx, false);
            // NaN is compared as NaN: vector and scalar code may give it another sign bit.
            let bits = |v: f32| if v.is_nan() { f32::NAN.to_bits() } else { v.to_bits() };
            // The portable path fuses its multiply-adds only where the target has FMA.
            let fused = crate::isa() != crate::Isa::Portable || PORTABLE_FMA;
            for i in 0..xs.len() {
                let (want, d) = if fused {
                    let want = act.apply(xs[i]);
                    (want, act.derivative(xs[i], want))
                } else {
                    let want = act.apply_with::<false>(xs[i]);
                    (want, act.derivative_with::<false>(xs[i], want))
                };
                assert_eq!(bits(y[i]), bits(want), "{act:?}({})", xs[i]);
                assert_eq!(bits(z[i]), bits(want), "{act:?}({}) in place", xs[i]);
                let g = dy[i] * d;
                assert_eq!(bits(dx[i]), bits(g), "{act:?}'({})", xs[i]);
            }
        }
    }

    /// Each derivative against a central difference of `apply` in float64, away from the kinks.
    #[test]
    fn derivatives_match_central_differences() {
        let acts = [
            Act::Relu,
            Act::Relu6,
            Act::LeakyRelu(0.2),
            Act::Elu(0.7),
            Act::Sigmoid,
            Act::Tanh,
            Act::Gelu,
            Act::GeluTanh,
            Act::Silu,
            Act::Hardswish,
            Act::Hardsigmoid,
            Act::Identity,
        ];
        let xs = [-5.1f32, -2.9, -1.3, -0.6, -0.1, 0.2, 0.9, 2.7, 3.3, 5.8, 6.4];
        for act in acts {
            for &x in &xs {
                let h = 1e-3f32;
                let numeric = (act.apply(x + h) as f64 - act.apply(x - h) as f64) / (2.0 * h as f64);
                let analytic = act.derivative(x, act.apply(x)) as f64;
                assert!(
                    (numeric - analytic).abs() <= 2e-3 * (1.0 + analytic.abs()),
                    "{act:?}'({x}): {analytic} vs {numeric}"
                );
            }
        }
    }

    #[test]
    fn softmax_and_its_backward() {
        // Two samples, 3 channels, 2 positions.
        let x = [1.0f32, -2.0, 0.5, 0.0, 3.0, 1.0, 0.2, 0.3, -0.4, 0.1, 2.0, -1.0];
        for log in [false, true] {
            let mut y = [0.0; 12];
            softmax_forward(2, 3, 2, log, &x, &mut y);
            for s in 0..2 {
                for p in 0..2 {
                    let v: Vec<f64> = (0..3).map(|k| x[s * 6 + k * 2 + p] as f64).collect();
                    let z: f64 = v.iter().map(|a| a.exp()).sum();
                    for k in 0..3 {
                        let want = if log { v[k] - z.ln() } else { v[k].exp() / z };
                        assert!((y[s * 6 + k * 2 + p] as f64 - want).abs() < 1e-6);
                    }
                }
            }
            // Backward against finite differences of L = Σ c·y.
            let c = [0.3f32, -1.0, 0.7, 0.2, 0.5, -0.4, 1.1, 0.0, -0.6, 0.9, 0.25, 0.8];
            let mut dx = [1.0; 12];
            softmax_backward(2, 3, 2, log, &y, &c, &mut dx, true);
            for i in 0..12 {
                let loss = |d: f32| {
                    let mut xp = x;
                    xp[i] += d;
                    let mut yp = [0.0; 12];
                    softmax_forward(2, 3, 2, log, &xp, &mut yp);
                    yp.iter().zip(&c).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>()
                };
                let numeric = (loss(1e-3) - loss(-1e-3)) / 2e-3;
                assert!((dx[i] as f64 - 1.0 - numeric).abs() < 1e-3, "log={log} [{i}]: {} vs {numeric}", dx[i] - 1.0);
            }
        }
    }
}

//! Learning-rate schedules with PyTorch's rules and defaults (`torch.optim.lr_scheduler`).
//!
//! Each schedule answers `lr_at(step)`: the learning rate PyTorch's `scheduler.get_last_lr()[0]`
//! reports after `step` calls of `scheduler.step()`, so `lr_at(0)` is the first one. Where
//! PyTorch computes a rate from the previous one, the linear ramp runs the same recursion here,
//! in `f64` as in Python, and cosine annealing the closed form that recursion telescopes to (in
//! O(1) for any step), so steps past the end match too.
//!
//! ```
//! use cnn_runtime::lr::{CosineAnnealingLr, Schedule};
//! use cnn_runtime::{Optimizer, Sgd};
//!
//! let schedule = CosineAnnealingLr::new(0.1, 10, 0.0);
//! let mut opt = Sgd::new(schedule.lr_at(0)).momentum(0.9);
//! for step in 0..10 {
//!     opt.set_lr(schedule.lr_at(step)); // then train with opt for one epoch (or one batch)
//! }
//! assert!((schedule.lr_at(5) - 0.05).abs() < 1e-7);
//! ```

use std::f64::consts::PI;

/// `base` to the power `n` by repeated squaring: for `n` below 2^31 the very products of
/// `f64::powi` (LLVM's `__powidf2`), and for larger `n` the same rule, where `powi`'s `i32`
/// exponent would wrap.
fn pow_u64(mut base: f64, mut n: u64) -> f64 {
    let mut r = 1.0;
    loop {
        if n & 1 == 1 {
            r *= base;
        }
        n >>= 1;
        if n == 0 {
            return r;
        }
        base *= base;
    }
}

/// A learning-rate schedule: the rate after `step` scheduler steps.
pub trait Schedule {
    /// The learning rate after `step` calls of PyTorch's `scheduler.step()`; `lr_at(0)` is the
    /// first.
    fn lr_at(&self, step: usize) -> f32;
}

/// `StepLR(optimizer, step_size, gamma)`: the rate times `gamma` every `step_size` steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLr {
    base_lr: f64,
    step_size: usize,
    gamma: f64,
}

impl StepLr {
    /// # Panics
    /// If `step_size` is 0.
    #[track_caller]
    pub fn new(base_lr: f32, step_size: usize, gamma: f32) -> Self {
        assert!(step_size > 0, "StepLr: step_size must be at least 1");
        StepLr { base_lr: base_lr as f64, step_size, gamma: gamma as f64 }
    }
}

impl Schedule for StepLr {
    fn lr_at(&self, step: usize) -> f32 {
        (self.base_lr * pow_u64(self.gamma, (step / self.step_size) as u64)) as f32
    }
}

/// `MultiStepLR(optimizer, milestones, gamma)`: the rate times `gamma` at each milestone.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepLr {
    base_lr: f64,
    milestones: Vec<usize>,
    gamma: f64,
}

impl MultiStepLr {
    /// Milestones in any order; a repeated one counts as often as it is given, as in PyTorch.
    pub fn new(base_lr: f32, milestones: &[usize], gamma: f32) -> Self {
        let mut milestones = milestones.to_vec();
        milestones.sort_unstable();
        MultiStepLr { base_lr: base_lr as f64, milestones, gamma: gamma as f64 }
    }
}

impl Schedule for MultiStepLr {
    fn lr_at(&self, step: usize) -> f32 {
        let passed = self.milestones.partition_point(|&m| m <= step);
        (self.base_lr * pow_u64(self.gamma, passed as u64)) as f32
    }
}

/// `ExponentialLR(optimizer, gamma)`: the rate times `gamma` every step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExponentialLr {
    base_lr: f64,
    gamma: f64,
}

impl ExponentialLr {
    pub fn new(base_lr: f32, gamma: f32) -> Self {
        ExponentialLr { base_lr: base_lr as f64, gamma: gamma as f64 }
    }
}

impl Schedule for ExponentialLr {
    fn lr_at(&self, step: usize) -> f32 {
        (self.base_lr * pow_u64(self.gamma, step as u64)) as f32
    }
}

/// `CosineAnnealingLR(optimizer, T_max, eta_min)`: half a cosine from the base rate down to
/// `eta_min` over `t_max` steps, then back up, as PyTorch's recursive rule (each rate from the
/// previous one) gives it, so steps past `t_max` match as well; in O(1) for any step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineAnnealingLr {
    base_lr: f64,
    t_max: usize,
    eta_min: f64,
}

impl CosineAnnealingLr {
    /// # Panics
    /// If `t_max` is 0.
    #[track_caller]
    pub fn new(base_lr: f32, t_max: usize, eta_min: f32) -> Self {
        assert!(t_max > 0, "CosineAnnealingLr: t_max must be at least 1");
        CosineAnnealingLr { base_lr: base_lr as f64, t_max, eta_min: eta_min as f64 }
    }
}

impl Schedule for CosineAnnealingLr {
    /// PyTorch's recursion telescopes: each rate is the previous one scaled by the ratio of
    /// consecutive points of `eta_min + (base - eta_min)(1 + cos(π e / T)) / 2`, and where that
    /// ratio is undefined (just past a minimum) it restarts from that point. So the rate after
    /// `step` steps is the point itself, found in O(1); it equals the recursion's value up to
    /// the recursion's own rounding (a few ulps per step).
    fn lr_at(&self, step: usize) -> f32 {
        // cos is 2T-periodic in e: reduce first, so a huge step loses no precision.
        // In u128: `2 * t_max` overflows u64 for `t_max` past 2^63.
        let e = (step as u128 % (2 * self.t_max as u128)) as f64;
        let (t_max, eta) = (self.t_max as f64, self.eta_min);
        (eta + (self.base_lr - eta) * (1.0 + (PI * e / t_max).cos()) / 2.0) as f32
    }
}

/// `OneCycleLR(optimizer, max_lr, total_steps)`: a cosine warm-up from `max_lr / div_factor` to
/// `max_lr` over the first `pct_start` of the steps, then a cosine decay to
/// `max_lr / div_factor / final_div_factor` (or, with `three_phase`, back down to the initial
/// rate and then to the minimum). PyTorch's defaults: `pct_start` 0.3, `div_factor` 25,
/// `final_div_factor` 1e4, two phases. Only the rate: PyTorch also cycles the momentum
/// (`cycle_momentum=True`), which this schedule leaves to the caller.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneCycleLr {
    max_lr: f64,
    total_steps: usize,
    pct_start: f64,
    div_factor: f64,
    final_div_factor: f64,
    three_phase: bool,
}

impl OneCycleLr {
    /// # Panics
    /// If `total_steps` is 0.
    #[track_caller]
    pub fn new(max_lr: f32, total_steps: usize) -> Self {
        assert!(total_steps > 0, "OneCycleLr: total_steps must be at least 1");
        let schedule = OneCycleLr {
            max_lr: max_lr as f64,
            total_steps,
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        };
        schedule.check_first_phase();
        schedule
    }
    /// The share of the steps spent warming up (PyTorch `pct_start`, default 0.3).
    ///
    /// # Panics
    /// If it is outside `[0, 1]`, or it leaves the warm-up no steps (`pct_start · total_steps
    /// == 1`), where PyTorch's first step divides by zero.
    #[track_caller]
    pub fn pct_start(mut self, pct_start: f32) -> Self {
        assert!((0.0..=1.0).contains(&pct_start), "OneCycleLr: pct_start must be in [0, 1], got {pct_start}");
        self.pct_start = pct_start as f64;
        self.check_first_phase();
        self
    }
    /// The first rate is `max_lr / div_factor` (PyTorch `div_factor`, default 25).
    ///
    /// # Panics
    /// If it is 0 (PyTorch's division by it raises) or NaN.
    #[track_caller]
    pub fn div_factor(mut self, div_factor: f32) -> Self {
        assert!(
            div_factor != 0.0 && !div_factor.is_nan(),
            "OneCycleLr: div_factor must not be 0 or NaN (the first rate is max_lr / div_factor), got {div_factor}"
        );
        self.div_factor = div_factor as f64;
        self
    }
    /// The last rate is the first divided by this (PyTorch `final_div_factor`, default 1e4).
    ///
    /// # Panics
    /// If it is 0 (PyTorch's division by it raises) or NaN.
    #[track_caller]
    pub fn final_div_factor(mut self, final_div_factor: f32) -> Self {
        assert!(
            final_div_factor != 0.0 && !final_div_factor.is_nan(),
            "OneCycleLr: final_div_factor must not be 0 or NaN (the last rate is the first / final_div_factor), got {final_div_factor}"
        );
        self.final_div_factor = final_div_factor as f64;
        self
    }
    /// Three phases: up, back down to the first rate, then down to the minimum (PyTorch
    /// `three_phase`, default false).
    pub fn three_phase(mut self, three_phase: bool) -> Self {
        self.three_phase = three_phase;
        self
    }

    /// The last step of each phase, with the rates it goes from and to.
    fn phases(&self) -> ([(f64, f64, f64); 3], usize) {
        let initial = self.max_lr / self.div_factor;
        let min = initial / self.final_div_factor;
        let total = self.total_steps as f64;
        let warm_end = self.pct_start * total - 1.0;
        if self.three_phase {
            let down_end = 2.0 * self.pct_start * total - 2.0;
            ([(warm_end, initial, self.max_lr), (down_end, self.max_lr, initial), (total - 1.0, initial, min)], 3)
        } else {
            ([(warm_end, initial, self.max_lr), (total - 1.0, self.max_lr, min), (0.0, 0.0, 0.0)], 2)
        }
    }

    /// PyTorch computes the first rate when it is built; a warm-up of no steps makes that a
    /// division by zero (`ZeroDivisionError`), refused here at once.
    #[track_caller]
    fn check_first_phase(&self) {
        let warm_end = self.phases().0[0].0;
        assert!(
            warm_end != 0.0,
            "OneCycleLr: pct_start {} of total_steps {} leaves the warm-up no steps (pct_start * total_steps - 1 == 0), \
             where PyTorch divides by zero",
            self.pct_start as f32,
            self.total_steps
        );
    }
}

impl Schedule for OneCycleLr {
    /// # Panics
    /// If `step` is past `total_steps`, as PyTorch refuses to step further, or falls in a phase
    /// of no steps (the last step with `pct_start(1.0)`), where PyTorch divides by zero.
    #[track_caller]
    fn lr_at(&self, step: usize) -> f32 {
        assert!(step <= self.total_steps, "OneCycleLr: step {step} is past total_steps {}", self.total_steps);
        let (all, count) = self.phases();
        let phases = &all[..count];
        let at = step;
        let step = step as f64;
        let mut start_step = 0.0;
        for (i, &(end_step, from, to)) in phases.iter().enumerate() {
            if step <= end_step || i == phases.len() - 1 {
                assert!(
                    end_step != start_step,
                    "OneCycleLr: step {at} falls in phase {} of the schedule, which has no steps \
                     (it ends where the one before it does, at {end_step}); PyTorch divides by zero there",
                    i + 1
                );
                let pct = (step - start_step) / (end_step - start_step);
                return (to + (from - to) / 2.0 * ((PI * pct).cos() + 1.0)) as f32;
            }
            start_step = end_step;
        }
        unreachable!("the last phase takes every step")
    }
}

/// `LinearLR(optimizer, start_factor, end_factor, total_iters)`: the base rate times a factor
/// going linearly from `start_factor` to `end_factor` over `total_iters` steps, then constant,
/// with PyTorch's recursive rule. PyTorch's defaults are `1/3`, `1.0` and `5`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearLr {
    base_lr: f64,
    start_factor: f64,
    end_factor: f64,
    total_iters: usize,
}

impl LinearLr {
    /// # Panics
    /// If `start_factor` is not in `(0, 1]` or `end_factor` not in `[0, 1]`, as PyTorch refuses.
    #[track_caller]
    pub fn new(base_lr: f32, start_factor: f32, end_factor: f32, total_iters: usize) -> Self {
        assert!(
            start_factor > 0.0 && start_factor <= 1.0,
            "LinearLr: start_factor must be in (0, 1], got {start_factor}"
        );
        assert!((0.0..=1.0).contains(&end_factor), "LinearLr: end_factor must be in [0, 1], got {end_factor}");
        LinearLr {
            base_lr: base_lr as f64,
            start_factor: start_factor as f64,
            end_factor: end_factor as f64,
            total_iters,
        }
    }
}

impl Schedule for LinearLr {
    /// PyTorch's recursion multiplies by `(n s + k (e - s)) / (n s + (k - 1)(e - s))` at step
    /// `k`, which telescopes: after `k` steps the factor is `s + (e - s) k / n`, found in O(1)
    /// for any step (the recursion's value up to its own rounding).
    fn lr_at(&self, step: usize) -> f32 {
        let (s, e, n) = (self.start_factor, self.end_factor, self.total_iters as f64);
        if self.total_iters == 0 {
            // No ramp: PyTorch's recursion leaves the first rate as it is.
            return (self.base_lr * s) as f32;
        }
        let k = step.min(self.total_iters) as f64;
        (self.base_lr * (s + (e - s) * (k / n))) as f32
    }
}

//! Every learning-rate schedule against PyTorch's own sequence (`tools/gen_lr_fixtures.py`):
//! `lr_at(0..30)` equals `get_last_lr()[0]` after 0..30 `scheduler.step()` calls, two settings
//! each, within 1e-6 relative.

mod common;

use cnn::lr::{CosineAnnealingLr, ExponentialLr, LinearLr, MultiStepLr, OneCycleLr, Schedule, StepLr};
use common::Fixture;

#[test]
fn schedules_match_pytorch() {
    let f = Fixture::open("lr_schedules.safetensors");
    let cases: Vec<(&str, Box<dyn Schedule>)> = vec![
        ("step_a", Box::new(StepLr::new(0.1, 3, 0.5))),
        ("step_b", Box::new(StepLr::new(0.05, 7, 0.9))),
        ("multistep_a", Box::new(MultiStepLr::new(0.1, &[5, 10, 20], 0.1))),
        ("multistep_b", Box::new(MultiStepLr::new(0.3, &[15, 2, 2], 0.5))),
        ("exponential_a", Box::new(ExponentialLr::new(0.1, 0.9))),
        ("exponential_b", Box::new(ExponentialLr::new(1.0, 0.75))),
        ("cosine_a", Box::new(CosineAnnealingLr::new(0.1, 10, 0.0))),
        ("cosine_b", Box::new(CosineAnnealingLr::new(0.05, 7, 0.001))),
        ("onecycle_a", Box::new(OneCycleLr::new(0.1, 30))),
        (
            "onecycle_b",
            Box::new(
                OneCycleLr::new(0.5, 40).pct_start(0.25).div_factor(10.0).final_div_factor(100.0).three_phase(true),
            ),
        ),
        ("linear_a", Box::new(LinearLr::new(0.1, 1.0 / 3.0, 1.0, 5))),
        ("linear_b", Box::new(LinearLr::new(0.2, 0.5, 0.1, 12))),
    ];
    for (name, schedule) in cases {
        let (shape, want) = f.f32(name);
        assert_eq!(shape, [30]);
        for (step, &w) in want.iter().enumerate() {
            let got = schedule.lr_at(step);
            assert!((got - w).abs() <= 1e-6 * w.abs(), "{name} step {step}: {got} vs PyTorch {w}");
        }
    }
}

#[test]
#[should_panic(expected = "OneCycleLr: step 31 is past total_steps 30")]
fn one_cycle_stops_where_pytorch_does() {
    OneCycleLr::new(0.1, 30).lr_at(31);
}

/// Optimizers take a schedule's rate through `set_lr`.
#[test]
fn optimizers_follow_a_schedule() {
    use cnn::prelude::*;
    let schedule = StepLr::new(0.1, 2, 0.5);
    let mut opt = Sgd::new(schedule.lr_at(0));
    let mut p = [1.0f32];
    for step in 0..4 {
        opt.set_lr(schedule.lr_at(step));
        assert_eq!(opt.lr(), schedule.lr_at(step));
        opt.step(&mut p, &[1.0]);
    }
    assert!((p[0] - (1.0 - 0.1 - 0.1 - 0.05 - 0.05)).abs() < 1e-6);
}

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let e = std::panic::catch_unwind(f).unwrap_err();
    e.downcast_ref::<String>().cloned().unwrap_or_default()
}

/// Where PyTorch's OneCycleLR divides by zero, the schedule refuses, with the values.
#[test]
fn one_cycle_refuses_what_pytorch_cannot_compute() {
    assert_eq!(
        panic_message(|| {
            OneCycleLr::new(0.1, 2).pct_start(0.5);
        }),
        "OneCycleLr: pct_start 0.5 of total_steps 2 leaves the warm-up no steps (pct_start * total_steps - 1 == 0), \
         where PyTorch divides by zero"
    );
    assert_eq!(
        panic_message(|| {
            OneCycleLr::new(0.1, 10).div_factor(0.0);
        }),
        "OneCycleLr: div_factor must not be 0 or NaN (the first rate is max_lr / div_factor), got 0"
    );
    assert_eq!(
        panic_message(|| {
            OneCycleLr::new(0.1, 10).final_div_factor(0.0);
        }),
        "OneCycleLr: final_div_factor must not be 0 or NaN (the last rate is the first / final_div_factor), got 0"
    );
    // A warm-up over every step leaves the decay none: its steps are fine, the last one is not.
    let all_warm = OneCycleLr::new(0.1, 10).pct_start(1.0);
    assert!((all_warm.lr_at(9) - 0.1).abs() < 1e-9);
    assert_eq!(
        panic_message(|| {
            all_warm.lr_at(10);
        }),
        "OneCycleLr: step 10 falls in phase 2 of the schedule, which has no steps (it ends where the one before \
         it does, at 9); PyTorch divides by zero there"
    );
    for step in 0..=30 {
        assert!(OneCycleLr::new(0.1, 30).lr_at(step).is_finite());
    }
}

/// The powers of a decay are exact for any step, past the 2^31 where an `i32` exponent wraps.
#[test]
fn decays_are_exact_past_two_to_the_31_steps() {
    let big = 1usize << 31;
    assert_eq!(ExponentialLr::new(0.1, 0.5).lr_at(big), 0.0);
    assert_eq!(ExponentialLr::new(0.1, 1.0).lr_at(big + 12345), 0.1);
    assert_eq!(ExponentialLr::new(0.1, -1.0).lr_at(big), 0.1);
    assert_eq!(StepLr::new(0.1, 1, 0.5).lr_at(big + 1), 0.0);
    assert_eq!(StepLr::new(0.1, big, 0.5).lr_at(2 * big + 1), 0.025);
    // Below it, the same bits as before (`powi`).
    for step in [0, 1, 2, 7, 30, 1000, 123_456] {
        let want = (0.1f32 as f64 * (0.9f32 as f64).powi(step as i32)) as f32;
        assert_eq!(ExponentialLr::new(0.1, 0.9).lr_at(step).to_bits(), want.to_bits(), "step {step}");
    }
}

/// PyTorch's recursion for CosineAnnealingLR, step by step, in f64 as Python runs it.
fn cosine_recursive(base: f64, t_max: usize, eta: f64, steps: usize) -> Vec<f64> {
    let t = t_max as f64;
    let mut lr = base;
    let mut out = vec![lr];
    for e in 1..=steps {
        lr = if (e as i64 - 1 - t_max as i64).rem_euclid(2 * t_max as i64) == 0 {
            lr + (base - eta) * (1.0 - (std::f64::consts::PI / t).cos()) / 2.0
        } else {
            (1.0 + (std::f64::consts::PI * e as f64 / t).cos())
                / (1.0 + (std::f64::consts::PI * (e as f64 - 1.0) / t).cos())
                * (lr - eta)
                + eta
        };
        out.push(lr);
    }
    out
}

/// Cosine annealing answers any step at once, and still equals PyTorch's recursion within
/// 1e-6 (relative to the base rate) over many cycles.
#[test]
fn cosine_annealing_is_constant_time_and_equals_the_recursion() {
    for (base, t_max, eta) in [(0.1f32, 10usize, 0.0f32), (0.05, 7, 0.001), (0.2, 1, 0.01), (0.01, 97, 0.05)] {
        let s = CosineAnnealingLr::new(base, t_max, eta);
        let want = cosine_recursive(base as f64, t_max, eta as f64, 200_000);
        for (step, &w) in want.iter().enumerate() {
            let got = s.lr_at(step) as f64;
            assert!((got - w).abs() <= 1e-6 * base as f64, "T={t_max} step {step}: {got} vs recursion {w}");
        }
        // A step of a run far longer than any loop could walk: one period away from step 3.
        let period = 2 * t_max;
        assert_eq!(s.lr_at(period * 1_000_000_000_000 + 3), s.lr_at(3));
    }
}

/// Every schedule answers any step at once, and the extremes of its arguments do not overflow:
/// `LinearLr` is a closed form (it looped over the steps: seconds at 2^32, no answer near
/// `usize::MAX`), `CosineAnnealingLr` reduces its step modulo `2 t_max` without overflowing.
#[test]
fn huge_steps_and_periods_answer_at_once() {
    let linear = LinearLr::new(0.1, 0.5, 1.0, usize::MAX - 1);
    assert_eq!(linear.lr_at(0), 0.05);
    assert!((linear.lr_at(usize::MAX - 1) - 0.1).abs() < 1e-9);
    assert!((linear.lr_at((usize::MAX - 1) / 2) - 0.075).abs() < 1e-8);
    assert!((LinearLr::new(0.1, 0.5, 1.0, 4).lr_at(usize::MAX) - 0.1).abs() < 1e-9);
    assert_eq!(LinearLr::new(0.1, 0.5, 1.0, 0).lr_at(7), 0.05);
    let cosine = CosineAnnealingLr::new(0.1, usize::MAX, 0.0);
    assert_eq!(cosine.lr_at(0), 0.1);
    assert!((cosine.lr_at(1 << 31) - 0.1).abs() < 1e-9);
    assert!(cosine.lr_at(usize::MAX).abs() < 1e-9);
}

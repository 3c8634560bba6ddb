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

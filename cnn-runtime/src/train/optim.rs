//! Optimizers with PyTorch's update rules and defaults (`torch.optim.SGD`, `Adam`, `AdamW`).
//!
//! An optimizer sees a network's parameters and gradients as two flat arrays in `state_dict`
//! order. Its state (momentum, moments) is allocated at the first step and reused after.

use crate::train::loss::TrainError;
use std::ops::Range;

/// Updates parameters from their gradients. Implement it to bring your own rule: `step` gets the
/// same parameter array, in the same order, at every call.
pub trait Optimizer {
    /// Updates `params` in place from `grads`, which has the same length.
    fn step(&mut self, params: &mut [f32], grads: &[f32]);

    /// [`Self::step`] of the parameters in `trainable` alone (ranges of the flat arrays, in
    /// order): the others are frozen (PyTorch's `requires_grad_(False)`, whose parameters an
    /// optimizer skips) and neither they nor their state change. The optimizers here update
    /// the ranges in place; the default steps everything and puts the frozen values back, which
    /// copies them (a rule with weight decay or momentum of its own should override it).
    fn step_trainable(&mut self, params: &mut [f32], grads: &[f32], trainable: &[Range<usize>]) {
        let mut frozen = Vec::new();
        let mut at = 0;
        for r in trainable.iter().chain(std::iter::once(&(params.len()..params.len()))) {
            frozen.push((at, params[at..r.start].to_vec()));
            at = r.end;
        }
        self.step(params, grads);
        for (at, values) in frozen {
            params[at..at + values.len()].copy_from_slice(&values);
        }
    }

    /// The learning rate (PyTorch's `optimizer.param_groups[0]["lr"]`).
    fn lr(&self) -> f32;

    /// Changes the learning rate, as a schedule does between steps.
    ///
    /// # Panics
    /// If `lr` is negative or NaN (the optimizers here; a rule of your own decides).
    fn set_lr(&mut self, lr: f32);

    /// The names of the state tensors (one value per parameter) and counters this optimizer
    /// keeps, as a checkpoint stores them (`optimizer.` before each name). None by default.
    fn state_names(&self) -> (&'static [&'static str], &'static [&'static str]) {
        (&[], &[])
    }

    /// The state a resumed run needs: the tensors of [`Self::state_names`] that exist yet (none
    /// before the first step) and the counters.
    fn state(&self) -> OptimizerState<'_> {
        OptimizerState::default()
    }

    /// Replaces the state: one entry per name of [`Self::state_names`], `None` where a
    /// checkpoint had none (the state of an optimizer that has not stepped). The lengths have
    /// been checked against the parameter count.
    fn set_state(&mut self, tensors: Vec<Option<Vec<f32>>>, counters: Vec<Option<i64>>) {
        let _ = (tensors, counters);
    }

    /// Whether a state is one this optimizer can continue from: `has_tensors` (all of the
    /// state tensors are there, or none) and the counters of [`Self::state_names`] (each at
    /// least 0). A checkpoint is checked with it before it is written and before it is loaded;
    /// the error says what does not fit. Everything fits by default.
    fn check_state(&self, has_tensors: bool, counters: &[i64]) -> Result<(), String> {
        let _ = (has_tensors, counters);
        Ok(())
    }

    /// How many parameters this optimizer's per-parameter state (momentum, moments) is for:
    /// `None` before its first step or when it keeps none. A network's training step checks it
    /// before its forward pass, so an optimizer used on another network is an error that
    /// changes nothing rather than a panic halfway through the step. `None` by default.
    fn state_len(&self) -> Option<usize> {
        None
    }

    /// Calls `visit` with each hyper-parameter by name (the learning rate, momentum, betas ...),
    /// in a fixed order. Distributed training checks that every process's optimizer has the
    /// same ones, as ranks that step with different rules would drift apart silently. None by
    /// default.
    fn hyperparameters(&self, visit: &mut dyn FnMut(&'static str, f64)) {
        let _ = visit;
    }
}

/// Whether `opt` can step a network of `params` parameters: its state, if it has any, is for
/// that many.
///
/// # Errors
/// [`TrainError::OptimizerState`] with both counts.
#[doc(hidden)]
pub fn check_optimizer<O: Optimizer + ?Sized>(opt: &O, params: usize) -> Result<(), TrainError> {
    match opt.state_len() {
        Some(state) if state != params => Err(TrainError::OptimizerState { state, params }),
        _ => Ok(()),
    }
}

/// What a checkpoint keeps of an optimizer: named tensors of one value per parameter and named
/// counters. Hyperparameters (the learning rate, momentum, betas...) are not part of it: they
/// come from the optimizer that loads it, as a schedule sets the rate anyway.
#[derive(Debug, Default)]
pub struct OptimizerState<'a> {
    /// Tensors by name.
    pub tensors: Vec<(&'static str, &'a [f32])>,
    /// Counters by name.
    pub counters: Vec<(&'static str, i64)>,
}

/// Refuses a hyperparameter as PyTorch's optimizers do (NaN fails every rule).
#[track_caller]
fn check(who: &str, what: &str, value: f32, ok: bool, rule: &str) {
    assert!(ok, "{who}: invalid {what} {value}: it must be {rule}, as in PyTorch");
}

#[track_caller]
fn check_lr(who: &str, lr: f32) {
    check(who, "learning rate", lr, lr >= 0.0, "at least 0");
}

#[track_caller]
fn state(buf: &mut Vec<f32>, len: usize, who: &str) -> bool {
    if buf.is_empty() {
        buf.resize(len, 0.0);
        return true;
    }
    assert_eq!(
        buf.len(),
        len,
        "{who} was used with {} parameters before and {len} now; use one optimizer per network",
        buf.len()
    );
    false
}

/// Stochastic gradient descent, `torch.optim.SGD(params, lr)` with its options: momentum,
/// dampening, Nesterov momentum and L2 weight decay, all off by default.
///
/// ```
/// let opt = cnn_runtime::Sgd::new(0.01).momentum(0.9).nesterov(true).weight_decay(5e-4);
/// ```
#[derive(Clone, Debug)]
pub struct Sgd {
    lr: f32,
    momentum: f32,
    dampening: f32,
    nesterov: bool,
    weight_decay: f32,
    buf: Vec<f32>,
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
    ///
    /// # Panics
    /// If `lr` is negative or NaN.
    #[track_caller]
    pub fn new(lr: f32) -> Self {
        check_lr("Sgd", lr);
        Sgd { lr, momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0, buf: Vec::new() }
    }
    /// Momentum factor (PyTorch `momentum`, default 0).
    ///
    /// # Panics
    /// If `momentum` is negative or NaN.
    #[track_caller]
    pub fn momentum(mut self, momentum: f32) -> Self {
        check("Sgd", "momentum", momentum, momentum >= 0.0, "at least 0");
        self.momentum = momentum;
        self
    }
    /// Dampening of momentum (PyTorch `dampening`, default 0).
    pub fn dampening(mut self, dampening: f32) -> Self {
        self.dampening = dampening;
        self
    }
    /// Nesterov momentum (PyTorch `nesterov`, default false); needs momentum and no dampening.
    ///
    /// # Panics
    /// At the first step, if momentum is 0 or dampening is not, as PyTorch refuses it.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// L2 penalty added to the gradient (PyTorch `weight_decay`, default 0).
    ///
    /// # Panics
    /// If `weight_decay` is negative or NaN.
    #[track_caller]
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        check("Sgd", "weight decay", weight_decay, weight_decay >= 0.0, "at least 0");
        self.weight_decay = weight_decay;
        self
    }
}

impl Optimizer for Sgd {
    fn lr(&self) -> f32 {
        self.lr
    }

    #[track_caller]
    fn set_lr(&mut self, lr: f32) {
        check_lr("Sgd", lr);
        self.lr = lr;
    }

    fn state_names(&self) -> (&'static [&'static str], &'static [&'static str]) {
        (&["momentum_buffer"], &[])
    }

    fn state(&self) -> OptimizerState<'_> {
        let tensors = if self.buf.is_empty() { Vec::new() } else { vec![("momentum_buffer", &self.buf[..])] };
        OptimizerState { tensors, counters: Vec::new() }
    }

    fn set_state(&mut self, tensors: Vec<Option<Vec<f32>>>, _counters: Vec<Option<i64>>) {
        self.buf = tensors.into_iter().next().flatten().unwrap_or_default();
    }

    fn state_len(&self) -> Option<usize> {
        (!self.buf.is_empty()).then_some(self.buf.len())
    }

    fn hyperparameters(&self, visit: &mut dyn FnMut(&'static str, f64)) {
        visit("lr", self.lr.into());
        visit("momentum", self.momentum.into());
        visit("dampening", self.dampening.into());
        visit("nesterov", f64::from(u8::from(self.nesterov)));
        visit("weight_decay", self.weight_decay.into());
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        let all = 0..params.len();
        self.step_trainable(params, grads, std::slice::from_ref(&all));
    }

    fn step_trainable(&mut self, params: &mut [f32], grads: &[f32], trainable: &[Range<usize>]) {
        assert_eq!(params.len(), grads.len(), "Sgd: {} parameters but {} gradients", params.len(), grads.len());
        assert!(
            !self.nesterov || (self.momentum > 0.0 && self.dampening == 0.0),
            "Sgd: Nesterov momentum requires a momentum and zero dampening"
        );
        let first = self.momentum != 0.0 && state(&mut self.buf, params.len(), "Sgd");
        for i in trainable.iter().flat_map(Clone::clone) {
            // Indexed, as the momentum buffer exists only with momentum.
            let (p, g) = (&mut params[i], grads[i]);
            let mut d = g;
            if self.weight_decay != 0.0 {
                d += self.weight_decay * *p;
            }
            if self.momentum != 0.0 {
                let b = &mut self.buf[i];
                *b = if first { d } else { self.momentum * *b + (1.0 - self.dampening) * d };
                d = if self.nesterov { d + self.momentum * *b } else { *b };
            }
            *p -= self.lr * d;
        }
    }
}

/// Adam's moments and step count, shared by [`Adam`] and [`AdamW`].
#[derive(Clone, Debug)]
struct Moments {
    beta1: f32,
    beta2: f32,
    eps: f32,
    /// Steps taken; PyTorch keeps it as a float tensor, a checkpoint as an `I64`.
    step: u64,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Moments {
    const NAMES: (&'static [&'static str], &'static [&'static str]) = (&["exp_avg", "exp_avg_sq"], &["step"]);

    fn state(&self) -> OptimizerState<'_> {
        let tensors =
            if self.m.is_empty() { Vec::new() } else { vec![("exp_avg", &self.m[..]), ("exp_avg_sq", &self.v[..])] };
        // From i64::MAX on the count cannot go on in a checkpoint; `check_state` refuses it.
        OptimizerState { tensors, counters: vec![("step", i64::try_from(self.step).unwrap_or(i64::MAX))] }
    }

    fn set_state(&mut self, tensors: Vec<Option<Vec<f32>>>, counters: Vec<Option<i64>>) {
        let mut tensors = tensors.into_iter();
        self.m = tensors.next().flatten().unwrap_or_default();
        self.v = tensors.next().flatten().unwrap_or_default();
        // `check_state` has accepted the count: it is there and not negative.
        self.step = counters.into_iter().next().flatten().map_or(0, |s| s.max(0) as u64);
    }

    fn check_state(&self, has_tensors: bool, counters: &[i64]) -> Result<(), String> {
        match counters.first() {
            Some(&step) if step != 0 && !has_tensors => Err(format!(
                "optimizer.step is {step} but the moments (optimizer.exp_avg, optimizer.exp_avg_sq) are missing"
            )),
            _ => Ok(()),
        }
    }

    fn new() -> Self {
        Moments { beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0, m: Vec::new(), v: Vec::new() }
    }

    /// One Adam update of the `trainable` ranges of `params` with `grads` plus `l2 · param`
    /// added to each gradient.
    fn update(&mut self, lr: f32, l2: f32, params: &mut [f32], grads: &[f32], trainable: &[Range<usize>], who: &str) {
        assert_eq!(params.len(), grads.len(), "{who}: {} parameters but {} gradients", params.len(), grads.len());
        state(&mut self.m, params.len(), who);
        state(&mut self.v, params.len(), who);
        // Saturates rather than wraps: past 2^63 steps the bias corrections are 1 anyway.
        self.step = self.step.saturating_add(1);
        // As PyTorch: bias corrections in double precision (Python's `beta ** step`, C's `pow`),
        // applied as f32 scalars.
        let step = self.step as f64;
        let bc1 = 1.0 - (self.beta1 as f64).powf(step);
        let bc2_sqrt = (1.0 - (self.beta2 as f64).powf(step)).sqrt() as f32;
        let step_size = (lr as f64 / bc1) as f32;
        let (b1, b2) = (self.beta1, self.beta2);
        for r in trainable {
            let (ps, gs) = (&mut params[r.clone()], &grads[r.clone()]);
            let (ms, vs) = (&mut self.m[r.clone()], &mut self.v[r.clone()]);
            for (((p, &g), m), v) in ps.iter_mut().zip(gs).zip(ms).zip(vs) {
                let g = if l2 != 0.0 { g + l2 * *p } else { g };
                *m += (1.0 - b1) * (g - *m);
                *v = b2 * *v + (1.0 - b2) * g * g;
                let denom = v.sqrt() / bc2_sqrt + self.eps;
                *p -= step_size * (*m / denom);
            }
        }
    }
}

/// Adam, `torch.optim.Adam(params, lr)`: betas (0.9, 0.999), eps 1e-8, L2 weight decay 0 by
/// default.
#[derive(Clone, Debug)]
pub struct Adam {
    lr: f32,
    weight_decay: f32,
    moments: Moments,
}

impl Adam {
    /// Adam with learning rate `lr` and PyTorch's defaults.
    ///
    /// # Panics
    /// If `lr` is negative or NaN.
    #[track_caller]
    pub fn new(lr: f32) -> Self {
        check_lr("Adam", lr);
        Adam { lr, weight_decay: 0.0, moments: Moments::new() }
    }
}

/// The options Adam and AdamW share; only the meaning of weight decay differs.
macro_rules! adam_options {
    ($ty:ident, $decay:literal) => {
        impl $ty {
            /// Decay rates of the first and second moments (PyTorch `betas`).
            ///
            /// # Panics
            /// If a beta is outside `[0, 1)` or NaN.
            #[track_caller]
            pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
                for (i, beta) in [beta1, beta2].into_iter().enumerate() {
                    check(stringify!($ty), &format!("beta{}", i + 1), beta, (0.0..1.0).contains(&beta), "in [0, 1)");
                }
                self.moments.beta1 = beta1;
                self.moments.beta2 = beta2;
                self
            }
            /// Term added to the denominator (PyTorch `eps`).
            ///
            /// # Panics
            /// If `eps` is negative or NaN.
            #[track_caller]
            pub fn eps(mut self, eps: f32) -> Self {
                check(stringify!($ty), "eps", eps, eps >= 0.0, "at least 0");
                self.moments.eps = eps;
                self
            }
            #[doc = $decay]
            ///
            /// # Panics
            /// If `weight_decay` is negative or NaN.
            #[track_caller]
            pub fn weight_decay(mut self, weight_decay: f32) -> Self {
                check(stringify!($ty), "weight decay", weight_decay, weight_decay >= 0.0, "at least 0");
                self.weight_decay = weight_decay;
                self
            }
        }
    };
}

/// The checkpoint methods of an optimizer whose state is Adam's moments.
macro_rules! moments_state {
    () => {
        fn state_names(&self) -> (&'static [&'static str], &'static [&'static str]) {
            Moments::NAMES
        }

        fn state(&self) -> OptimizerState<'_> {
            self.moments.state()
        }

        fn set_state(&mut self, tensors: Vec<Option<Vec<f32>>>, counters: Vec<Option<i64>>) {
            self.moments.set_state(tensors, counters);
        }

        fn check_state(&self, has_tensors: bool, counters: &[i64]) -> Result<(), String> {
            self.moments.check_state(has_tensors, counters)
        }

        fn state_len(&self) -> Option<usize> {
            (!self.moments.m.is_empty()).then_some(self.moments.m.len())
        }

        fn hyperparameters(&self, visit: &mut dyn FnMut(&'static str, f64)) {
            visit("lr", self.lr.into());
            visit("beta1", self.moments.beta1.into());
            visit("beta2", self.moments.beta2.into());
            visit("eps", self.moments.eps.into());
            visit("weight_decay", self.weight_decay.into());
        }
    };
}

adam_options!(Adam, "L2 penalty added to the gradient (PyTorch `weight_decay`, default 0).");
adam_options!(AdamW, "Decoupled weight decay (PyTorch `weight_decay`, default 0.01).");

impl Optimizer for Adam {
    moments_state!();

    fn lr(&self) -> f32 {
        self.lr
    }

    #[track_caller]
    fn set_lr(&mut self, lr: f32) {
        check_lr("Adam", lr);
        self.lr = lr;
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        let all = 0..params.len();
        self.step_trainable(params, grads, std::slice::from_ref(&all));
    }

    fn step_trainable(&mut self, params: &mut [f32], grads: &[f32], trainable: &[Range<usize>]) {
        self.moments.update(self.lr, self.weight_decay, params, grads, trainable, "Adam");
    }
}

/// AdamW, `torch.optim.AdamW(params, lr)`: Adam with decoupled weight decay (each step first
/// scales the parameters by `1 - lr · weight_decay`); weight decay 0.01 by default.
#[derive(Clone, Debug)]
pub struct AdamW {
    lr: f32,
    weight_decay: f32,
    moments: Moments,
}

impl AdamW {
    /// AdamW with learning rate `lr` and PyTorch's defaults.
    ///
    /// # Panics
    /// If `lr` is negative or NaN.
    #[track_caller]
    pub fn new(lr: f32) -> Self {
        check_lr("AdamW", lr);
        AdamW { lr, weight_decay: 0.01, moments: Moments::new() }
    }
}

impl Optimizer for AdamW {
    moments_state!();

    fn lr(&self) -> f32 {
        self.lr
    }

    #[track_caller]
    fn set_lr(&mut self, lr: f32) {
        check_lr("AdamW", lr);
        self.lr = lr;
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        let all = 0..params.len();
        self.step_trainable(params, grads, std::slice::from_ref(&all));
    }

    fn step_trainable(&mut self, params: &mut [f32], grads: &[f32], trainable: &[Range<usize>]) {
        assert_eq!(params.len(), grads.len(), "AdamW: {} parameters but {} gradients", params.len(), grads.len());
        let keep = 1.0 - self.lr * self.weight_decay;
        trainable.iter().for_each(|r| params[r.clone()].iter_mut().for_each(|p| *p *= keep));
        self.moments.update(self.lr, 0.0, params, grads, trainable, "AdamW");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_momentum_and_nesterov_by_hand() {
        let mut p = [1.0f32];
        let mut opt = Sgd::new(0.1).momentum(0.5).weight_decay(0.1);
        opt.step(&mut p, &[2.0]); // d = 2.1, buf = 2.1, p = 1 - 0.21
        assert!((p[0] - 0.79).abs() < 1e-6);
        opt.step(&mut p, &[2.0]); // d = 2.079, buf = 1.05 + 2.079 = 3.129
        assert!((p[0] - (0.79 - 0.3129)).abs() < 1e-6);
        let mut p = [1.0f32];
        let mut opt = Sgd::new(0.1).momentum(0.5).nesterov(true);
        opt.step(&mut p, &[1.0]); // buf = 1, d = 1 + 0.5
        assert!((p[0] - 0.85).abs() < 1e-6);
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // After one step, m̂ = g and v̂ = g², so the update is lr · g / (|g| + eps).
        let mut p = [0.5f32, -0.5];
        let mut opt = Adam::new(0.01);
        opt.step(&mut p, &[3.0, -0.2]);
        assert!((p[0] - 0.49).abs() < 1e-6 && (p[1] + 0.49).abs() < 1e-6, "{p:?}");
        let mut q = [0.5f32];
        AdamW::new(0.01).step(&mut q, &[3.0]);
        assert!((q[0] - (0.5 * (1.0 - 0.01 * 0.01) - 0.01)).abs() < 1e-6);
    }

    #[test]
    #[should_panic(expected = "used with 2 parameters before and 3 now")]
    fn one_optimizer_per_network() {
        let mut opt = Adam::new(0.1);
        opt.step(&mut [0.0; 2], &[1.0; 2]);
        opt.step(&mut [0.0; 3], &[1.0; 3]);
    }

    /// Every hyperparameter PyTorch validates is refused with a message naming it and its value.
    #[test]
    fn hyperparameters_are_validated_as_in_pytorch() {
        fn message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
            let e = std::panic::catch_unwind(f).unwrap_err();
            e.downcast_ref::<String>().cloned().unwrap_or_default()
        }
        assert_eq!(
            message(|| drop(Sgd::new(-0.1))),
            "Sgd: invalid learning rate -0.1: it must be at least 0, as in PyTorch"
        );
        assert_eq!(
            message(|| drop(Adam::new(f32::NAN))),
            "Adam: invalid learning rate NaN: it must be at least 0, as in PyTorch"
        );
        assert_eq!(
            message(|| drop(Sgd::new(0.1).momentum(-0.9))),
            "Sgd: invalid momentum -0.9: it must be at least 0, as in PyTorch"
        );
        assert_eq!(
            message(|| drop(Sgd::new(0.1).weight_decay(-1.0))),
            "Sgd: invalid weight decay -1: it must be at least 0, as in PyTorch"
        );
        assert_eq!(
            message(|| drop(Adam::new(0.1).betas(0.9, 1.0))),
            "Adam: invalid beta2 1: it must be in [0, 1), as in PyTorch"
        );
        assert_eq!(
            message(|| drop(AdamW::new(0.1).betas(-0.1, 0.9))),
            "AdamW: invalid beta1 -0.1: it must be in [0, 1), as in PyTorch"
        );
        assert_eq!(
            message(|| drop(AdamW::new(0.1).eps(-1e-8))),
            "AdamW: invalid eps -0.00000001: it must be at least 0, as in PyTorch"
        );
        assert_eq!(
            message(|| drop(Adam::new(0.1).weight_decay(f32::NAN))),
            "Adam: invalid weight decay NaN: it must be at least 0, as in PyTorch"
        );
        assert_eq!(
            message(|| Sgd::new(0.1).set_lr(-1.0)),
            "Sgd: invalid learning rate -1: it must be at least 0, as in PyTorch"
        );
        // The edges PyTorch accepts are accepted.
        drop(Sgd::new(0.0).momentum(0.0).weight_decay(0.0));
        drop(Adam::new(0.0).betas(0.0, 0.0).eps(0.0));
    }

    /// Stepping the ranges `trainable` leaves the rest (and its state) as it was and moves the
    /// ranges exactly as a step of the whole array does, for every optimizer here and for the
    /// trait's default (an optimizer of one's own).
    #[test]
    fn a_step_of_some_ranges_is_the_whole_step_there_and_nothing_elsewhere() {
        struct Plain;
        impl Optimizer for Plain {
            fn step(&mut self, params: &mut [f32], grads: &[f32]) {
                params.iter_mut().zip(grads).for_each(|(p, g)| *p -= 0.5 * g);
            }
            fn lr(&self) -> f32 {
                0.5
            }
            fn set_lr(&mut self, _: f32) {}
        }
        let start: Vec<f32> = (0..10).map(|i| i as f32 * 0.3 - 1.0).collect();
        let grads: Vec<f32> = (0..10).map(|i| (i as f32 * 0.7).sin()).collect();
        let trainable = [1..4, 6..9];
        let optimizers: Vec<(Box<dyn Optimizer>, Box<dyn Optimizer>)> = vec![
            (
                Box::new(Sgd::new(0.1).momentum(0.9).weight_decay(0.1)),
                Box::new(Sgd::new(0.1).momentum(0.9).weight_decay(0.1)),
            ),
            (Box::new(Adam::new(0.1).weight_decay(0.1)), Box::new(Adam::new(0.1).weight_decay(0.1))),
            (Box::new(AdamW::new(0.1)), Box::new(AdamW::new(0.1))),
            (Box::new(Plain), Box::new(Plain)),
        ];
        for (mut some, mut all) in optimizers {
            let (mut p_some, mut p_all) = (start.clone(), start.clone());
            for _ in 0..3 {
                some.step_trainable(&mut p_some, &grads, &trainable);
                all.step(&mut p_all, &grads);
            }
            for i in 0..10 {
                let want = if trainable.iter().any(|r| r.contains(&i)) { p_all[i] } else { start[i] };
                assert_eq!(p_some[i].to_bits(), want.to_bits(), "element {i}");
            }
        }
    }
}

//! Frozen parameters (PyTorch's `requires_grad_(False)`): which tensors take no gradient and no
//! update, and what a backward pass may therefore leave out.

use crate::params::ParamSpec;
use crate::train::optim::Optimizer;
use std::ops::Range;

/// Which of a network's parameter tensors are frozen. Frozen tensors get no gradient (their
/// entries of a `Grads` stay 0) and no optimizer update; the backward pass skips their weight
/// gradients and every layer that leads only to frozen parameters, unless the input's gradient
/// is asked for.
#[derive(Clone, Debug, Default)]
pub struct Frozen {
    /// One flag per tensor of the parameter table; empty while none is frozen.
    tensors: Vec<bool>,
    /// The flat ranges of the tensors that train, adjacent ones merged (the optimizer's).
    trainable: Vec<Range<usize>>,
    /// The first tensor that trains (the table's length if none does).
    first_trainable: usize,
}

impl Frozen {
    /// Freezes (`requires_grad == false`) or thaws the tensors of `specs` that `select` picks;
    /// returns how many it picked.
    pub fn set(&mut self, specs: &[ParamSpec], requires_grad: bool, select: impl Fn(&ParamSpec) -> bool) -> usize {
        if self.tensors.len() != specs.len() {
            self.tensors = vec![false; specs.len()];
        }
        let mut picked = 0;
        for (flag, spec) in self.tensors.iter_mut().zip(specs) {
            if select(spec) {
                *flag = !requires_grad;
                picked += 1;
            }
        }
        if !self.any() {
            // Nothing frozen: the state of a network that never froze anything.
            self.tensors.clear();
        }
        self.first_trainable = self.tensors.iter().position(|&f| !f).unwrap_or(self.tensors.len());
        self.trainable.clear();
        for (spec, _) in specs.iter().zip(&self.tensors).filter(|(_, &f)| !f) {
            let r = spec.offset..spec.offset + spec.shape.iter().product::<usize>();
            match self.trainable.last_mut() {
                Some(last) if last.end == r.start => last.end = r.end,
                _ => self.trainable.push(r),
            }
        }
        picked
    }

    /// Whether any tensor is frozen.
    pub fn any(&self) -> bool {
        self.tensors.iter().any(|&f| f)
    }

    /// Whether tensor `k` of the parameter table is frozen.
    pub fn is_frozen(&self, k: usize) -> bool {
        self.tensors.get(k).copied().unwrap_or(false)
    }

    /// The flat ranges of the parameters that train, in order (meaningful when [`Self::any`]).
    pub fn trainable(&self) -> &[Range<usize>] {
        &self.trainable
    }

    /// Sets the frozen tensors' gradients in `grads` to 0.
    pub fn zero_frozen(&self, specs: &[ParamSpec], grads: &mut [f32]) {
        for (spec, _) in specs.iter().zip(&self.tensors).filter(|(_, &f)| f) {
            grads[spec.offset..spec.offset + spec.shape.iter().product::<usize>()].fill(0.0);
        }
    }

    /// What a backward pass computes: the input's gradient when `input_grad`, and what the
    /// parameters that train need, in eval mode when `eval`.
    pub fn flags(&self, input_grad: bool, eval: bool) -> BackwardFlags<'_> {
        BackwardFlags { input_grad, eval, frozen: &self.tensors, first_trainable: self.first_trainable }
    }
}

/// One update of `params` by `opt` with `grads`, leaving the frozen ones as they are.
pub fn optimizer_step<O: Optimizer + ?Sized>(opt: &mut O, params: &mut [f32], grads: &[f32], frozen: &Frozen) {
    if frozen.any() {
        opt.step_trainable(params, grads, frozen.trainable());
    } else {
        opt.step(params, grads);
    }
}

/// What one backward pass computes, as the generated backward code asks it: whether the input's
/// gradient is wanted, and which parameters train.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct BackwardFlags<'a> {
    /// Whether the pass computes the network input's gradient.
    pub input_grad: bool,
    /// Whether the forward pass it follows ran in eval mode (batch norm by its running
    /// statistics, dropout off).
    pub eval: bool,
    frozen: &'a [bool],
    first_trainable: usize,
}

impl<'a> BackwardFlags<'a> {
    /// A pass with no frozen parameter.
    pub fn new(input_grad: bool) -> Self {
        BackwardFlags { input_grad, eval: false, frozen: &[], first_trainable: 0 }
    }

    /// What a finished pass computed, as a training buffer keeps it: the input's gradient, and
    /// the first parameter tensor that trained.
    pub fn ran(&self) -> (bool, usize) {
        (self.input_grad, self.first_trainable)
    }

    /// Whether a layer runs whose own parameters and those before it are the table's first
    /// `params_through` tensors: it does unless they are all frozen and the input's gradient
    /// is not wanted (layers are in topological order, so nothing upstream of it has others).
    #[inline]
    pub fn runs(&self, params_through: usize) -> bool {
        self.input_grad || self.first_trainable < params_through
    }

    /// `dx` when a layer's input gradient is needed: the layers before it hold the table's first
    /// `params_before` tensors, and one of them trains (or the input's gradient is wanted).
    #[inline]
    pub fn input_gradient<T>(&self, params_before: usize, dx: T) -> Option<T> {
        self.runs(params_before).then_some(dx)
    }

    /// `grad` when tensor `k` of the parameter table trains.
    #[inline]
    pub fn param_grad<'g>(&self, k: usize, grad: &'g mut [f32]) -> Option<&'g mut [f32]> {
        (!self.frozen.get(k).copied().unwrap_or(false)).then_some(grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Init;

    const SPECS: &[ParamSpec] = &[
        ParamSpec { name: "0.weight", shape: &[2, 3], offset: 0, init: Init::Zeros },
        ParamSpec { name: "0.bias", shape: &[2], offset: 6, init: Init::Zeros },
        ParamSpec { name: "2.weight", shape: &[1, 2], offset: 8, init: Init::Zeros },
    ];

    #[test]
    fn freezing_a_prefix_skips_it_and_keeps_the_rest_training() {
        let mut f = Frozen::default();
        assert!(!f.any() && f.flags(false, false).runs(1));
        assert_eq!(f.set(SPECS, false, |s| s.name.starts_with("0.")), 2);
        assert!(f.any() && f.is_frozen(0) && f.is_frozen(1) && !f.is_frozen(2));
        assert_eq!(f.trainable(), std::slice::from_ref(&(8..10)));
        let flags = f.flags(false, false);
        // The first layer (tensors 0 and 1) runs only for the input's gradient.
        assert!(!flags.runs(2) && flags.runs(3) && f.flags(true, false).runs(2));
        assert_eq!(flags.input_gradient(2, ()), None);
        assert_eq!(flags.input_gradient(3, ()), Some(()));
        assert!(flags.param_grad(1, &mut [0.0]).is_none() && flags.param_grad(2, &mut [0.0]).is_some());
        let mut grads = [1.0; 10];
        f.zero_frozen(SPECS, &mut grads);
        assert_eq!(grads, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
        // Thawing everything is the state of a network that never froze anything.
        assert_eq!(f.set(SPECS, true, |_| true), 3);
        assert!(!f.any() && f.flags(false, false).runs(1) && f.flags(false, false).param_grad(0, &mut [0.0]).is_some());
    }

    #[test]
    fn a_frozen_middle_keeps_two_ranges() {
        let mut f = Frozen::default();
        f.set(SPECS, false, |s| s.name == "0.bias");
        assert_eq!(f.trainable(), &[0..6, 8..10]);
        assert!(f.flags(false, false).runs(1));
    }
}

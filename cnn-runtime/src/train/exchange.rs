//! How the processes of a data-parallel training step meet: the [`Exchange`] a step's
//! batch-wide sums go through, and the [`Lanes`] of gradient partials it reads.
//!
//! One process needs none: its step sums everything itself. `cnn::dist` implements the trait
//! over MPI. Every sum keeps the order one process would add in (units in order, each unit's
//! values onto the sum of the units before), so a step's bits do not depend on the number of
//! processes.

use std::ops::Range;

pub use super::step::partials::Lanes;
pub use super::step::schedule::{shard_samples, shard_units, unit_count, unit_size, Part};

/// The batch-wide sums of a training step whose batch several processes share, each holding
/// whole consecutive units of it (see [`shard_units`]), in rank order.
/// Every process makes the same calls in the same order.
pub trait Exchange {
    /// Every unit's statistics (`per_unit` values each, of which the reduction reads `range`:
    /// `(offset, len)`) into `all`, in unit order, from this process's units' `local`. Only
    /// `range` of each unit need arrive.
    fn gather(&mut self, local: &[f64], all: &mut [f64], per_unit: usize, range: (usize, usize));

    /// A left fold across processes: `f(start)` folds this process's values onto `start`, the
    /// sum of the processes before it (0 for the first); returns the last process's result.
    fn fold(&mut self, f: &mut dyn FnMut(f64) -> f64) -> f64;

    /// The gradients in `ranges` are final in this process's units' partials (`lanes`, one per
    /// unit, `units` being their indices in the batch): sum them over every unit of the batch,
    /// in unit order. May return before the sum is done; the lanes' `ranges` are not written
    /// again until [`Self::finish`].
    fn bucket(&mut self, ranges: &'static [(usize, usize)], lanes: Lanes, units: Range<usize>);

    /// Waits for every bucket of the step and writes each sum to its ranges of `grads`.
    fn finish(&mut self, grads: &mut [f32]);
}

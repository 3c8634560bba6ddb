//! How the processes of a data-parallel training step meet: the [`Exchange`] a step's
//! batch-wide sums go through, and the [`Lanes`] of gradient partials it reads.
//!
//! One process needs none: its step sums everything itself. `cnn::dist` implements the trait
//! over MPI. Every sum keeps the order one process would add in (units in order, each unit's
//! values onto the sum of the units before), so a step's bits do not depend on the number of
//! processes.

use std::ops::Range;

pub use super::step_memory::{shard_samples, shard_units, unit_count, unit_size, Part};

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

/// The gradient partials of a pass: `count` lanes of `len` values, one per unit running at
/// once. A plain view (a pointer and sizes): who reads or writes which range when is the
/// training step's schedule, stated at each use.
#[derive(Clone, Copy, Debug)]
pub struct Lanes {
    pub(crate) ptr: *mut f32,
    /// Lanes.
    pub count: usize,
    /// Values per lane: the network's parameter count.
    pub len: usize,
}

// SAFETY: `Lanes` is a pointer into a buffer the training step owns and keeps alive and
// unmoved until the exchange has finished with it; which thread touches which range is the
// step's schedule (tiles write the current stage's ranges, an exchange reads finished ones).
unsafe impl Send for Lanes {}
// SAFETY: as for `Send`: shared use reads only ranges no tile writes any more.
unsafe impl Sync for Lanes {}

impl Lanes {
    /// Lane `lane` as a tile's partial.
    ///
    /// # Safety
    /// `lane < self.count`, and no other tile holds the lane while the returned partial lives.
    pub(crate) unsafe fn partial<'a>(self, lane: usize) -> super::step_memory::GradPartial<'a> {
        debug_assert!(lane < self.count);
        // SAFETY: the caller keeps `lane` in bounds, so the lane lies inside the buffer.
        super::step_memory::GradPartial::new(unsafe { self.ptr.add(lane * self.len) }, self.len)
    }

    /// Values `at..at + len` of lane `lane`.
    ///
    /// # Safety
    /// `lane < self.count`, `at + len <= self.len`, the buffer alive, and no one writing the
    /// range while the slice lives: the ranges of a stage [`Exchange::bucket`] was given, until
    /// [`Exchange::finish`].
    pub unsafe fn read<'a>(self, lane: usize, at: usize, len: usize) -> &'a [f32] {
        assert!(
            lane < self.count && at + len <= self.len,
            "lane {lane} values {at}+{len} outside {} x {}",
            self.count,
            self.len
        );
        // SAFETY: in bounds (checked above); the caller guarantees no writer.
        unsafe { std::slice::from_raw_parts(self.ptr.add(lane * self.len + at), len) }
    }

    /// Zeroes `ranges` of the first `lanes` lanes.
    ///
    /// # Safety
    /// No one else reads or writes those ranges of those lanes meanwhile.
    pub(crate) unsafe fn zero(self, lanes: usize, ranges: &[(usize, usize)]) {
        for lane in 0..lanes.min(self.count) {
            for &(a, b) in ranges {
                // SAFETY: ranges lie within a lane (the macro's parameter table); exclusive by
                // the caller's guarantee.
                unsafe { std::slice::from_raw_parts_mut(self.ptr.add(lane * self.len + a), b - a) }.fill(0.0);
            }
        }
    }

    /// Adds lanes `0..lanes` (units `first_unit..`, in order) over `ranges` onto `sum`; the
    /// batch's unit 0 is copied rather than added, so a sum is exactly the units' left fold.
    ///
    /// # Safety
    /// As [`Self::read`] for those lanes and ranges.
    pub(crate) unsafe fn sum_into(self, sum: &mut [f32], ranges: &[(usize, usize)], first_unit: usize, lanes: usize) {
        for &(a, b) in ranges {
            for lane in 0..lanes {
                // SAFETY: as the caller guarantees.
                let part = unsafe { self.read(lane, a, b - a) };
                accumulate(&mut sum[a..b], part, first_unit + lane == 0);
            }
        }
    }
}

/// `sum += part`, or `sum = part` for the batch's first unit, in parallel over ranges of 4096
/// values (each element's additions stay in order).
fn accumulate(sum: &mut [f32], part: &[f32], first: bool) {
    use rayon::prelude::*;
    const CHUNK: usize = 4096;
    sum.par_chunks_mut(CHUNK).zip(part.par_chunks(CHUNK)).for_each(|(s, p)| {
        if first {
            s.copy_from_slice(p);
        } else {
            s.iter_mut().zip(p).for_each(|(s, p)| *s += p);
        }
    });
}

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

    /// A pointer to value `at` of lane `lane` (a method, so that closures take the whole
    /// `Lanes`, which may cross threads, not its bare pointer).
    fn value(self, lane: usize, at: usize) -> *mut f32 {
        self.ptr.wrapping_add(lane * self.len + at)
    }

    /// Zeroes the first `lanes` lanes.
    ///
    /// # Safety
    /// No one else reads or writes those lanes meanwhile.
    pub(crate) unsafe fn zero(self, lanes: usize) {
        let len = lanes.min(self.count) * self.len;
        // SAFETY: the lanes lie in the buffer; exclusive by the caller's guarantee.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, len) }.fill(0.0);
    }

    /// Adds lanes `0..lanes` (units `first_unit..`, in order) over `ranges` onto `sum`; the
    /// batch's unit 0 is copied rather than added, so a sum is exactly the units' left fold.
    /// With `rezero`, each lane's values are zeroed once added, ready for the next wave's
    /// units: one pass over the lanes instead of two.
    ///
    /// # Safety
    /// No one else reads or writes those lanes' `ranges` meanwhile, and the buffer is alive.
    pub(crate) unsafe fn sum_into(
        self,
        sum: &mut [f32],
        ranges: &[(usize, usize)],
        first_unit: usize,
        lanes: usize,
        rezero: bool,
    ) {
        use rayon::prelude::*;
        const CHUNK: usize = 4096;
        assert!(lanes <= self.count, "{lanes} lanes of {}", self.count);
        for &(a, b) in ranges {
            assert!(a <= b && b <= self.len && b <= sum.len(), "range {a}..{b} outside the gradients");
            sum[a..b].par_chunks_mut(CHUNK).enumerate().for_each(|(k, out)| {
                let at = a + k * CHUNK;
                for lane in 0..lanes {
                    // SAFETY: in bounds (checked above: `at + out.len() <= b <= self.len`), and
                    // chunk `k` of a lane's range is this task's alone; no one else touches the
                    // lanes meanwhile (the caller's guarantee).
                    let part = unsafe { std::slice::from_raw_parts_mut(self.value(lane, at), out.len()) };
                    if first_unit + lane == 0 {
                        out.copy_from_slice(part);
                    } else {
                        out.iter_mut().zip(part.iter()).for_each(|(s, p)| *s += p);
                    }
                    if rezero {
                        part.fill(0.0);
                    }
                }
            });
        }
    }
}

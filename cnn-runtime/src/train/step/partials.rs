//! The parameter-gradient partials of a training step: the [`Lanes`] (one partial per unit
//! running at once) and the [`GradPartial`] a tile writes its layers' gradients to. Plain views
//! of memory the step owns; who reads or writes which range when is its schedule.

use std::marker::PhantomData;

/// One unit's gradient partial, lent to a tile: the layers' code takes the ranges of their own
/// parameters from it ([`Self::slices_mut`]), and only those, so that another thread may read
/// the ranges an earlier stage finished while later stages still write theirs.
#[derive(Debug)]
pub struct GradPartial<'a> {
    ptr: *mut f32,
    len: usize,
    _lane: PhantomData<&'a mut [f32]>,
}

impl GradPartial<'_> {
    /// The partial of `len` values at `ptr`.
    pub(crate) fn new(ptr: *mut f32, len: usize) -> Self {
        GradPartial { ptr, len, _lane: PhantomData }
    }

    /// `K` disjoint ranges `start..end` of the partial, ascending, each writable: a layer's
    /// parameter gradients.
    ///
    /// # Panics
    /// If the ranges are not ascending and disjoint, or pass the end of the partial.
    #[track_caller]
    #[inline]
    pub fn slices_mut<const K: usize>(&mut self, ranges: [(usize, usize); K]) -> [&mut [f32]; K] {
        let mut consumed = 0;
        for &(start, end) in &ranges {
            assert!(start >= consumed && end >= start, "ranges must ascend without overlapping");
            consumed = end;
        }
        assert!(consumed <= self.len, "range end {consumed} outside a partial of {}", self.len);
        // SAFETY: the ranges lie inside the partial (checked above) and do not overlap each
        // other; the partial is this tile's alone for `'a` (`Lanes` hands each lane to one unit
        // at a time), and `&mut self` keeps the slices from outliving this borrow or meeting
        // another call's. Other threads read only ranges of earlier stages, which no tile of a
        // later stage names.
        ranges.map(|(start, end)| unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), end - start) })
    }
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
    pub(crate) unsafe fn partial<'a>(self, lane: usize) -> GradPartial<'a> {
        debug_assert!(lane < self.count);
        // SAFETY: the caller keeps `lane` in bounds, so the lane lies inside the buffer.
        GradPartial::new(unsafe { self.ptr.add(lane * self.len) }, self.len)
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

//! The memory one pass over the tiles splits between them (activations, their gradients, argmax
//! indices, scratch, per-unit statistics and the lanes), grown to the largest part seen and
//! reused, and the [`Tile`] each tile's code gets.

use super::partials::{GradPartial, Lanes};
use super::schedule::{unit_size, Part, TrainLayout};
use rayon::prelude::*;
use std::ops::Range;

/// The memory one pass over the tiles splits between them.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    pub(super) acts: Vec<f32>,
    pub(super) grad_acts: Vec<f32>,
    pub(super) argmax: Vec<u32>,
    pub(super) scratch: Vec<f32>,
    /// One gradient partial per lane.
    pub(super) lanes: Vec<f32>,
    /// Per unit of this part.
    pub(super) stats: Vec<f64>,
    /// Per unit of the whole batch, when other processes hold some.
    pub(super) all_stats: Vec<f64>,
    pub(super) shared: Vec<f64>,
}

pub(crate) fn grow<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

/// One tile's share of the training memory: `m` consecutive samples, the first being sample
/// `first` of the batch. Regions of the per-sample buffers are laid out region by region, each
/// `m` samples wide (see [`region`]).
#[derive(Debug)]
pub struct Tile<'a> {
    /// Samples in the tile.
    pub m: usize,
    /// Index in the whole batch (over every process) of the tile's first sample: what keys
    /// dropout's masks.
    pub first: usize,
    /// Activations.
    pub acts: &'a mut [f32],
    /// Activation gradients (backward only).
    pub grads: &'a mut [f32],
    /// Max-pool argmax indices.
    pub argmax: &'a mut [u32],
    /// Scratch.
    pub scratch: &'a mut [f32],
    /// The tile's unit's partial sums.
    pub stats: &'a mut [f64],
    /// Batch-wide values from the reductions so far.
    pub shared: &'a [f64],
    /// The tile's unit's parameter-gradient partial (backward only).
    pub param_grads: GradPartial<'a>,
}

/// Buffers split into units for passes over the tiles.
pub(crate) struct Split<'a> {
    /// Samples of this part.
    n: usize,
    /// Global index of its first sample, and samples per unit.
    first: usize,
    unit: usize,
    tile: usize,
    layout: TrainLayout,
    acts: &'a mut [f32],
    grads: &'a mut [f32],
    argmax: &'a mut [u32],
    scratch: &'a mut [f32],
    stats: &'a mut [f64],
    shared: &'a [f64],
    pub(super) lanes: Lanes,
}

impl Split<'_> {
    /// Units of this part.
    pub(crate) fn units(&self) -> usize {
        self.n.div_ceil(self.unit)
    }

    /// Calls `f` on every tile of the part's units `units` (local indices), unit `u` with lane
    /// `u - units.start`: units in parallel, a unit's tiles in order.
    pub(crate) fn for_each_tile<F: Fn(Tile<'_>) + Sync>(&mut self, units: Range<usize>, f: &F) {
        let TrainLayout { acts_len, grad_len, scratch_len, .. } = self.layout;
        let (us, t, shared, lanes) = (self.unit, self.tile, self.shared, self.lanes);
        let (lo, hi) = ((units.start * us).min(self.n), (units.end * us).min(self.n));
        if lo == hi {
            return;
        }
        let first = self.first + lo;
        let am = self.layout.argmax_len.max(1);
        let st = self.layout.stats_len.max(1);
        self.acts[lo * acts_len..hi * acts_len]
            .par_chunks_mut(us * acts_len)
            .zip(self.grads[lo * grad_len..hi * grad_len].par_chunks_mut(us * grad_len))
            .zip(self.argmax[lo * am..hi * am].par_chunks_mut(us * am))
            .zip(self.scratch.par_chunks_mut(t * scratch_len.max(1)))
            .zip(self.stats[units.start * st..units.end * st].par_chunks_mut(st))
            .enumerate()
            .for_each(|(lane, ((((acts, grads), argmax), scratch), stats))| {
                let len = acts.len() / acts_len;
                let mut s0 = 0;
                while s0 < len {
                    let m = t.min(len - s0);
                    f(Tile {
                        m,
                        first: first + lane * us + s0,
                        acts: &mut acts[s0 * acts_len..(s0 + m) * acts_len],
                        grads: &mut grads[s0 * grad_len..(s0 + m) * grad_len],
                        argmax: &mut argmax[s0 * am..(s0 + m) * am],
                        scratch: &mut scratch[..m * scratch_len],
                        stats: &mut stats[..],
                        shared,
                        // SAFETY: lane `lane` serves unit `units.start + lane` alone in this pass.
                        param_grads: unsafe { lanes.partial(lane) },
                    });
                    s0 += m;
                }
            });
    }

    /// The units in waves: each a range of at most `lanes.count` local units.
    pub(crate) fn waves(&self) -> impl Iterator<Item = Range<usize>> {
        let (units, l) = (self.units(), self.lanes.count.max(1));
        (0..units.div_ceil(l)).map(move |w| w * l..((w + 1) * l).min(units))
    }
}

impl Arena {
    /// Sizes every buffer for a part of `n` samples (zeroing the partial sums) with `lanes`
    /// lanes, and splits them for passes.
    pub(crate) fn split(&mut self, layout: TrainLayout, part: Part, n: usize, lanes: Option<usize>) -> Split<'_> {
        let unit = unit_size(part.batch);
        let units = n.div_ceil(unit);
        let lanes = lanes.unwrap_or(units).max(1);
        let t = layout.max_tile.min(unit);
        if self.scratch.is_empty() || self.acts.len() < n * layout.acts_len {
            crate::tiling::reserve_packing_everywhere();
        }
        let stats = grow(&mut self.stats, units * layout.stats_len.max(1));
        stats.fill(0.0);
        if self.shared.len() < layout.shared_len {
            self.shared.resize(layout.shared_len, 0.0);
        }
        let pc = layout.param_count.max(1);
        grow(&mut self.lanes, lanes * pc);
        Split {
            n,
            first: part.first,
            unit,
            tile: t,
            layout,
            acts: grow(&mut self.acts, n * layout.acts_len),
            grads: grow(&mut self.grad_acts, n * layout.grad_len),
            argmax: grow(&mut self.argmax, n * layout.argmax_len.max(1)),
            scratch: grow(&mut self.scratch, lanes * t * layout.scratch_len.max(1)),
            stats,
            shared: &self.shared,
            lanes: Lanes { ptr: self.lanes.as_mut_ptr(), count: lanes, len: pc },
        }
    }
}

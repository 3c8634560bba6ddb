//! The memory and the schedule of a training step: activations kept for the backward pass,
//! per-unit gradient partials, and their reduction in a fixed order.
//!
//! A batch is cut into units of consecutive samples ([`unit_size`]: an eighth of the batch,
//! between 8 and 16 samples), a cut that depends on the batch size alone. Each unit runs through tiles of
//! at most `max_tile` samples and adds its parameter gradients into a partial of its own; after
//! each backward stage the units' partials of the parameters that stage finished are summed in
//! unit order (the first copied, the others added one by one). Batch-wide statistics are summed
//! from per-unit partial sums in unit order too. The thread count changes only who runs a unit,
//! never what is added to what, so gradients are bit-identical on 1 thread or 64, and, since a
//! process holds whole units and the sums go along in rank order ([`Exchange`]), on 1 process or
//! many.
//!
//! Units run in waves of [`train_groups`] lanes (as many partials as fit [`PARTIAL_BUDGET`]),
//! so a large network keeps two or three partials, not one per unit.
//!
//! All buffers grow to the largest batch seen and are reused: after the first step of a given
//! batch size, a step allocates nothing here.

use crate::train::exchange::{Exchange, Lanes};
use crate::train::loss::{cross_entropy_folded, CrossEntropyRef, TrainError};
use rayon::prelude::*;
use std::marker::PhantomData;
use std::ops::Range;

/// Units a batch of `MAX_GROUPS * MIN_UNIT` to `MAX_GROUPS * MAX_UNIT` samples is cut into.
pub const MAX_GROUPS: usize = 8;

/// Fewest samples in a unit (of a batch that has them): a tile takes at most a unit's samples,
/// and a layer's weight gradient is read and written once a tile, so units of a few samples
/// would spend a step on memory traffic.
pub const MIN_UNIT: usize = 8;

/// Most samples in a unit: a batch larger than `MAX_GROUPS * MAX_UNIT` has more units, so that
/// many processes each get whole units of it.
pub const MAX_UNIT: usize = 16;

/// Elements all lanes' gradient partials may take together (64 MiB): each partial is a whole
/// copy of the gradients, written and summed every step.
pub const PARTIAL_BUDGET: usize = 1 << 24;

/// Lanes (units run at once, each with a gradient partial) of a network with `param_count`
/// parameters: as many partials as `PARTIAL_BUDGET` holds, between 2 (so two threads share a
/// step) and `MAX_GROUPS`.
pub const fn train_groups(param_count: usize) -> usize {
    let fit = PARTIAL_BUDGET / if param_count == 0 { 1 } else { param_count };
    if fit < 2 {
        2
    } else if fit > MAX_GROUPS {
        MAX_GROUPS
    } else {
        fit
    }
}

/// Samples per unit of a batch of `batch`: an eighth of it, rounded up, between `MIN_UNIT` (8;
/// the whole batch if smaller) and `MAX_UNIT` (16).
pub const fn unit_size(batch: usize) -> usize {
    let u = batch.div_ceil(MAX_GROUPS);
    let least = if batch < MIN_UNIT { batch } else { MIN_UNIT };
    if u > MAX_UNIT {
        MAX_UNIT
    } else if u < least {
        least
    } else if u < 1 {
        1
    } else {
        u
    }
}

/// Units of a batch of `batch` (the last may be short).
pub const fn unit_count(batch: usize) -> usize {
    batch.div_ceil(unit_size(batch))
}

/// The units of a batch of `batch` that process `rank` of `size` trains: consecutive, in rank
/// order, as even as whole units allow (`size` above the unit count leaves some empty).
///
/// # Panics
/// If `rank >= size`.
pub fn shard_units(batch: usize, rank: usize, size: usize) -> Range<usize> {
    assert!(rank < size, "rank {rank} of {size} processes");
    let units = unit_count(batch);
    units * rank / size..units * (rank + 1) / size
}

/// The samples of a batch of `batch` that process `rank` of `size` trains: its
/// [`shard_units`].
///
/// # Panics
/// If `rank >= size`.
pub fn shard_samples(batch: usize, rank: usize, size: usize) -> Range<usize> {
    let (units, us) = (shard_units(batch, rank, size), unit_size(batch));
    (units.start * us).min(batch)..(units.end * us).min(batch)
}

/// A network's training sizes, per sample unless said otherwise, written by the macro.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainLayout {
    /// Input elements.
    pub in_len: usize,
    /// Output elements.
    pub out_len: usize,
    /// Where the output lies in the activations.
    pub out_at: usize,
    /// Activations kept for backward, the input (at 0) included.
    pub acts_len: usize,
    /// Activation gradients.
    pub grad_len: usize,
    /// Where the output's gradient lies in the activation gradients.
    pub grad_out_at: usize,
    /// Max-pool argmax indices kept for backward.
    pub argmax_len: usize,
    /// Scratch for one sample of a tile, forward or backward.
    pub scratch_len: usize,
    /// Most samples a tile takes.
    pub max_tile: usize,
    /// Parameters (and gradients).
    pub param_count: usize,
    /// Per unit: `f64` partial sums that batch-wide statistics are reduced from.
    pub stats_len: usize,
    /// Batch-wide `f64` values the reductions write and later stages read.
    pub shared_len: usize,
    /// Stages of the forward pass: a batch-wide reduction (a batch norm's statistics) ends one.
    pub forward_stages: usize,
    /// Stages of the backward pass.
    pub backward_stages: usize,
    /// Per backward stage, the parameter ranges (`start..end`, ascending, disjoint from every
    /// other stage's) whose gradients its tiles write and it finishes. Gradients a reduction
    /// writes (a batch norm's) are in none.
    pub grad_ranges: &'static [&'static [(usize, usize)]],
    /// Per forward reduction, the per-unit statistics it reads: `(offset, len)` in `stats_len`.
    pub forward_stats: &'static [(usize, usize)],
    /// Per backward reduction, the same.
    pub backward_stats: &'static [(usize, usize)],
}

impl TrainLayout {
    /// No samples: what a network that failed to compile declares (it never runs).
    #[doc(hidden)]
    pub const EMPTY: TrainLayout = TrainLayout {
        in_len: 0,
        out_len: 0,
        out_at: 0,
        acts_len: 0,
        grad_len: 0,
        grad_out_at: 0,
        argmax_len: 0,
        scratch_len: 0,
        max_tile: 1,
        param_count: 0,
        stats_len: 0,
        shared_len: 0,
        forward_stages: 0,
        backward_stages: 0,
        grad_ranges: &[],
        forward_stats: &[],
        backward_stats: &[],
    };
}

/// Which part of a batch a process trains: samples `first..first + n` of `batch`, `n` being
/// the samples it is given. One process trains [`Part::whole`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Samples in the whole batch, over every process.
    pub batch: usize,
    /// Index in the whole batch of this process's first sample: a unit's first.
    pub first: usize,
}

impl Part {
    /// All of a batch of `n`.
    pub const fn whole(n: usize) -> Self {
        Part { batch: n, first: 0 }
    }

    /// This part's units: `n` samples from `self.first`.
    ///
    /// # Panics
    /// If the part does not start and end on unit boundaries of the batch.
    #[track_caller]
    fn units(&self, n: usize) -> Range<usize> {
        let us = unit_size(self.batch);
        let end = self.first + n;
        assert!(
            self.first.is_multiple_of(us) && end <= self.batch && (end == self.batch || end.is_multiple_of(us)),
            "samples {}..{end} of a batch of {} do not lie on its {us}-sample units",
            self.first,
            self.batch
        );
        self.first / us..end.div_ceil(us)
    }
}

/// Training memory of one network, reused from step to step.
#[derive(Debug, Default)]
pub struct TrainBuffers {
    /// Whether a training forward pass has run, to take a backward pass (of an empty batch too).
    ran: bool,
    batch: usize,
    part: Part,
    arena: Arena,
    outputs: Vec<f32>,
    loss_grad: Vec<f32>,
    /// The loss's per-label terms, when their sum goes on in other processes.
    terms: Vec<f64>,
    /// The summed parameter gradients of the last backward pass.
    grads: Vec<f32>,
    /// Parameters of the last cross-entropy backward pass, whose gradients `grads` holds.
    grads_len: usize,
}

impl Default for Part {
    fn default() -> Self {
        Part::whole(0)
    }
}

/// The memory one pass over the tiles splits between them.
#[derive(Debug, Default)]
struct Arena {
    acts: Vec<f32>,
    grad_acts: Vec<f32>,
    argmax: Vec<u32>,
    scratch: Vec<f32>,
    /// One gradient partial per lane.
    lanes: Vec<f32>,
    /// Per unit of this part.
    stats: Vec<f64>,
    /// Per unit of the whole batch, when other processes hold some.
    all_stats: Vec<f64>,
    shared: Vec<f64>,
}

fn grow<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

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
struct Split<'a> {
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
    lanes: Lanes,
}

impl Split<'_> {
    /// Units of this part.
    fn units(&self) -> usize {
        self.n.div_ceil(self.unit)
    }

    /// Calls `f` on every tile of the part's units `units` (local indices), unit `u` with lane
    /// `u - units.start`: units in parallel, a unit's tiles in order.
    fn for_each_tile<F: Fn(Tile<'_>) + Sync>(&mut self, units: Range<usize>, f: &F) {
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
    fn waves(&self) -> impl Iterator<Item = Range<usize>> {
        let (units, l) = (self.units(), self.lanes.count.max(1));
        (0..units.div_ceil(l)).map(move |w| w * l..((w + 1) * l).min(units))
    }
}

impl Arena {
    /// Sizes every buffer for a part of `n` samples (zeroing the partial sums) with `lanes`
    /// lanes, and splits them for passes.
    fn split(&mut self, layout: TrainLayout, part: Part, n: usize, lanes: Option<usize>) -> Split<'_> {
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

/// Lanes a pass over a part of `n` samples uses: in one process as many as fit the partial
/// budget; when the sums continue in other processes, one per unit, since the units' partials
/// wait there for the sums of the processes before.
fn lane_count(layout: TrainLayout, part: Part, n: usize, across: bool) -> Option<usize> {
    let units = n.div_ceil(unit_size(part.batch));
    (!across).then(|| train_groups(layout.param_count).min(units))
}

impl TrainBuffers {
    /// Buffers that grow on first use.
    pub const fn new() -> Self {
        TrainBuffers {
            ran: false,
            batch: 0,
            part: Part::whole(0),
            arena: Arena {
                acts: Vec::new(),
                grad_acts: Vec::new(),
                argmax: Vec::new(),
                scratch: Vec::new(),
                lanes: Vec::new(),
                stats: Vec::new(),
                all_stats: Vec::new(),
                shared: Vec::new(),
            },
            outputs: Vec::new(),
            loss_grad: Vec::new(),
            terms: Vec::new(),
            grads: Vec::new(),
            grads_len: 0,
        }
    }

    /// Samples of the last training forward pass (0 before the first): this process's part.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Outputs of the last training forward pass, `batch × out_len`.
    pub fn outputs(&self) -> &[f32] {
        &self.outputs
    }

    /// Parameter gradients of the last [`Self::loss_backward`].
    pub fn grads(&self) -> &[f32] {
        &self.grads[..self.grads_len]
    }

    /// The batch-wide values of the last pass's reductions (a batch norm's statistics).
    pub fn shared(&self) -> &[f64] {
        &self.arena.shared
    }

    /// Runs the training forward pass of `input` (whole samples of `layout.in_len`): copies each
    /// sample to the start of its activations, calls `stage(s, tile)` on every tile for each
    /// stage `s` in order, and after each stage `reduce(s, partials, shared)` with every unit's
    /// partial sums (`stats_len` each, in unit order). The activations stay for
    /// [`Self::backward`].
    ///
    /// # Panics
    /// If `input` is not a whole number of samples.
    #[track_caller]
    pub fn forward<S, R>(&mut self, layout: TrainLayout, input: &[f32], stage: S, reduce: R)
    where
        S: Fn(usize, Tile<'_>) + Sync,
        R: FnMut(usize, &[f64], &mut [f64]),
    {
        let n = input.len() / layout.in_len.max(1);
        self.forward_part(layout, input, Part::whole(n), None, stage, reduce);
    }

    /// [`Self::forward`] of this process's `part` of a batch whose other parts other processes
    /// hold: statistics are gathered from every process through `exchange` before each
    /// reduction, so every process reduces the whole batch's.
    ///
    /// # Panics
    /// If `input` is not a whole number of samples, or the part does not lie on the batch's
    /// units.
    #[track_caller]
    pub fn forward_part<S, R>(
        &mut self,
        layout: TrainLayout,
        input: &[f32],
        part: Part,
        mut exchange: Option<&mut (dyn Exchange + '_)>,
        stage: S,
        mut reduce: R,
    ) where
        S: Fn(usize, Tile<'_>) + Sync,
        R: FnMut(usize, &[f64], &mut [f64]),
    {
        let TrainLayout { in_len, out_len, out_at, acts_len, .. } = layout;
        assert!(
            input.len().is_multiple_of(in_len),
            "input has {} elements, not a whole number of {in_len}-element samples",
            input.len()
        );
        let n = input.len() / in_len;
        let units = part.units(n);
        self.batch = n;
        self.part = part;
        self.ran = true;
        if self.outputs.len() != n * out_len {
            self.outputs.resize(n * out_len, 0.0);
        }
        let lanes = lane_count(layout, part, n, exchange.is_some());
        let first = part.first;
        let mut split = self.arena.split(layout, part, n, lanes);
        for wave in split.waves() {
            split.for_each_tile(wave, &|t: Tile<'_>| {
                let at = t.first - first;
                region_mut(t.acts, t.m, 0, in_len).copy_from_slice(&input[at * in_len..(at + t.m) * in_len]);
            });
        }
        for s in 0..layout.forward_stages {
            let mut split = self.arena.split(layout, part, n, lanes);
            for wave in split.waves() {
                split.for_each_tile(wave, &|t| stage(s, t));
            }
            let Arena { stats, all_stats, shared, .. } = &mut self.arena;
            let range = layout.forward_stats.get(s).copied();
            let partials = gathered(exchange.as_deref_mut(), layout, part, &units, stats, all_stats, range);
            reduce(s, partials, &mut shared[..layout.shared_len]);
        }
        let unit = unit_size(part.batch);
        let t = layout.max_tile.min(unit);
        for (lo, m) in tiles(n, unit, t) {
            let acts = &self.arena.acts[lo * acts_len..(lo + m) * acts_len];
            self.outputs[lo * out_len..(lo + m) * out_len].copy_from_slice(region(acts, m, out_at, out_len));
        }
    }

    /// Runs the backward pass of the last forward with `grad_output` (the loss gradient with
    /// respect to the outputs): copies it into the activation gradients, calls `stage(s, tile)`
    /// for each backward stage, and after each `reduce(s, partials, shared, grads)` where
    /// `grads` is the summed gradients the reduction may add batch-wide sums to; then writes the
    /// gradients to `grads`.
    ///
    /// # Panics
    /// If no forward pass came first, or the lengths do not match it.
    #[track_caller]
    pub fn backward<S, R>(&mut self, layout: TrainLayout, grad_output: &[f32], grads: &mut [f32], stage: S, reduce: R)
    where
        S: Fn(usize, Tile<'_>) + Sync,
        R: FnMut(usize, &[f64], &mut [f64], &mut [f32]),
    {
        assert!(self.ran, "backward needs a training forward pass first");
        assert_eq!(
            grad_output.len(),
            self.batch * layout.out_len,
            "grad_output has {} elements, the last forward pass produced {} samples of {}",
            grad_output.len(),
            self.batch,
            layout.out_len
        );
        assert_eq!(
            grads.len(),
            layout.param_count,
            "grads has {} elements, the network has {} parameters",
            grads.len(),
            layout.param_count
        );
        if self.batch == 0 {
            // As PyTorch's autograd through an empty batch: every gradient is 0.
            grads.fill(0.0);
            return;
        }
        let Self { arena, grads: summed, part, batch, .. } = self;
        backward_pass(arena, summed, *part, *batch, layout, grad_output, None, stage, reduce);
        grads.copy_from_slice(&summed[..layout.param_count]);
    }

    /// The loss of `train_step`: mean cross-entropy of the last forward's outputs (`classes`
    /// scores per label) against `labels` with `opts`, its gradient kept for
    /// [`Self::loss_backward`]. Returns the loss.
    ///
    /// # Errors
    /// Wrong label count or range, or a non-finite loss.
    pub fn cross_entropy(
        &mut self,
        layout: TrainLayout,
        labels: &[usize],
        classes: usize,
        opts: CrossEntropyRef<'_>,
    ) -> Result<f32, TrainError> {
        self.cross_entropy_part(layout, labels, classes, opts, None)
    }

    /// [`Self::cross_entropy`] of this process's part of the batch: the loss's sums go along
    /// through `exchange`, so the loss and the gradient's scale are the whole batch's.
    ///
    /// # Errors
    /// As [`Self::cross_entropy`].
    pub fn cross_entropy_part(
        &mut self,
        layout: TrainLayout,
        labels: &[usize],
        classes: usize,
        opts: CrossEntropyRef<'_>,
        exchange: Option<&mut (dyn Exchange + '_)>,
    ) -> Result<f32, TrainError> {
        let n = self.batch;
        let loss_grad = grow(&mut self.loss_grad, n * layout.out_len);
        let logits = &self.outputs[..n * layout.out_len];
        let loss = match exchange {
            None => cross_entropy_folded(logits, labels, classes, opts, loss_grad, None, &mut |f| f(0.0)),
            Some(x) => {
                cross_entropy_folded(logits, labels, classes, opts, loss_grad, Some(&mut self.terms), &mut |f| {
                    x.fold(f)
                })
            }
        }?;
        if !loss.is_finite() {
            return Err(TrainError::NonFiniteLoss { loss });
        }
        Ok(loss)
    }

    /// The backward pass of the last forward from the gradient [`Self::cross_entropy`] left,
    /// into [`Self::grads`].
    pub fn loss_backward<S, R>(&mut self, layout: TrainLayout, stage: S, reduce: R)
    where
        S: Fn(usize, Tile<'_>) + Sync,
        R: FnMut(usize, &[f64], &mut [f64], &mut [f32]),
    {
        self.loss_backward_part(layout, None, stage, reduce);
    }

    /// [`Self::loss_backward`] of this process's part: the gradients are summed over every
    /// process through `exchange`, stage by stage while the backward pass goes on.
    pub fn loss_backward_part<S, R>(
        &mut self,
        layout: TrainLayout,
        exchange: Option<&mut (dyn Exchange + '_)>,
        stage: S,
        reduce: R,
    ) where
        S: Fn(usize, Tile<'_>) + Sync,
        R: FnMut(usize, &[f64], &mut [f64], &mut [f32]),
    {
        let n = self.batch;
        let Self { arena, grads, part, loss_grad, .. } = self;
        backward_pass(arena, grads, *part, n, layout, &loss_grad[..n * layout.out_len], exchange, stage, reduce);
        self.grads_len = layout.param_count;
    }
}

/// The units' statistics a reduction reads (`range`, `(offset, len)` of each unit's, or all
/// of them): this process's, or with `exchange` every process's, gathered in unit order.
fn gathered<'a>(
    exchange: Option<&mut (dyn Exchange + '_)>,
    layout: TrainLayout,
    part: Part,
    units: &Range<usize>,
    stats: &'a [f64],
    all: &'a mut Vec<f64>,
    range: Option<(usize, usize)>,
) -> &'a [f64] {
    let st = layout.stats_len.max(1);
    let local = &stats[..units.len() * st];
    match exchange {
        None => local,
        Some(x) => {
            let all = grow(all, unit_count(part.batch) * st);
            x.gather(local, all, st, range.unwrap_or((0, st)));
            all
        }
    }
}

/// The tiles of a part of `n` samples in units of `unit` and tiles of at most `t`, in the order
/// a unit visits them: `(first sample, samples)`.
fn tiles(n: usize, unit: usize, t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n.div_ceil(unit)).flat_map(move |u| {
        let (start, end) = (u * unit, ((u + 1) * unit).min(n));
        (start..end).step_by(t).map(move |s| (s, t.min(end - s)))
    })
}

/// The backward pass over the tiles; the summed gradients are left in `summed`.
#[allow(clippy::too_many_arguments)]
fn backward_pass<S, R>(
    arena: &mut Arena,
    summed: &mut Vec<f32>,
    part: Part,
    n: usize,
    layout: TrainLayout,
    grad_output: &[f32],
    mut exchange: Option<&mut (dyn Exchange + '_)>,
    stage: S,
    mut reduce: R,
) where
    S: Fn(usize, Tile<'_>) + Sync,
    R: FnMut(usize, &[f64], &mut [f64], &mut [f32]),
{
    let TrainLayout { out_len, grad_out_at, param_count, .. } = layout;
    let units = part.units(n);
    let summed = grow(summed, param_count);
    // Gradients no stage's tiles write (a reduction's, or a frozen layer's) start at 0.
    summed.fill(0.0);
    let lanes = lane_count(layout, part, n, exchange.is_some());
    let first = part.first;
    let mut split = arena.split(layout, part, n, lanes);
    for wave in split.waves() {
        split.for_each_tile(wave, &|t: Tile<'_>| {
            let at = t.first - first;
            region_mut(t.grads, t.m, grad_out_at, out_len)
                .copy_from_slice(&grad_output[at * out_len..(at + t.m) * out_len]);
        });
    }
    // Lanes start at zero; in one process each wave's sum zeroes them again for the next.
    // SAFETY: no tile runs yet, and no exchange has been given these lanes this step.
    unsafe { split.lanes.zero(split.lanes.count) };
    for s in 0..layout.backward_stages {
        let ranges = layout.grad_ranges.get(s).copied().unwrap_or(&[]);
        let mut split = arena.split(layout, part, n, lanes);
        let (lanes, waves) = (split.lanes, split.units().div_ceil(split.lanes.count.max(1)));
        for (w, wave) in split.waves().enumerate() {
            let start = wave.start;
            split.for_each_tile(wave.clone(), &|t| stage(s, t));
            if exchange.is_none() {
                // SAFETY: the wave's tiles are done; its lanes are read here alone.
                unsafe { lanes.sum_into(summed, ranges, units.start + start, wave.len(), w + 1 < waves) };
            }
        }
        if let Some(x) = exchange.as_deref_mut() {
            x.bucket(ranges, lanes, units.clone());
        }
        let Arena { stats, all_stats, shared, .. } = arena;
        let range = layout.backward_stats.get(s).copied();
        let partials = gathered(exchange.as_deref_mut(), layout, part, &units, stats, all_stats, range);
        reduce(s, partials, &mut shared[..layout.shared_len], summed);
    }
    if let Some(x) = exchange {
        x.finish(summed);
    }
}
/// One region of a tile's buffer to write and `R` to read (per-sample offset and length each,
/// `samples` wide): a layer's output and inputs. Reads may overlap each other, not the write.
///
/// # Panics
/// If a region lies outside `buf`, or a read overlaps the write.
#[track_caller]
#[inline]
pub fn regions<const R: usize>(
    buf: &mut [f32],
    samples: usize,
    write: (usize, usize),
    reads: [(usize, usize); R],
) -> (&mut [f32], [&[f32]; R]) {
    let span = |(at, len): (usize, usize)| samples * at..samples * (at + len);
    let w = span(write);
    assert!(w.end <= buf.len(), "region {w:?} outside a buffer of {}", buf.len());
    for r in reads.map(span) {
        assert!(r.end <= buf.len(), "region {r:?} outside a buffer of {}", buf.len());
        assert!(
            r.end <= w.start || w.end <= r.start || r.is_empty() || w.is_empty(),
            "regions {r:?} and {w:?} overlap"
        );
    }
    let ptr = buf.as_mut_ptr();
    // SAFETY: every range lies inside `buf` (checked above), and no read range overlaps the write
    // range, so the one mutable slice aliases none of the shared ones; all borrow `buf`, which
    // outlives them.
    unsafe {
        let out = std::slice::from_raw_parts_mut(ptr.add(w.start), w.len());
        (out, reads.map(|r| std::slice::from_raw_parts(ptr.add(samples * r.0), samples * r.1)))
    }
}

/// `K` disjoint ranges `start..end` of `buf`, in ascending order, each as a mutable slice: a
/// layer's parameter tensors (or their gradients) in the flat array.
///
/// # Panics
/// If the ranges are not ascending and disjoint, or pass the end of `buf`.
#[track_caller]
#[inline]
pub fn slices_mut<const K: usize>(buf: &mut [f32], ranges: [(usize, usize); K]) -> [&mut [f32]; K] {
    let mut rest = buf;
    let mut consumed = 0;
    ranges.map(|(start, end)| {
        assert!(start >= consumed && end >= start, "ranges must ascend without overlapping");
        let tail = std::mem::take(&mut rest);
        let (_, tail) = tail.split_at_mut(start - consumed);
        let (mine, tail) = tail.split_at_mut(end - start);
        rest = tail;
        consumed = end;
        mine
    })
}

/// The region at per-sample offset `at`, `len` per sample, of one tile's buffer.
#[inline]
pub fn region<T>(buf: &[T], samples: usize, at: usize, len: usize) -> &[T] {
    &buf[samples * at..samples * (at + len)]
}

/// The region at per-sample offset `at`, `len` per sample, of one tile's buffer, writable.
#[inline]
pub fn region_mut<T>(buf: &mut [T], samples: usize, at: usize, len: usize) -> &mut [T] {
    &mut buf[samples * at..samples * (at + len)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: TrainLayout = TrainLayout {
        in_len: 2,
        out_len: 1,
        out_at: 3,
        acts_len: 4,
        grad_len: 1,
        grad_out_at: 0,
        argmax_len: 0,
        scratch_len: 1,
        max_tile: 3,
        param_count: 2,
        stats_len: 1,
        shared_len: 1,
        forward_stages: 2,
        backward_stages: 1,
        grad_ranges: &[&[(0, 2)]],
        forward_stats: &[(0, 1)],
        backward_stats: &[],
    };

    /// A "network" `y = w0 · (z - mean(z)) + w1` with `z = x0 + x1` and the mean over the whole
    /// batch, to check the plumbing: stages see every tile, a reduction sees every group's
    /// partial, and gradients sum over the batch.
    fn run(n: usize) -> (Vec<f32>, Vec<f32>, f64) {
        let w = [0.5f32, 0.25];
        let x: Vec<f32> = (0..2 * n).map(|i| i as f32).collect();
        let mut b = TrainBuffers::new();
        b.forward(
            LAYOUT,
            &x,
            |stage, t| {
                for s in 0..t.m {
                    let (x0, x1) = (t.acts[2 * s], t.acts[2 * s + 1]);
                    if stage == 0 {
                        t.acts[2 * t.m + s] = x0 + x1;
                        t.stats[0] += (x0 + x1) as f64;
                    } else {
                        t.acts[3 * t.m + s] = w[0] * (t.acts[2 * t.m + s] - t.shared[0] as f32) + w[1];
                    }
                }
            },
            |stage, partials, shared| {
                if stage == 0 {
                    shared[0] = partials.iter().sum::<f64>() / n as f64;
                }
            },
        );
        let mean = b.shared()[0];
        let out = b.outputs().to_vec();
        let mut grads = vec![f32::NAN; 2];
        b.backward(
            LAYOUT,
            &vec![1.0; n],
            &mut grads,
            |_, mut t| {
                let [g] = t.param_grads.slices_mut([(0, 2)]);
                for s in 0..t.m {
                    g[0] += t.grads[s] * (t.acts[2 * t.m + s] - 0.0);
                    g[1] += t.grads[s];
                }
            },
            |_, _, _, grads| grads[0] -= (mean * n as f64) as f32,
        );
        (out, grads, mean)
    }

    #[test]
    fn stages_reductions_and_gradient_sums() {
        for n in [1, 2, 7, 8, 9, 64, 100] {
            let (out, grads, mean) = run(n);
            let want_mean = (0..n).map(|s| (4 * s + 1) as f64).sum::<f64>() / n as f64;
            assert_eq!(mean, want_mean);
            for (s, y) in out.iter().enumerate() {
                assert_eq!(*y, 0.5 * ((4 * s + 1) as f32 - want_mean as f32) + 0.25, "n={n} sample {s}");
            }
            let want: f32 = (0..n).map(|s| (4 * s + 1) as f32).sum::<f32>() - (want_mean * n as f64) as f32;
            assert!((grads[0] - want).abs() <= 1e-3 * want.abs().max(1.0), "n={n}: {} vs {want}", grads[0]);
            assert_eq!(grads[1], n as f32);
        }
    }

    #[test]
    fn units_depend_on_the_batch_only() {
        assert_eq!((unit_size(0), unit_size(1), unit_size(5), unit_size(8), unit_size(9)), (1, 1, 5, 8, 8));
        assert_eq!((unit_size(64), unit_size(65), unit_size(72), unit_size(73)), (8, 9, 9, 10));
        assert_eq!((unit_size(128), unit_size(129), unit_size(2048)), (16, 16, 16));
        assert_eq!(
            (unit_count(5), unit_count(9), unit_count(64), unit_count(129), unit_count(2048)),
            (1, 2, 8, 9, 128)
        );
        let t: Vec<(usize, usize)> = tiles(20, unit_size(20), LAYOUT.max_tile).collect();
        assert_eq!(t, [(0, 3), (3, 3), (6, 2), (8, 3), (11, 3), (14, 2), (16, 3), (19, 1)]);
        assert_eq!((train_groups(100), train_groups(11_689_512), train_groups(5_000_000)), (8, 2, 3));
        // Shards: whole units in rank order, as even as units allow.
        assert_eq!([0, 1, 2].map(|r| shard_samples(64, r, 3)), [0..16, 16..40, 40..64]);
        assert_eq!([0, 1].map(|r| shard_samples(20, r, 2)), [0..8, 8..20]);
        assert_eq!([0, 1, 2].map(|r| shard_samples(2, r, 3)), [0..0, 0..0, 0..2]);
    }

    #[test]
    fn regions_and_slices() {
        let mut buf: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let (w, [a, b]) = regions(&mut buf, 2, (4, 2), [(0, 2), (1, 2)]);
        assert_eq!((a, b), (&[0.0, 1.0, 2.0, 3.0][..], &[2.0, 3.0, 4.0, 5.0][..]));
        w[0] = -1.0;
        assert_eq!(buf[8], -1.0);
        let [x, y] = slices_mut(&mut buf, [(1, 3), (5, 6)]);
        x[1] = 9.0;
        y[0] = 7.0;
        assert_eq!((buf[2], buf[5]), (9.0, 7.0));
        let caught = std::panic::catch_unwind(|| {
            let mut buf = vec![0.0f32; 8];
            let _ = regions(&mut buf, 2, (1, 2), [(0, 2)]);
        });
        assert!(caught.is_err(), "overlapping regions must panic");
    }

    #[test]
    fn regions_read_on_either_side_of_the_write() {
        let mut buf: Vec<f32> = (0..10).map(|v| v as f32).collect();
        let (dst, [src]) = regions(&mut buf, 2, (2, 3), [(0, 2)]);
        assert_eq!(src, &[0.0, 1.0, 2.0, 3.0]);
        assert_eq!(dst.len(), 6);
        dst[0] = -1.0;
        assert_eq!(buf[4], -1.0);
        let (dst, [src]) = regions(&mut buf, 2, (0, 2), [(3, 2)]);
        assert_eq!(src, &[6.0, 7.0, 8.0, 9.0]);
        dst[3] = -2.0;
        assert_eq!(buf[3], -2.0);
    }
}

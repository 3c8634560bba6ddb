//! How a training step cuts its batch: units of consecutive samples (a cut that depends on the
//! batch size alone), the processes' shares of them, the lanes that run at once, the tiles a
//! unit runs through, and the network's sizes the cut is made for ([`TrainLayout`]).

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
/// Where the gradient of one keyed value lies in a training pass's activation gradients (what
/// `gradient_at` reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyGrad {
    /// The key, as `activations` names it.
    pub key: &'static str,
    /// Its region: offset and elements per sample.
    pub at: usize,
    pub len: usize,
    /// One sample's shape.
    pub shape: &'static [usize],
    /// Whether it lies upstream of every parameter: only a pass that computes the input's
    /// gradient computes its.
    pub input_only: bool,
    /// The parameter tensors the layers up to it hold (the table's first ones): a pass that
    /// freezes them all and leaves out the input's gradient does not compute its gradient.
    pub params_through: usize,
}

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
    /// Where the input's gradient lies in the activation gradients.
    pub grad_in_at: usize,
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
        grad_in_at: 0,
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
    pub(crate) fn units(&self, n: usize) -> Range<usize> {
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

impl Default for Part {
    fn default() -> Self {
        Part::whole(0)
    }
}

/// Lanes a pass over a part of `n` samples uses: in one process as many as fit the partial
/// budget; when the sums continue in other processes, one per unit, since the units' partials
/// wait there for the sums of the processes before.
pub(crate) fn lane_count(layout: TrainLayout, part: Part, n: usize, across: bool) -> Option<usize> {
    let units = n.div_ceil(unit_size(part.batch));
    (!across).then(|| train_groups(layout.param_count).min(units))
}

/// The tiles of a part of `n` samples in units of `unit` and tiles of at most `t`, in the order
/// a unit visits them: `(first sample, samples)`.
pub(crate) fn tiles(n: usize, unit: usize, t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n.div_ceil(unit)).flat_map(move |u| {
        let (start, end) = (u * unit, ((u + 1) * unit).min(n));
        (start..end).step_by(t).map(move |s| (s, t.min(end - s)))
    })
}

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

mod arena;
mod backward;
pub(crate) mod partials;
mod regions;
pub(crate) mod schedule;

pub use arena::Tile;
pub use partials::GradPartial;
pub use regions::{region, region_mut, regions, slices_mut};
pub use schedule::{shard_samples, train_groups, unit_count, unit_size, KeyGrad, Part, TrainLayout};

use crate::train::exchange::Exchange;
use crate::train::frozen::BackwardFlags;
use crate::train::loss::{cross_entropy_folded, CrossEntropyRef, TrainError};
use arena::{grow, Arena};
use backward::backward_pass;
use schedule::{lane_count, tiles};
use std::ops::Range;

/// Training memory of one network, reused from step to step.
#[derive(Debug, Default)]
pub struct TrainBuffers {
    /// Whether a training forward pass has run, to take a backward pass (of an empty batch too).
    ran: bool,
    /// After a backward pass of the last forward: what it computed (its input gradient, and the
    /// first parameter tensor that trained). `None` before one.
    backward_ran: Option<(bool, usize)>,
    batch: usize,
    part: Part,
    arena: Arena,
    outputs: Vec<f32>,
    loss_grad: Vec<f32>,
    /// The loss's per-label terms when their sum goes on in other processes, or a custom
    /// loss's per-sample terms.
    terms: Vec<f64>,
    /// The summed parameter gradients of the last backward pass.
    grads: Vec<f32>,
    /// Parameters of the last cross-entropy backward pass, whose gradients `grads` holds.
    grads_len: usize,
}

impl TrainBuffers {
    /// Buffers that grow on first use.
    pub const fn new() -> Self {
        TrainBuffers {
            ran: false,
            backward_ran: None,
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

    /// The same gradients, for what completes them after the pass (weight standardisation).
    pub fn grads_mut(&mut self) -> &mut [f32] {
        &mut self.grads[..self.grads_len]
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
        self.backward_ran = None;
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
        let outputs = &mut self.outputs[..n * out_len];
        read_region(&self.arena.acts, acts_len, n, part, layout, (out_at, out_len), outputs);
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
        let flags = BackwardFlags::new(false);
        self.backward_into(layout, grad_output, grads, false, flags, |_| {}, stage, reduce);
    }

    /// [`Self::backward`], with `finish` run on the pass's own gradients before they go to
    /// `grads`, where they are added to what is there when `accumulate` (PyTorch's `backward`
    /// without `zero_grad` in between), else written; `flags` are what the stages compute (the
    /// input's gradient, the frozen parameters'; see [`Self::activation_grads`]).
    ///
    /// # Panics
    /// As [`Self::backward`].
    #[track_caller]
    #[allow(clippy::too_many_arguments)]
    pub fn backward_into<S, R>(
        &mut self,
        layout: TrainLayout,
        grad_output: &[f32],
        grads: &mut [f32],
        accumulate: bool,
        flags: BackwardFlags<'_>,
        finish: impl FnOnce(&mut [f32]),
        stage: S,
        reduce: R,
    ) where
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
            self.backward_ran = Some(flags.ran());
            if !accumulate {
                grads.fill(0.0);
            }
            return;
        }
        let Self { arena, grads: summed, part, batch, .. } = self;
        backward_pass(arena, summed, *part, *batch, layout, grad_output, None, stage, reduce);
        self.backward_ran = Some(flags.ran());
        let own = &mut self.grads[..layout.param_count];
        finish(own);
        if accumulate {
            grads.iter_mut().zip(&*own).for_each(|(g, v)| *g += v);
        } else {
            grads.copy_from_slice(own);
        }
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

    /// The activation gradients of the last backward pass at `at` (`len` per sample, a value's
    /// region), one sample after another into `dst`.
    ///
    /// # Panics
    /// If `dst` does not hold `len` elements per sample of the last forward pass.
    #[track_caller]
    pub fn read_grads(&self, layout: TrainLayout, at: usize, len: usize, dst: &mut [f32]) {
        let n = self.batch;
        assert_eq!(dst.len(), n * len, "{} elements for {n} samples of {len}", dst.len());
        if n == 0 {
            return;
        }
        read_region(&self.arena.grad_acts, layout.grad_len, n, self.part, layout, (at, len), dst);
    }

    /// A loss of the caller's over this process's part of the batch: `per_sample(index,
    /// outputs, grad)` gets each sample's index in the part and its outputs, writes the loss's gradient with respect to them into
    /// `grad` (zeroed first) and returns the sample's term of the loss. The loss is the terms'
    /// sum in sample order, added in `f64` (through `exchange` along the processes, so it is
    /// the whole batch's, the same bits as one process adds); the gradient is kept for
    /// [`Self::loss_backward`].
    ///
    /// # Errors
    /// A loss that is not finite.
    pub fn loss_part(
        &mut self,
        layout: TrainLayout,
        exchange: Option<&mut (dyn Exchange + '_)>,
        per_sample: &mut PerSampleLoss<'_>,
    ) -> Result<f32, TrainError> {
        let (n, len) = (self.batch, layout.out_len);
        let loss_grad = grow(&mut self.loss_grad, n * len);
        loss_grad.fill(0.0);
        self.terms.clear();
        for (s, (y, g)) in
            self.outputs[..n * len].chunks_exact(len.max(1)).zip(loss_grad.chunks_exact_mut(len.max(1))).enumerate()
        {
            self.terms.push(f64::from(per_sample(s, y, g)));
        }
        let terms = &self.terms;
        let total = match exchange {
            None => terms.iter().fold(0.0, |acc, t| acc + t),
            Some(x) => x.fold(&mut |start| terms.iter().fold(start, |acc, t| acc + t)),
        } as f32;
        if !total.is_finite() {
            return Err(TrainError::NonFiniteLoss { loss: total });
        }
        Ok(total)
    }

    /// The backward pass of the last forward from the gradient [`Self::cross_entropy`] left,
    /// into [`Self::grads`].
    pub fn loss_backward<S, R>(&mut self, layout: TrainLayout, stage: S, reduce: R)
    where
        S: Fn(usize, Tile<'_>) + Sync,
        R: FnMut(usize, &[f64], &mut [f64], &mut [f32]),
    {
        self.loss_backward_part(layout, None, BackwardFlags::new(false), stage, reduce);
    }

    /// [`Self::loss_backward`] of this process's part: the gradients are summed over every
    /// process through `exchange`, stage by stage while the backward pass goes on; `flags` are
    /// what the stages compute (see [`Self::backward_into`]).
    pub fn loss_backward_part<S, R>(
        &mut self,
        layout: TrainLayout,
        exchange: Option<&mut (dyn Exchange + '_)>,
        flags: BackwardFlags<'_>,
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
        self.backward_ran = Some(flags.ran());
    }

    /// The activation gradients at `key` of the last backward pass, into `dst`, if that pass
    /// computed them: a pass that computed the input's gradient computed all; another, the
    /// values downstream of a parameter (not `input_only`) that have a parameter that trained
    /// at or before them. `false` when there is none since the last forward pass.
    ///
    /// # Panics
    /// As [`Self::read_grads`].
    pub fn activation_grads(&self, layout: TrainLayout, key: &KeyGrad, dst: &mut [f32]) -> bool {
        match self.backward_ran {
            Some((input_grad, first_trainable))
                if input_grad || (!key.input_only && first_trainable < key.params_through) =>
            {
                self.read_grads(layout, key.at, key.len, dst);
                true
            }
            _ => false,
        }
    }
}

/// One region (`(at, len)` per sample) of a buffer laid out tile by tile (`per_sample` values a
/// sample, the tiles of `n` samples of `part` that the passes cut), one sample after another
/// into `dst`.
fn read_region(
    buffer: &[f32],
    per_sample: usize,
    n: usize,
    part: Part,
    layout: TrainLayout,
    (at, len): (usize, usize),
    dst: &mut [f32],
) {
    let unit = unit_size(part.batch);
    for (lo, m) in tiles(n, unit, layout.max_tile.min(unit)) {
        let tile = &buffer[lo * per_sample..(lo + m) * per_sample];
        dst[lo * len..(lo + m) * len].copy_from_slice(region(tile, m, at, len));
    }
}

/// A loss given one sample at a time: `(index, outputs, grad) -> term` (see
/// [`TrainBuffers::loss_part`]).
pub type PerSampleLoss<'a> = dyn FnMut(usize, &[f32], &mut [f32]) -> f32 + 'a;

/// The units' statistics a reduction reads (`range`, `(offset, len)` of each unit's, or all
/// of them): this process's, or with `exchange` every process's, gathered in unit order.
pub(crate) fn gathered<'a>(
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
        grad_in_at: 0,
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

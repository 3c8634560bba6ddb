//! The memory and the schedule of a training step: activations kept for the backward pass,
//! per-group gradient partials, and their reduction in a fixed order.
//!
//! A batch is cut into at most [`train_groups`] groups of consecutive samples (8, fewer for a
//! network so large that 8 gradient partials would not fit [`PARTIAL_BUDGET`]), a cut that
//! depends on the batch size and the network alone. Groups run in parallel, each through tiles
//! of at most
//! `max_tile` samples, and each adds its parameter gradients into its own partial; the
//! partials are then summed in group order. The thread count changes only who runs a group,
//! never what is added to what, so gradients are bit-identical on 1 thread or 64.
//!
//! All buffers grow to the largest batch seen and are reused: after the first step of a given
//! batch size, a step allocates nothing here.

use crate::train::loss::{cross_entropy_with, CrossEntropyRef, TrainError};
use rayon::prelude::*;

/// Most groups a batch is cut into, so most threads a training step keeps busy.
pub const MAX_GROUPS: usize = 8;

/// Elements all groups' gradient partials may take together (64 MiB): each partial is a whole
/// copy of the gradients, written and summed every step.
pub const PARTIAL_BUDGET: usize = 1 << 24;

/// Groups a network with `param_count` parameters cuts its batches into: as many partials as
/// `PARTIAL_BUDGET` holds, between 2 (so two threads share a step) and `MAX_GROUPS`.
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
    /// Per group: `f64` partial sums that batch-wide statistics are reduced from.
    pub stats_len: usize,
    /// Batch-wide `f64` values the reductions write and later stages read.
    pub shared_len: usize,
    /// Stages of the forward pass: a batch-wide reduction (a batch norm's statistics) ends one.
    pub forward_stages: usize,
    /// Stages of the backward pass.
    pub backward_stages: usize,
}

/// Samples per group for a batch of `n` cut into at most `max_groups` groups.
fn group_size(n: usize, max_groups: usize) -> usize {
    n.div_ceil(max_groups.min(n).max(1)).max(1)
}

impl TrainLayout {
    /// Samples per group for a batch of `n`: the network's group count is [`train_groups`] of
    /// its parameter count.
    fn group_size(&self, n: usize) -> usize {
        group_size(n, train_groups(self.param_count))
    }
}

/// Training memory of one network, reused from step to step.
#[derive(Debug, Default)]
pub struct TrainBuffers {
    /// Whether a training forward pass has run, to take a backward pass (of an empty batch too).
    ran: bool,
    batch: usize,
    arena: Arena,
    outputs: Vec<f32>,
    loss_grad: Vec<f32>,
    /// Parameters of the last cross-entropy backward pass, whose gradients the first partial holds.
    grads_len: usize,
}

/// The memory one pass over the tiles splits between them.
#[derive(Debug, Default)]
struct Arena {
    acts: Vec<f32>,
    grad_acts: Vec<f32>,
    argmax: Vec<u32>,
    scratch: Vec<f32>,
    partials: Vec<f32>,
    stats: Vec<f64>,
    shared: Vec<f64>,
}

fn grow<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
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
    /// Index in the batch of the tile's first sample.
    pub first: usize,
    /// Activations.
    pub acts: &'a mut [f32],
    /// Activation gradients (backward only).
    pub grads: &'a mut [f32],
    /// Max-pool argmax indices.
    pub argmax: &'a mut [u32],
    /// Scratch.
    pub scratch: &'a mut [f32],
    /// The tile's group's partial sums.
    pub stats: &'a mut [f64],
    /// Batch-wide values from the reductions so far.
    pub shared: &'a [f64],
    /// The tile's group's parameter-gradient partial (backward only).
    pub param_grads: &'a mut [f32],
}

/// Buffers split into groups for one pass over the tiles.
struct Split<'a> {
    n: usize,
    layout: TrainLayout,
    acts: &'a mut [f32],
    grads: &'a mut [f32],
    argmax: &'a mut [u32],
    scratch: &'a mut [f32],
    stats: &'a mut [f64],
    shared: &'a [f64],
    param_grads: &'a mut [f32],
}

impl Split<'_> {
    /// Calls `f` on every tile: groups in parallel, a group's tiles in order.
    fn for_each_tile<F: Fn(Tile<'_>) + Sync>(&mut self, f: &F) {
        let TrainLayout { acts_len, grad_len, scratch_len, max_tile, .. } = self.layout;
        let (n, shared) = (self.n, self.shared);
        if n == 0 {
            return;
        }
        let gs = self.layout.group_size(n);
        let t = max_tile.min(gs);
        let am = self.layout.argmax_len.max(1);
        let (st, pc) = (self.layout.stats_len.max(1), self.layout.param_count.max(1));
        self.acts[..n * acts_len]
            .par_chunks_mut(gs * acts_len)
            .zip(self.grads[..n * grad_len].par_chunks_mut(gs * grad_len))
            .zip(self.argmax[..n * am].par_chunks_mut(gs * am))
            .zip(self.scratch.par_chunks_mut(t * scratch_len.max(1)))
            .zip(self.stats.par_chunks_mut(st))
            .zip(self.param_grads.par_chunks_mut(pc))
            .enumerate()
            .for_each(|(g, (((((acts, grads), argmax), scratch), stats), param_grads))| {
                let len = acts.len() / acts_len;
                let mut s0 = 0;
                while s0 < len {
                    let m = t.min(len - s0);
                    f(Tile {
                        m,
                        first: g * gs + s0,
                        acts: &mut acts[s0 * acts_len..(s0 + m) * acts_len],
                        grads: &mut grads[s0 * grad_len..(s0 + m) * grad_len],
                        argmax: &mut argmax[s0 * am..(s0 + m) * am],
                        scratch: &mut scratch[..m * scratch_len],
                        stats: &mut stats[..],
                        shared,
                        param_grads: &mut param_grads[..],
                    });
                    s0 += m;
                }
            });
    }
}

/// The tiles of a batch of `n`, in the order [`Split::for_each_tile`] visits a group's tiles:
/// `(first sample, samples)`.
fn tiles(n: usize, layout: TrainLayout) -> impl Iterator<Item = (usize, usize)> {
    let gs = layout.group_size(n);
    let t = layout.max_tile.min(gs);
    (0..n.div_ceil(gs)).flat_map(move |g| {
        let (start, end) = (g * gs, ((g + 1) * gs).min(n));
        (start..end).step_by(t).map(move |s| (s, t.min(end - s)))
    })
}

impl Arena {
    /// Sizes every buffer for `n` samples (zeroing the partial sums) and splits them for a pass.
    fn split(&mut self, layout: TrainLayout, n: usize) -> Split<'_> {
        let gs = layout.group_size(n);
        let groups = n.div_ceil(gs);
        let t = layout.max_tile.min(gs);
        if self.scratch.is_empty() || self.acts.len() < n * layout.acts_len {
            crate::tiling::reserve_packing_everywhere();
        }
        let stats = grow(&mut self.stats, groups * layout.stats_len.max(1));
        stats.fill(0.0);
        if self.shared.len() < layout.shared_len {
            self.shared.resize(layout.shared_len, 0.0);
        }
        Split {
            n,
            layout,
            acts: grow(&mut self.acts, n * layout.acts_len),
            grads: grow(&mut self.grad_acts, n * layout.grad_len),
            argmax: grow(&mut self.argmax, n * layout.argmax_len.max(1)),
            scratch: grow(&mut self.scratch, groups * t * layout.scratch_len.max(1)),
            stats,
            shared: &self.shared,
            param_grads: grow(&mut self.partials, groups * layout.param_count.max(1)),
        }
    }
}

impl TrainBuffers {
    /// Buffers that grow on first use.
    pub const fn new() -> Self {
        TrainBuffers {
            ran: false,
            batch: 0,
            arena: Arena {
                acts: Vec::new(),
                grad_acts: Vec::new(),
                argmax: Vec::new(),
                scratch: Vec::new(),
                partials: Vec::new(),
                stats: Vec::new(),
                shared: Vec::new(),
            },
            outputs: Vec::new(),
            loss_grad: Vec::new(),
            grads_len: 0,
        }
    }

    /// Samples of the last training forward pass (0 before the first).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Outputs of the last training forward pass, `batch × out_len`.
    pub fn outputs(&self) -> &[f32] {
        &self.outputs
    }

    /// Parameter gradients of the last [`Self::loss_backward`].
    pub fn grads(&self) -> &[f32] {
        &self.arena.partials[..self.grads_len]
    }

    /// The batch-wide values of the last pass's reductions (a batch norm's statistics).
    pub fn shared(&self) -> &[f64] {
        &self.arena.shared
    }

    /// Runs the training forward pass of `input` (whole samples of `layout.in_len`): copies each
    /// sample to the start of its activations, calls `stage(s, tile)` on every tile for each
    /// stage `s` in order, and after each stage `reduce(s, partials, shared)` with every group's
    /// partial sums (`stats_len` each, in group order). The activations stay for
    /// [`Self::backward`].
    ///
    /// # Panics
    /// If `input` is not a whole number of samples.
    #[track_caller]
    pub fn forward<S, R>(&mut self, layout: TrainLayout, input: &[f32], stage: S, mut reduce: R)
    where
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
        self.batch = n;
        self.ran = true;
        if self.outputs.len() != n * out_len {
            self.outputs.resize(n * out_len, 0.0);
        }
        self.arena.split(layout, n).for_each_tile(&|t: Tile<'_>| {
            region_mut(t.acts, t.m, 0, in_len).copy_from_slice(&input[t.first * in_len..(t.first + t.m) * in_len]);
        });
        for s in 0..layout.forward_stages {
            self.arena.split(layout, n).for_each_tile(&|t| stage(s, t));
            let Arena { stats, shared, .. } = &mut self.arena;
            reduce(s, stats, &mut shared[..layout.shared_len]);
        }
        for (first, m) in tiles(n, layout) {
            let acts = &self.arena.acts[first * acts_len..(first + m) * acts_len];
            self.outputs[first * out_len..(first + m) * out_len].copy_from_slice(region(acts, m, out_at, out_len));
        }
    }

    /// Runs the backward pass of the last forward with `grad_output` (the loss gradient with
    /// respect to the outputs): copies it into the activation gradients, calls `stage(s, tile)`
    /// for each backward stage, and after each `reduce(s, partials, shared, grads)` where
    /// `grads` is a parameter-gradient partial the reduction may add batch-wide sums to; then
    /// writes the sum of the partials, in group order, to `grads`.
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
        backward_pass(&mut self.arena, self.batch, layout, grad_output, stage, reduce);
        grads.copy_from_slice(&self.arena.partials[..layout.param_count]);
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
        let n = self.batch;
        let loss_grad = grow(&mut self.loss_grad, n * layout.out_len);
        let loss = cross_entropy_with(&self.outputs[..n * layout.out_len], labels, classes, opts, loss_grad)?;
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
        let n = self.batch;
        backward_pass(&mut self.arena, n, layout, &self.loss_grad[..n * layout.out_len], stage, reduce);
        self.grads_len = layout.param_count;
    }
}

/// The backward pass over the tiles; the summed gradients are left in the first group's
/// partial.
fn backward_pass<S, R>(arena: &mut Arena, n: usize, layout: TrainLayout, grad_output: &[f32], stage: S, mut reduce: R)
where
    S: Fn(usize, Tile<'_>) + Sync,
    R: FnMut(usize, &[f64], &mut [f64], &mut [f32]),
{
    let TrainLayout { out_len, grad_out_at, param_count, .. } = layout;
    let mut split = arena.split(layout, n);
    split.param_grads.fill(0.0);
    split.for_each_tile(&|t: Tile<'_>| {
        region_mut(t.grads, t.m, grad_out_at, out_len)
            .copy_from_slice(&grad_output[t.first * out_len..(t.first + t.m) * out_len]);
    });
    for s in 0..layout.backward_stages {
        arena.split(layout, n).for_each_tile(&|t| stage(s, t));
        let Arena { stats, shared, partials, .. } = arena;
        reduce(s, stats, &mut shared[..layout.shared_len], &mut partials[..param_count]);
    }
    let groups = n.div_ceil(layout.group_size(n));
    sum_partials(&mut arena.partials, groups, param_count);
}

/// Sums the `groups` partials (each `param_count` long) in group order into the first, in
/// parallel over parameter ranges: no separate gradient buffer, one copy of the parameters less.
fn sum_partials(partials: &mut [f32], groups: usize, param_count: usize) {
    const RANGE: usize = 4096;
    let (first, rest) = partials.split_at_mut(param_count);
    let rest: &[f32] = rest;
    first.par_chunks_mut(RANGE).enumerate().for_each(|(r, out)| {
        let at = r * RANGE;
        for g in 1..groups {
            let part = &rest[(g - 1) * param_count + at..(g - 1) * param_count + at + out.len()];
            out.iter_mut().zip(part).for_each(|(o, v)| *o += v);
        }
    });
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
            |_, t| {
                for s in 0..t.m {
                    t.param_grads[0] += t.grads[s] * (t.acts[2 * t.m + s] - 0.0);
                    t.param_grads[1] += t.grads[s];
                }
            },
            |_, _, _, group0| group0[0] -= (mean * n as f64) as f32,
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
    fn group_sizes_depend_on_the_batch_only() {
        assert_eq!(group_size(1, 8), 1);
        assert_eq!(group_size(8, 8), 1);
        assert_eq!(group_size(9, 8), 2);
        assert_eq!(group_size(64, 8), 8);
        assert_eq!(group_size(65, 8), 9);
        assert_eq!(group_size(16, 2), 8);
        let t: Vec<(usize, usize)> = tiles(9, LAYOUT).collect();
        assert_eq!(t, [(0, 2), (2, 2), (4, 2), (6, 2), (8, 1)]);
        assert_eq!((train_groups(100), train_groups(11_689_512), train_groups(5_000_000)), (8, 2, 3));
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

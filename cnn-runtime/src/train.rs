//! The memory and the schedule of a training step: activations kept for the backward pass,
//! per-group gradient partials, and their reduction in a fixed order.
//!
//! A batch is cut into at most [`MAX_GROUPS`] groups of consecutive samples, a cut that depends
//! on the batch size alone. Groups run in parallel, each through tiles of at most
//! `max_tile` samples, and each adds its parameter gradients into its own partial; the
//! partials are then summed in group order. The thread count changes only who runs a group,
//! never what is added to what, so gradients are bit-identical on 1 thread or 64.
//!
//! All buffers grow to the largest batch seen and are reused: after the first step of a given
//! batch size, a step allocates nothing here.

use crate::loss::{softmax_cross_entropy, TrainError};
use rayon::prelude::*;

/// Most groups a batch is cut into, so most threads a training step keeps busy.
pub const MAX_GROUPS: usize = 8;

/// A network's training sizes, per sample, written by the macro.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainLayout {
    /// Input elements.
    pub in_len: usize,
    /// Output elements.
    pub out_len: usize,
    /// Activations kept for backward, the input included.
    pub acts_len: usize,
    /// Max-pool argmax indices kept for backward.
    pub argmax_len: usize,
    /// Scratch for one sample of a tile, forward or backward.
    pub scratch_len: usize,
    /// Most samples a tile takes.
    pub max_tile: usize,
    /// Parameters (and gradients).
    pub param_count: usize,
}

/// Samples per group for a batch of `n`.
fn group_size(n: usize) -> usize {
    n.div_ceil(MAX_GROUPS.min(n).max(1)).max(1)
}

/// Training memory of one network, reused from step to step.
#[derive(Debug, Default)]
pub struct TrainBuffers {
    batch: usize,
    acts: Vec<f32>,
    argmax: Vec<u32>,
    scratch: Vec<f32>,
    partials: Vec<f32>,
    outputs: Vec<f32>,
    loss_grad: Vec<f32>,
    grads: Vec<f32>,
}

fn grow<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

/// The work of one tile in the forward pass: `(samples, input, activations, argmax, scratch,
/// output)`.
pub type ForwardTile<'a> = (usize, &'a [f32], &'a mut [f32], &'a mut [u32], &'a mut [f32], &'a mut [f32]);

impl TrainBuffers {
    /// Buffers that grow on first use.
    pub const fn new() -> Self {
        TrainBuffers {
            batch: 0,
            acts: Vec::new(),
            argmax: Vec::new(),
            scratch: Vec::new(),
            partials: Vec::new(),
            outputs: Vec::new(),
            loss_grad: Vec::new(),
            grads: Vec::new(),
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

    /// Parameter gradients of the last [`Self::cross_entropy_backward`].
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    /// Runs the training forward pass of `input` (whole samples of `layout.in_len`), calling
    /// `tile(samples, input, acts, argmax, scratch, output)` on every tile; `acts` and `argmax`
    /// stay for [`Self::backward`].
    ///
    /// # Panics
    /// If `input` is not a whole number of samples.
    #[track_caller]
    pub fn forward<F>(&mut self, layout: TrainLayout, input: &[f32], tile: F)
    where
        F: Fn(ForwardTile<'_>) + Sync,
    {
        let TrainLayout { in_len, out_len, acts_len, scratch_len, max_tile, .. } = layout;
        assert!(input.len().is_multiple_of(in_len), "input has {} elements, not a whole number of {in_len}-element samples", input.len());
        let n = input.len() / in_len;
        self.batch = n;
        let argmax_len = layout.argmax_len.max(1);
        let gs = group_size(n);
        let t = max_tile.min(gs);
        if self.scratch.is_empty() || self.acts.len() < n * acts_len {
            crate::batch::reserve_packing_everywhere();
        }
        let acts = grow(&mut self.acts, n * acts_len);
        let argmax = grow(&mut self.argmax, n * argmax_len);
        let scratch = grow(&mut self.scratch, n.div_ceil(gs) * t * scratch_len);
        if self.outputs.len() != n * out_len {
            self.outputs.resize(n * out_len, 0.0);
        }
        if n == 0 {
            return;
        }
        input
            .par_chunks(gs * in_len)
            .zip(acts.par_chunks_mut(gs * acts_len))
            .zip(argmax.par_chunks_mut(gs * argmax_len))
            .zip(self.outputs.par_chunks_mut(gs * out_len))
            .zip(scratch.par_chunks_mut(t * scratch_len))
            .for_each(|((((x, a), am), y), s)| {
                let mut s0 = 0;
                while s0 * in_len < x.len() {
                    let m = t.min(x.len() / in_len - s0);
                    tile((
                        m,
                        &x[s0 * in_len..(s0 + m) * in_len],
                        &mut a[s0 * acts_len..(s0 + m) * acts_len],
                        &mut am[s0 * argmax_len..(s0 + m) * argmax_len],
                        &mut s[..m * scratch_len],
                        &mut y[s0 * out_len..(s0 + m) * out_len],
                    ));
                    s0 += m;
                }
            });
    }

    /// Runs the backward pass of the last forward with `grad_output` (the loss gradient with
    /// respect to the outputs), calling `tile(samples, acts, argmax, grad_output, scratch,
    /// grads)` on every tile, where `grads` is the tile's group partial to add into; then writes
    /// the sum of the partials, in group order, to `grads`.
    ///
    /// # Panics
    /// If no forward pass came first, or the lengths do not match it.
    #[track_caller]
    pub fn backward<F>(&mut self, layout: TrainLayout, grad_output: &[f32], grads: &mut [f32], tile: F)
    where
        F: Fn(usize, &[f32], &[u32], &[f32], &mut [f32], &mut [f32]) + Sync,
    {
        assert!(self.batch > 0, "backward needs a training forward pass first");
        assert_eq!(
            grad_output.len(),
            self.batch * layout.out_len,
            "grad_output has {} elements, the last forward pass produced {} samples of {}",
            grad_output.len(),
            self.batch,
            layout.out_len
        );
        assert_eq!(grads.len(), layout.param_count, "grads has {} elements, the network has {} parameters", grads.len(), layout.param_count);
        let n = self.batch;
        backward_groups(layout, n, &self.acts, &self.argmax, &mut self.scratch, &mut self.partials, grad_output, grads, tile);
    }

    /// The step of `train_step`: mean softmax cross-entropy of the last forward's outputs
    /// against `labels`, then the backward pass into [`Self::grads`]. Returns the loss.
    ///
    /// # Errors
    /// Wrong label count or range, or a non-finite loss (then no gradients are computed).
    pub fn cross_entropy_backward<F>(&mut self, layout: TrainLayout, labels: &[usize], tile: F) -> Result<f32, TrainError>
    where
        F: Fn(usize, &[f32], &[u32], &[f32], &mut [f32], &mut [f32]) + Sync,
    {
        let n = self.batch;
        let loss_grad = grow(&mut self.loss_grad, n * layout.out_len);
        let loss = softmax_cross_entropy(&self.outputs[..n * layout.out_len], layout.out_len, labels, loss_grad)?;
        if !loss.is_finite() {
            return Err(TrainError::NonFiniteLoss { loss });
        }
        let grads = grow(&mut self.grads, layout.param_count);
        backward_groups(layout, n, &self.acts, &self.argmax, &mut self.scratch, &mut self.partials, &self.loss_grad[..n * layout.out_len], grads, tile);
        Ok(loss)
    }
}

#[allow(clippy::too_many_arguments)]
fn backward_groups<F>(
    layout: TrainLayout,
    n: usize,
    acts: &[f32],
    argmax: &[u32],
    scratch: &mut Vec<f32>,
    partials: &mut Vec<f32>,
    grad_output: &[f32],
    grads: &mut [f32],
    tile: F,
) where
    F: Fn(usize, &[f32], &[u32], &[f32], &mut [f32], &mut [f32]) + Sync,
{
    let TrainLayout { out_len, acts_len, scratch_len, max_tile, param_count, .. } = layout;
    let argmax_len = layout.argmax_len.max(1);
    let gs = group_size(n);
    let groups = n.div_ceil(gs);
    let t = max_tile.min(gs);
    let scratch = grow(scratch, groups * t * scratch_len);
    let partials = grow(partials, groups * param_count.max(1));
    acts[..n * acts_len]
        .par_chunks(gs * acts_len)
        .zip(argmax[..n * argmax_len].par_chunks(gs * argmax_len))
        .zip(grad_output.par_chunks(gs * out_len))
        .zip(scratch.par_chunks_mut(t * scratch_len))
        .zip(partials.par_chunks_mut(param_count.max(1)))
        .for_each(|((((a, am), g), s), p)| {
            p.fill(0.0);
            let len = g.len() / out_len;
            let mut s0 = 0;
            while s0 < len {
                let m = t.min(len - s0);
                tile(
                    m,
                    &a[s0 * acts_len..(s0 + m) * acts_len],
                    &am[s0 * argmax_len..(s0 + m) * argmax_len],
                    &g[s0 * out_len..(s0 + m) * out_len],
                    &mut s[..m * scratch_len],
                    &mut p[..param_count],
                );
                s0 += m;
            }
        });
    // Sum the partials in group order, parallel over parameter ranges.
    const RANGE: usize = 4096;
    let partials = &partials[..groups * param_count.max(1)];
    grads.par_chunks_mut(RANGE).enumerate().for_each(|(r, out)| {
        let at = r * RANGE;
        out.copy_from_slice(&partials[at..at + out.len()]);
        for g in 1..groups {
            let part = &partials[g * param_count + at..g * param_count + at + out.len()];
            out.iter_mut().zip(part).for_each(|(o, v)| *o += v);
        }
    });
}

/// Splits `buf` (one tile's activations, `samples` wide) into the region at per-sample offset
/// `src` of length `src_len`, read-only, and the later region at `dst` of length `dst_len`,
/// writable: a layer's input and output.
///
/// # Panics
/// If the source region does not end before the destination begins.
#[track_caller]
#[inline]
pub fn split_regions(buf: &mut [f32], samples: usize, src: usize, src_len: usize, dst: usize, dst_len: usize) -> (&[f32], &mut [f32]) {
    assert!(src + src_len <= dst, "regions overlap");
    let (lo, hi) = buf.split_at_mut(samples * dst);
    (&lo[samples * src..samples * (src + src_len)], &mut hi[..samples * dst_len])
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

    const LAYOUT: TrainLayout = TrainLayout { in_len: 2, out_len: 1, acts_len: 3, argmax_len: 0, scratch_len: 1, max_tile: 3, param_count: 2 };

    /// A "network" `y = w0 · (x0 + x1) + w1`, to check the plumbing: tiles see their samples
    /// and gradients sum over the batch.
    fn run(n: usize) -> (Vec<f32>, Vec<f32>) {
        let w = [0.5f32, 0.25];
        let x: Vec<f32> = (0..2 * n).map(|i| i as f32).collect();
        let mut b = TrainBuffers::new();
        b.forward(LAYOUT, &x, |(m, x, acts, _, _, y)| {
            for s in 0..m {
                acts[s * 3..s * 3 + 2].copy_from_slice(&x[s * 2..s * 2 + 2]);
                acts[s * 3 + 2] = x[s * 2] + x[s * 2 + 1];
                y[s] = w[0] * acts[s * 3 + 2] + w[1];
            }
        });
        let out = b.outputs().to_vec();
        let mut grads = vec![f32::NAN; 2];
        b.backward(LAYOUT, &vec![1.0; n], &mut grads, |m, acts, _, g, _, p| {
            for s in 0..m {
                p[0] += g[s] * acts[s * 3 + 2];
                p[1] += g[s];
            }
        });
        (out, grads)
    }

    #[test]
    fn tiles_groups_and_reduction() {
        for n in [1, 2, 7, 8, 9, 64, 100] {
            let (out, grads) = run(n);
            for (s, y) in out.iter().enumerate() {
                assert_eq!(*y, 0.5 * (4 * s + 1) as f32 + 0.25);
            }
            let want: f32 = (0..n).map(|s| (4 * s + 1) as f32).sum();
            assert_eq!(grads, [want, n as f32]);
        }
    }

    #[test]
    fn group_sizes_depend_on_the_batch_only() {
        assert_eq!(group_size(1), 1);
        assert_eq!(group_size(8), 1);
        assert_eq!(group_size(9), 2);
        assert_eq!(group_size(64), 8);
        assert_eq!(group_size(65), 9);
    }

    #[test]
    fn split_regions_gives_disjoint_input_and_output() {
        let mut buf: Vec<f32> = (0..10).map(|v| v as f32).collect();
        let (src, dst) = split_regions(&mut buf, 2, 0, 2, 2, 3);
        assert_eq!(src, &[0.0, 1.0, 2.0, 3.0]);
        assert_eq!(dst.len(), 6);
        dst[0] = -1.0;
        assert_eq!(buf[4], -1.0);
    }
}

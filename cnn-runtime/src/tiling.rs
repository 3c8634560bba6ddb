//! Running a batch in tiles across rayon's threads with reusable scratch memory.

use rayon::prelude::*;
use std::cell::RefCell;

/// Scratch memory for batched forward passes, reused from call to call.
///
/// It grows to what the largest batch seen so far needs and never shrinks, so after the first
/// call of a given batch size a forward pass allocates nothing here. One workspace may serve
/// several networks.
#[derive(Debug, Default)]
pub struct Workspace {
    buf: Vec<f32>,
}

impl Workspace {
    /// An empty workspace; the first forward pass sizes it.
    pub const fn new() -> Self {
        Workspace { buf: Vec::new() }
    }

    /// Elements held.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, len: usize) -> &mut [f32] {
        if self.buf.len() < len {
            self.buf.resize(len, 0.0);
            reserve_packing_everywhere();
        }
        &mut self.buf[..len]
    }
}

/// Sizes the packing buffer of every thread in the current rayon pool, so that products that
/// land on any of them later allocate nothing.
pub(crate) fn reserve_packing_everywhere() {
    rayon::broadcast(|_| crate::kernels::gemm::reserve_packing());
}

thread_local! {
    static THREAD_WORKSPACE: RefCell<Workspace> = const { RefCell::new(Workspace::new()) };
}

/// Runs `f` with this thread's cached workspace, or with a fresh one if the cached one is in
/// use further up the stack (a forward pass called from inside another on the same thread).
pub fn with_thread_workspace<R>(f: impl FnOnce(&mut Workspace) -> R) -> R {
    THREAD_WORKSPACE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut ws) => f(&mut ws),
        Err(_) => f(&mut Workspace::new()),
    })
}

/// The largest of `values` (0 for none), in a const context.
pub const fn max_of(values: &[usize]) -> usize {
    let (mut m, mut i) = (0, 0);
    while i < values.len() {
        if values[i] > m {
            m = values[i];
        }
        i += 1;
    }
    m
}

/// Samples a tile takes: as many as `budget` scratch elements hold at `per_sample` each,
/// between 1 and `most`.
pub const fn tile_size(budget: usize, per_sample: usize, most: usize) -> usize {
    let fit = match budget.checked_div(per_sample) {
        Some(fit) => fit,
        None => most,
    };
    if fit < 1 {
        1
    } else if fit > most {
        most
    } else {
        fit
    }
}

/// How a network wants its batch cut: per-sample sizes and the most samples one tile holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Input elements of one sample.
    pub in_len: usize,
    /// Output elements of one sample.
    pub out_len: usize,
    /// Scratch elements one sample needs.
    pub scratch_len: usize,
    /// The most samples one tile takes; the macro picks it so a tile's scratch stays small.
    pub max_tile: usize,
    /// The whole batch is one tile: a layer normalizes with the statistics of the samples it is
    /// given (a batch norm without running statistics, as PyTorch runs it in eval mode).
    pub whole_batch: bool,
}

impl Tiling {
    /// No samples: what a network that failed to compile declares (it never runs).
    #[doc(hidden)]
    pub const EMPTY: Tiling = Tiling { in_len: 0, out_len: 0, scratch_len: 0, max_tile: 1, whole_batch: false };
}

/// Splits the samples of `input` into one contiguous part per rayon thread and each part into
/// tiles of at most `tiling.max_tile` samples, and calls `f(n, input, output, scratch)` on each
/// tile. Every sample's result depends only on that sample, so the split does not change it;
/// with `tiling.whole_batch` the batch is one tile, whatever its size.
///
/// # Panics
/// If `input` and `output` do not hold the same number of whole samples.
#[track_caller]
pub fn for_each_tile<F>(ws: &mut Workspace, tiling: Tiling, input: &[f32], output: &mut [f32], f: F)
where
    F: Fn(usize, &[f32], &mut [f32], &mut [f32]) + Sync,
{
    let Tiling { in_len, out_len, scratch_len, max_tile, whole_batch } = tiling;
    assert!(
        input.len().is_multiple_of(in_len),
        "input has {} elements, not a whole number of {in_len}-element samples",
        input.len()
    );
    let n = input.len() / in_len;
    assert_eq!(output.len(), n * out_len, "output has room for {} samples, the input has {n}", output.len() / out_len);
    if n == 0 {
        return;
    }
    if whole_batch {
        f(n, input, output, ws.take(n * scratch_len));
        return;
    }
    let per_part = n.div_ceil(rayon::current_num_threads().min(n));
    let parts = n.div_ceil(per_part);
    let slot = per_part.min(max_tile) * scratch_len;
    let scratch = ws.take(parts * slot);
    let run_part = |input: &[f32], output: &mut [f32], scratch: &mut [f32]| {
        let tile = max_tile.min(input.len() / in_len);
        for (x, y) in input.chunks(tile * in_len).zip(output.chunks_mut(tile * out_len)) {
            let m = x.len() / in_len;
            f(m, x, y, &mut scratch[..m * scratch_len]);
        }
    };
    if parts == 1 {
        if rayon::current_num_threads() > 1 && rayon::current_thread_index().is_none() {
            with_spinning_workers(|| run_part(input, output, scratch));
        } else {
            run_part(input, output, scratch);
        }
    } else {
        input
            .par_chunks(per_part * in_len)
            .zip(output.par_chunks_mut(per_part * out_len))
            .zip(scratch.par_chunks_mut(slot))
            .for_each(|((x, y), s)| run_part(x, y, s));
    }
}

/// Runs `f` (one sample's pass, whose layers split their work among the threads) on a thread
/// of rayon's pool while its other workers spin, taking that work as soon as it is offered.
///
/// Called from outside the pool, each split would be injected cold, blocking the caller until
/// a worker woke to finish it; from a pool thread it is a push onto the thread's own queue. But
/// an idle rayon worker sleeps within microseconds and takes tens of microseconds to wake, once
/// per layer, so for the length of the pass each other worker runs a job that looks for work
/// without sleeping (as onnxruntime's thread pool spins), and stops when the pass is done. The
/// spinners are `join`ed, not spawned, so they live on the stack: nothing is allocated.
fn with_spinning_workers(f: impl FnOnce() + Send) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = AtomicBool::new(false);
    let spin = || {
        // A thread inside a pass or a spinner takes spinners off the queues while it waits on
        // a split another worker took (its own pass's, or those of another pass it picked up).
        // Spinning there, above work it has to return to, two passes could each wait for the
        // other's thread; so only a thread with nothing beneath it spins.
        if IN_PASS.get() {
            return;
        }
        let _busy = Busy::enter(None);
        while !done.load(Ordering::Acquire) {
            if let Some(rayon::Yield::Idle) = rayon::yield_now() {
                std::hint::spin_loop();
            }
        }
    };
    let mut f = Some(f);
    let mut pass = || {
        // Ends the spinners even if `f` panics: `join` waits for them before passing the
        // panic on.
        let _busy = Busy::enter(Some(&done));
        if let Some(f) = f.take() {
            f();
        }
    };
    fn nest(spinners: usize, pass: &mut (dyn FnMut() + Send), spin: &(dyn Fn() + Sync)) {
        if spinners == 0 {
            pass();
        } else {
            rayon::join(|| nest(spinners - 1, pass, spin), spin);
        }
    }
    nest(rayon::current_num_threads() - 1, &mut pass, &spin);
}

thread_local! {
    /// Whether this thread is running a batch-1 pass or a spinner (see [`with_spinning_workers`]).
    static IN_PASS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as inside a pass or a spinner until dropped; then restores the mark and,
/// for a pass, tells its spinners it is done.
struct Busy<'a> {
    was: bool,
    done: Option<&'a std::sync::atomic::AtomicBool>,
}

impl<'a> Busy<'a> {
    fn enter(done: Option<&'a std::sync::atomic::AtomicBool>) -> Self {
        Busy { was: IN_PASS.replace(true), done }
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        IN_PASS.set(self.was);
        if let Some(done) = self.done {
            done.store(true, std::sync::atomic::Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_seen_once_with_its_own_output() {
        let tiling = Tiling { in_len: 3, out_len: 2, scratch_len: 5, max_tile: 4, whole_batch: false };
        for n in [0, 1, 2, 7, 33] {
            let input: Vec<f32> = (0..n * 3).map(|i| i as f32).collect();
            let mut output = vec![0.0; n * 2];
            let mut ws = Workspace::new();
            for_each_tile(&mut ws, tiling, &input, &mut output, |m, x, y, s| {
                assert!((1..=4).contains(&m));
                assert_eq!((x.len(), y.len(), s.len()), (m * 3, m * 2, m * 5));
                for (xi, yi) in x.chunks(3).zip(y.chunks_mut(2)) {
                    yi[0] = xi[0] + xi[1] + xi[2];
                    yi[1] = 1.0;
                }
            });
            for i in 0..n {
                let k = (3 * i) as f32;
                assert_eq!(output[2 * i..2 * i + 2], [3.0 * k + 3.0, 1.0]);
            }
        }
    }

    /// A pass run with spinning workers finishes (a thread inside a pass never spins under it,
    /// whatever it takes off its queue) and gets its nested splits done, on pools of 2 to 4
    /// threads, from outside any pool, two at once, and when it panics.
    #[test]
    fn a_pass_with_spinning_workers_completes_its_splits() {
        let pass = || {
            let mut out = vec![0u64; 10_000];
            with_spinning_workers(|| {
                for round in 0..50u64 {
                    out.par_chunks_mut(7)
                        .enumerate()
                        .for_each(|(i, c)| c.iter_mut().for_each(|v| *v += i as u64 + round));
                }
            });
            out.chunks(7).enumerate().all(|(i, c)| c.iter().all(|&v| v == 50 * i as u64 + 49 * 50 / 2))
        };
        for threads in [2, 3, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            assert!(pool.install(pass), "{threads} threads");
        }
        if rayon::current_num_threads() > 1 {
            assert!(pass());
        }
        // A pass that panics ends its spinners and passes the panic on, rather than hanging.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| with_spinning_workers(|| panic!("a kernel's assertion")))
        }));
        assert!(caught.is_err());
        // Two passes at once on a pool of 3, each picking up the other's spinners, both finish.
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..20 {
                        assert!(pool.install(pass));
                    }
                });
            }
        });
        let tiling = Tiling { in_len: 2, out_len: 1, scratch_len: 1, max_tile: 1, whole_batch: false };
        let mut y = [0.0f32];
        for_each_tile(&mut Workspace::new(), tiling, &[1.0, 2.0], &mut y, |_, x, y, _| {
            y[0] = [0, 1].par_iter().map(|&i| x[i]).sum::<f32>();
        });
        assert_eq!(y, [3.0]);
    }

    #[test]
    #[should_panic(expected = "output has room for 1 samples, the input has 2")]
    fn mismatched_lengths_panic() {
        let tiling = Tiling { in_len: 1, out_len: 1, scratch_len: 1, max_tile: 1, whole_batch: false };
        for_each_tile(&mut Workspace::new(), tiling, &[0.0; 2], &mut [0.0; 1], |_, _, _, _| {});
    }
}

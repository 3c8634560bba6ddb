//! The communication thread: sums a stage's gradients over every rank while the main thread
//! computes the next stage, in the fixed order one process adds in.
//!
//! A bucket's sum goes along the ranks that hold units, in rank order: the first copies its
//! first unit's partial and adds the others, and passes the sum on; each next rank receives
//! it, adds its units' partials in order and passes it on; the last broadcasts it to all. The
//! sum travels in chunks, so that ranks down the line work on one chunk while the one before
//! them adds the next.

use crate::exchange::{shard_units, Lanes};
use mpi::request::{Request, Scope};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Values per message of a chain: 1 MiB.
const CHUNK: usize = 1 << 18;

/// How long the thread sleeps between tests of a transfer it waits for, once a few quick
/// tests found it unfinished: MPI's blocking calls spin, and a spinning thread would take a
/// core from the backward pass it is meant to run beside.
const POLL: std::time::Duration = std::time::Duration::from_micros(20);

/// Waits for `request`, yielding then sleeping between tests.
fn settle<'a, D: ?Sized, S: Scope<'a>>(mut request: Request<'a, D, S>) {
    let mut tests = 0u32;
    loop {
        match request.test() {
            Ok(_) => return,
            Err(r) => request = r,
        }
        tests += 1;
        if tests < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(POLL);
        }
    }
}

/// Buckets a step may have posted and not yet had summed: a stage's worth each; the main
/// thread waits (it has nothing else to post) when the thread falls this far behind.
const QUEUE: usize = 64;

/// A rank's place in the chains of a batch: whether it holds units, the holders before and
/// after it, and the last holder (who broadcasts).
#[derive(Clone, Copy, Debug)]
pub(super) struct Chain {
    pub(super) holds: bool,
    pub(super) prev: Option<usize>,
    pub(super) next: Option<usize>,
    pub(super) last: usize,
}

impl Chain {
    pub(super) fn of(batch: usize, rank: usize, size: usize) -> Chain {
        let holds = |r: usize| !shard_units(batch, r, size).is_empty();
        Chain {
            holds: holds(rank),
            prev: (0..rank).rev().find(|&r| holds(r)),
            next: (rank + 1..size).find(|&r| holds(r)),
            last: (0..size).rev().find(|&r| holds(r)).unwrap_or(0),
        }
    }
}

/// One stage's gradients to sum: `ranges` of this rank's units' partials (`lanes`, lane `l`
/// being unit `units.start + l` of the batch), into the packed sums at `at`.
pub(super) struct Bucket {
    pub(super) ranges: &'static [(usize, usize)],
    pub(super) lanes: Lanes,
    pub(super) units: Range<usize>,
    pub(super) at: usize,
    pub(super) chain: Chain,
}

enum Job {
    Sum(Bucket),
    Flush,
    Quit,
}

/// A communicator moved to the communication thread.
struct Sendable(SimpleCommunicator);

// SAFETY: MPI runs with MPI_THREAD_MULTIPLE (`World::init` refuses anything less), so any
// thread may call it; this communicator is the communication thread's alone.
unsafe impl Send for Sendable {}

/// The communication thread and its queue.
pub(super) struct CommThread {
    jobs: SyncSender<Job>,
    done: Receiver<()>,
    packed: Arc<Mutex<Vec<f32>>>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl CommThread {
    pub(super) fn spawn(comm: SimpleCommunicator, rank: usize, size: usize) -> CommThread {
        let (jobs, queue) = sync_channel(QUEUE);
        let (finished, done) = sync_channel(1);
        let packed = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let comm = Sendable(comm);
        let (packed2, sent2) = (Arc::clone(&packed), Arc::clone(&sent));
        let thread = std::thread::Builder::new()
            .name(format!("cnn-dist-{rank}"))
            .spawn(move || {
                let comm = comm;
                loop {
                    match queue.recv() {
                        Ok(Job::Sum(b)) => {
                            let mut packed = packed2.lock().unwrap_or_else(|e| e.into_inner());
                            let bytes = sum_bucket(&comm.0, rank, size, &b, &mut packed);
                            sent2.fetch_add(bytes, Ordering::Relaxed);
                        }
                        Ok(Job::Flush) => {
                            if finished.send(()).is_err() {
                                break;
                            }
                        }
                        Ok(Job::Quit) | Err(_) => break,
                    }
                }
            })
            .expect("the communication thread starts");
        CommThread { jobs, done, packed, sent, thread: Some(thread) }
    }

    /// Queues a bucket.
    pub(super) fn post(&self, bucket: Bucket) {
        self.jobs.send(Job::Sum(bucket)).expect("the communication thread runs");
    }

    /// Waits for every posted bucket; returns the packed sums.
    pub(super) fn flush(&self) -> MutexGuard<'_, Vec<f32>> {
        self.jobs.send(Job::Flush).expect("the communication thread runs");
        self.done.recv().expect("the communication thread runs");
        self.packed.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for CommThread {
    fn drop(&mut self) {
        let _ = self.jobs.send(Job::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sums one bucket into `packed[b.at..]`; returns the payload bytes sent.
fn sum_bucket(comm: &SimpleCommunicator, rank: usize, size: usize, b: &Bucket, packed: &mut Vec<f32>) -> u64 {
    let len: usize = b.ranges.iter().map(|&(a, e)| e - a).sum();
    if packed.len() < b.at + len {
        packed.resize(b.at + len, 0.0);
    }
    let slot = &mut packed[b.at..b.at + len];
    let Chain { holds, prev, next, last } = b.chain;
    let mut sent = 0u64;
    if holds {
        let mut c0 = 0;
        while c0 < len {
            let c1 = (c0 + CHUNK).min(len);
            if let Some(prev) = prev {
                mpi::request::scope(|scope| {
                    settle(comm.process_at_rank(prev as i32).immediate_receive_into(scope, &mut slot[c0..c1]));
                });
            }
            add_units(slot, b, c0..c1);
            if let Some(next) = next {
                mpi::request::scope(|scope| {
                    settle(comm.process_at_rank(next as i32).immediate_send(scope, &slot[c0..c1]));
                });
                sent += 4 * (c1 - c0) as u64;
            }
            c0 = c1;
        }
    }
    if size > 1 {
        mpi::request::scope(|scope| {
            settle(comm.process_at_rank(last as i32).immediate_broadcast_into(scope, &mut slot[..]));
        });
        if rank == last {
            sent += 4 * len as u64;
        }
    }
    sent
}

/// Adds this rank's units' partials over packed positions `chunk` of the bucket onto `slot`,
/// unit by unit in order; the batch's unit 0 is copied.
fn add_units(slot: &mut [f32], b: &Bucket, chunk: Range<usize>) {
    let mut p = 0;
    for &(a, e) in b.ranges {
        let (lo, hi) = (p.max(chunk.start), (p + e - a).min(chunk.end));
        if lo < hi {
            let out = &mut slot[lo..hi];
            for lane in 0..b.units.len() {
                // SAFETY: the bucket's ranges are a finished stage's: no tile writes them until
                // the step's `finish`, which waits for this thread, and the training step keeps
                // the lanes alive and in place until then.
                let part = unsafe { b.lanes.read(lane, a + lo - p, hi - lo) };
                if b.units.start + lane == 0 {
                    out.copy_from_slice(part);
                } else {
                    out.iter_mut().zip(part).for_each(|(o, v)| *o += v);
                }
            }
        }
        p += e - a;
    }
}

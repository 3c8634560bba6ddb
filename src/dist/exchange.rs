//! A distributed step's [`Exchange`] over MPI: statistics gathered, the loss's sums passed
//! along in rank order, gradients handed to the communication thread stage by stage.

use super::comm::{Bucket, Chain, CommThread};
use crate::exchange::{shard_units, Exchange, Lanes};
use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::cell::Cell;
use std::ops::Range;

/// Memory a step's exchange reuses: gather counts and places, and the step's buckets.
pub(super) struct Scratch {
    counts: Vec<i32>,
    places: Vec<i32>,
    /// A reduction's statistics, this rank's units' packed, then every unit's.
    mine: Vec<f64>,
    every: Vec<f64>,
    /// Each bucket's ranges and where its sum lies in the packed sums.
    buckets: Vec<(&'static [(usize, usize)], usize)>,
}

impl Scratch {
    pub(super) fn new(size: usize) -> Scratch {
        Scratch {
            counts: vec![0; size],
            places: vec![0; size],
            mine: Vec::new(),
            every: Vec::new(),
            buckets: Vec::new(),
        }
    }
}

/// One step's exchange.
pub(super) struct MpiExchange<'w> {
    steps: &'w SimpleCommunicator,
    comm: &'w CommThread,
    scratch: &'w mut Scratch,
    sent: &'w Cell<u64>,
    batch: usize,
    size: usize,
    chain: Chain,
    /// Where the next bucket's sum goes in the packed sums.
    packed: usize,
}

impl<'w> MpiExchange<'w> {
    pub(super) fn new(
        world: &'w super::World,
        steps: &'w SimpleCommunicator,
        comm: &'w CommThread,
        scratch: &'w mut Scratch,
        batch: usize,
        sent: &'w Cell<u64>,
    ) -> Self {
        let (rank, size) = (world.rank(), world.size());
        scratch.buckets.clear();
        MpiExchange { steps, comm, scratch, sent, batch, size, chain: Chain::of(batch, rank, size), packed: 0 }
    }

    fn add_sent(&self, bytes: usize) {
        self.sent.set(self.sent.get() + bytes as u64);
    }
}

impl Exchange for MpiExchange<'_> {
    fn gather(&mut self, local: &[f64], all: &mut [f64], per_unit: usize, (offset, len): (usize, usize)) {
        // Only the reduction's own statistics travel: packed unit after unit, then unpacked
        // into their places.
        if len == 0 {
            // Every rank runs the same network: all skip alike.
            return;
        }
        let Scratch { counts, places, mine, every, .. } = &mut *self.scratch;
        mine.clear();
        mine.extend(local.chunks_exact(per_unit).flat_map(|u| &u[offset..offset + len]));
        let mut at = 0;
        for r in 0..self.size {
            let count = shard_units(self.batch, r, self.size).len() * len;
            counts[r] = i32::try_from(count).expect("statistics of a rank fit an MPI count");
            places[r] = i32::try_from(at).expect("statistics of a batch fit an MPI count");
            at += count;
        }
        every.resize(at, 0.0);
        assert_eq!(at / len * per_unit, all.len(), "every unit's statistics");
        let mut partition = PartitionMut::new(&mut every[..], &counts[..], &places[..]);
        self.steps.all_gather_varcount_into(&mine[..], &mut partition);
        for (unit, values) in all.chunks_exact_mut(per_unit).zip(every.chunks_exact(len)) {
            unit[offset..offset + len].copy_from_slice(values);
        }
        let bytes = mine.len() * 8 * (self.size - 1);
        self.add_sent(bytes);
    }

    fn fold(&mut self, f: &mut dyn FnMut(f64) -> f64) -> f64 {
        let Chain { holds, prev, next, last } = self.chain;
        let mut sum = 0.0f64;
        if holds {
            let mut start = 0.0f64;
            if let Some(prev) = prev {
                self.steps.process_at_rank(prev as i32).receive_into(&mut start);
            }
            sum = f(start);
            if let Some(next) = next {
                self.steps.process_at_rank(next as i32).send(&sum);
                self.add_sent(8);
            }
        }
        if self.size > 1 {
            self.steps.process_at_rank(last as i32).broadcast_into(&mut sum);
        }
        sum
    }

    fn bucket(&mut self, ranges: &'static [(usize, usize)], lanes: Lanes, units: Range<usize>) {
        let len: usize = ranges.iter().map(|&(a, b)| b - a).sum();
        if len == 0 {
            return;
        }
        self.scratch.buckets.push((ranges, self.packed));
        self.comm.post(Bucket { ranges, lanes, units, at: self.packed, chain: self.chain });
        self.packed += len;
    }

    fn finish(&mut self, grads: &mut [f32]) {
        let packed = self.comm.flush();
        for &(ranges, at) in &self.scratch.buckets {
            let mut p = at;
            for &(a, b) in ranges {
                grads[a..b].copy_from_slice(&packed[p..p + b - a]);
                p += b - a;
            }
        }
        self.scratch.buckets.clear();
    }
}

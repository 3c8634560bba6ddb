//! The processes of a run ([`World`]) and how they agree, step by step, to do the same thing.
//!
//! Every collective call of `cnn::dist` starts with one all-gather of a fixed-size record per
//! rank (what the rank is about to do, and the facts to compare), so that ranks that went
//! different ways find out together and return an error instead of waiting for each other.

use super::comm::CommThread;
use super::exchange::MpiExchange;
use crate::exchange::{shard_samples, Exchange, Part};
use crate::TrainError;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Threading;
use std::cell::{Cell, RefCell};
use std::fmt;

/// Bytes of a record's message: the start of a rank's error text.
const MESSAGE: usize = 240;
/// A record: eight words, then the message.
const RECORD: usize = 8 * 8 + MESSAGE;

/// What a rank is about to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Step = 1,
    Barrier = 2,
    Agree = 3,
    Leave = 4,
}

impl Kind {
    fn from(word: u64) -> Kind {
        match word {
            1 => Kind::Step,
            2 => Kind::Barrier,
            3 => Kind::Agree,
            _ => Kind::Leave,
        }
    }

    fn doing(self) -> &'static str {
        match self {
            Kind::Step => "is in a training step",
            Kind::Barrier => "waits at a barrier",
            Kind::Agree => "shares a result (World::agree)",
            Kind::Leave => "left the run (its program ended, or returned an error)",
        }
    }
}

/// One rank's record: its kind, whether it failed (and why), and for a step what it runs.
#[derive(Clone, Copy, Debug)]
struct Record {
    kind: Kind,
    failed: bool,
    net: u64,
    step: u64,
    seed: u64,
    samples: u64,
    weights: u64,
    /// The optimizer's type and hyper-parameters, hashed.
    optimizer: u64,
    message: [u8; MESSAGE],
}

impl Record {
    fn new(kind: Kind) -> Record {
        Record {
            kind,
            failed: false,
            net: 0,
            step: 0,
            seed: 0,
            samples: 0,
            weights: 0,
            optimizer: 0,
            message: [0; MESSAGE],
        }
    }

    fn fail(mut self, message: &str) -> Record {
        self.failed = true;
        // Cut on a character boundary, so the text stays UTF-8.
        let mut end = message.len().min(MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.message[..end].copy_from_slice(&message.as_bytes()[..end]);
        self
    }

    fn write(&self, out: &mut [u8]) {
        let words = [
            self.kind as u64,
            self.failed as u64,
            self.net,
            self.step,
            self.seed,
            self.samples,
            self.weights,
            self.optimizer,
        ];
        for (k, w) in words.iter().enumerate() {
            out[8 * k..8 * k + 8].copy_from_slice(&w.to_le_bytes());
        }
        out[64..RECORD].copy_from_slice(&self.message);
    }

    fn read(bytes: &[u8]) -> Record {
        let w = |k: usize| u64::from_le_bytes(bytes[8 * k..8 * k + 8].try_into().expect("8 bytes"));
        let mut message = [0; MESSAGE];
        message.copy_from_slice(&bytes[64..RECORD]);
        Record {
            kind: Kind::from(w(0)),
            failed: w(1) != 0,
            net: w(2),
            step: w(3),
            seed: w(4),
            samples: w(5),
            weights: w(6),
            optimizer: w(7),
            message,
        }
    }

    fn message(&self) -> String {
        let end = self.message.iter().position(|&b| b == 0).unwrap_or(MESSAGE);
        String::from_utf8_lossy(&self.message[..end]).into_owned()
    }
}

/// Why a distributed call failed: the rank it is about (when one is) and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistError {
    /// The rank the error is about, if it is about one.
    pub rank: Option<usize>,
    /// What happened.
    pub message: String,
}

impl fmt::Display for DistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rank {
            Some(rank) => write!(f, "rank {rank}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DistError {}

impl From<DistError> for TrainError {
    fn from(e: DistError) -> TrainError {
        TrainError::Distributed { rank: e.rank.unwrap_or(0), message: e.message }
    }
}

/// The processes of a run under `mpirun`: MPI, started once per process by [`World::init`],
/// with this process's rank and the process count. Dropping it ends MPI, after every rank has
/// dropped its own (a rank that drops it early makes the others' next step fail, naming it).
pub struct World {
    rank: usize,
    size: usize,
    /// The main thread's communicator: records, statistics, the loss's sums.
    steps: SimpleCommunicator,
    /// The thread that sums gradients during the backward pass, on a communicator of its own.
    comm: CommThread,
    records: RefCell<Vec<u8>>,
    /// The last exchange's records, read.
    read: RefCell<Vec<Record>>,
    /// Whether a step has compared the ranks' weights.
    checked: Cell<bool>,
    /// Every how many steps the ranks compare their weights (0: only at the first step).
    weights_every: Cell<u64>,
    /// Payload bytes this rank has handed to MPI.
    sent: Cell<u64>,
    /// Room for a step's gather counts and places.
    scratch: RefCell<super::exchange::Scratch>,
    /// Dropped last: ends MPI.
    _universe: Universe,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World").field("rank", &self.rank).field("size", &self.size).finish_non_exhaustive()
    }
}

impl World {
    /// Starts MPI (`MPI_Init_thread`, with full thread support: gradients are summed on a
    /// thread of their own while the backward pass goes on) and makes a panic on any thread of
    /// this process abort the whole job with the rank in the message, so that no rank waits
    /// for a dead one.
    ///
    /// # Errors
    /// If MPI was started already in this process, or the MPI library does not support calls
    /// from several threads (`MPI_THREAD_MULTIPLE`).
    pub fn init() -> Result<World, DistError> {
        let fail = |message: String| DistError { rank: None, message };
        let (universe, threading) = mpi::initialize_with_threading(Threading::Multiple)
            .ok_or_else(|| fail("MPI is already initialized in this process: call World::init once".into()))?;
        if threading != Threading::Multiple {
            return Err(fail(format!(
                "the MPI library gives thread support {threading:?}, and cnn::dist needs Multiple (MPI_THREAD_MULTIPLE)"
            )));
        }
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        let steps = world.duplicate();
        let comm = CommThread::spawn(world.duplicate(), rank, size);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            eprintln!("cnn::dist: rank {rank} of {size} panicked; aborting every rank of the run");
            // The world communicator is valid for as long as MPI runs, which it does while any
            // `World` lives; aborting ends every process, this one included.
            SimpleCommunicator::world().abort(101);
        }));
        Ok(World {
            rank,
            size,
            steps,
            comm,
            records: RefCell::new(vec![0; size * RECORD]),
            read: RefCell::new(Vec::with_capacity(size)),
            checked: Cell::new(false),
            weights_every: Cell::new(DEFAULT_WEIGHTS_EVERY),
            sent: Cell::new(0),
            scratch: RefCell::new(super::exchange::Scratch::new(size)),
            _universe: universe,
        })
    }

    /// Every how many steps the ranks compare a hash of their weights (and at the first step
    /// always; 0 for the first step only). A rank whose weights drifted from rank 0's (it
    /// loaded other weights, or changed them by hand, between steps) makes that step fail on
    /// every rank with [`TrainError::Distributed`] naming it, instead of training on silently
    /// apart. The default, [`DEFAULT_WEIGHTS_EVERY`], keeps the hash (one pass over the
    /// parameters) under 1% of the steps' time.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), cnn::dist::DistError> {
    /// let world = cnn::dist::World::init()?;
    /// world.check_weights_every(10);
    /// # Ok(()) }
    /// ```
    pub fn check_weights_every(&self, steps: u64) {
        self.weights_every.set(steps);
    }

    /// This process's rank, from 0.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of processes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Payload bytes this rank has sent so far: records, statistics, the loss's sums, and its
    /// part of summing and broadcasting gradients (as it hands them to MPI; the broadcast's
    /// own relaying is MPI's).
    pub fn bytes_sent(&self) -> u64 {
        self.sent.get() + self.comm.bytes_sent()
    }

    /// Waits until every rank is here.
    ///
    /// # Errors
    /// If a rank is elsewhere (in a step, or gone), naming it; every rank gets the error.
    pub fn barrier(&self) -> Result<(), DistError> {
        let records = self.exchange(Record::new(Kind::Barrier));
        self.same_kind(&records, Kind::Barrier)
    }

    /// Shares each rank's `result`: `Ok` on every rank if every rank's is `Ok`, else the first
    /// failing rank's error (its rank and message) on every rank. For what a rank does alone
    /// that the others must not go on without, such as loading a checkpoint:
    ///
    /// ```ignore
    /// world.barrier()?; // rank 0 has written it
    /// world.agree(net.load_checkpoint("run.ckpt", &mut opt))?;
    /// ```
    ///
    /// # Errors
    /// As said, or if a rank is elsewhere.
    pub fn agree<T, E: fmt::Display>(&self, result: Result<T, E>) -> Result<T, DistError> {
        let record = match &result {
            Ok(_) => Record::new(Kind::Agree),
            Err(e) => Record::new(Kind::Agree).fail(&e.to_string()),
        };
        let records = self.exchange(record);
        self.same_kind(&records, Kind::Agree)?;
        if let Some((rank, r)) = records.iter().enumerate().find(|(_, r)| r.failed) {
            return Err(DistError { rank: Some(rank), message: r.message() });
        }
        result.map_err(|e| DistError { rank: Some(self.rank), message: e.to_string() })
    }

    /// Every rank's record, in rank order (in memory kept from call to call).
    fn exchange(&self, record: Record) -> std::cell::Ref<'_, [Record]> {
        {
            let mut all = self.records.borrow_mut();
            let mut mine = [0u8; RECORD];
            record.write(&mut mine);
            self.steps.all_gather_into(&mine[..], &mut all[..]);
            self.sent.set(self.sent.get() + RECORD as u64);
            let mut read = self.read.borrow_mut();
            read.clear();
            read.extend(all.chunks_exact(RECORD).map(Record::read));
        }
        std::cell::Ref::map(self.read.borrow(), |r| &r[..])
    }

    /// An error naming the first rank whose kind is not `kind`.
    fn same_kind(&self, records: &[Record], kind: Kind) -> Result<(), DistError> {
        match records.iter().position(|r| r.kind != kind) {
            Some(rank) => Err(DistError {
                rank: Some(rank),
                message: format!(
                    "{} while rank {} {}",
                    records[rank].kind.doing(),
                    records.iter().position(|r| r.kind == kind).unwrap_or(self.rank),
                    kind.doing()
                ),
            }),
            None => Ok(()),
        }
    }

    /// The step's part for this rank from every rank's record: the checks every rank makes
    /// alike.
    fn agree_step(&self, records: &[Record], min_batch: usize, first: bool, weights: bool) -> Result<Part, DistError> {
        self.same_kind(records, Kind::Step)?;
        let at = |rank: usize, message: String| DistError { rank: Some(rank), message };
        if let Some((rank, r)) = records.iter().enumerate().find(|(_, r)| r.failed) {
            return Err(at(rank, r.message()));
        }
        let r0 = &records[0];
        for (rank, r) in records.iter().enumerate().skip(1) {
            if r.net != r0.net {
                return Err(at(
                    rank,
                    "runs another network than rank 0 (its SUMMARY or parameter table differs)".into(),
                ));
            }
            if r.step != r0.step {
                return Err(at(
                    rank,
                    format!(
                        "is at step {}, rank 0 at step {}: did the ranks load different checkpoints?",
                        r.step, r0.step
                    ),
                ));
            }
            if r.seed != r0.seed {
                return Err(at(rank, format!("keys dropout with seed {}, rank 0 with seed {}", r.seed, r0.seed)));
            }
            if r.optimizer != r0.optimizer {
                return Err(at(
                    rank,
                    "steps with another optimizer than rank 0 (its type or a hyper-parameter: learning rate, momentum, betas, eps, weight decay): give every rank the same optimizer and schedule"
                        .into(),
                ));
            }
            if first && r.weights != r0.weights {
                return Err(at(
                    rank,
                    "starts from other weights than rank 0: build every rank's network with the same seed, or load the same weights everywhere"
                        .into(),
                ));
            }
            if weights && r.weights != r0.weights {
                return Err(at(
                    rank,
                    format!(
                        "has other weights than rank 0 before step {}: a rank loaded or changed its weights apart from the others",
                        r.step + 1
                    ),
                ));
            }
        }
        let batch: usize = records.iter().map(|r| r.samples as usize).sum();
        if batch == 0 {
            return Err(at(0, TrainError::EmptyBatch.to_string()));
        }
        if batch < min_batch {
            return Err(at(0, TrainError::BatchTooSmall { batch, needed: min_batch }.to_string()));
        }
        let mut first_sample = 0;
        for (rank, r) in records.iter().enumerate() {
            let share = shard_samples(batch, rank, self.size);
            let n = r.samples as usize;
            if share != (first_sample..first_sample + n) {
                return Err(at(
                    rank,
                    format!(
                        "has {n} samples where its share of the global batch of {batch} is {} (samples {share:?}): give each rank its part with Loader::shard(rank, size) and the same batch size everywhere",
                        share.len()
                    ),
                ));
            }
            first_sample += n;
        }
        let share = shard_samples(batch, self.rank, self.size);
        Ok(Part { batch, first: share.start })
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The panic hook has aborted the job already.
            return;
        }
        // Ranks still stepping learn from this record that this one left, return an error and
        // come here too; MPI ends once every rank has.
        while self.exchange(Record::new(Kind::Leave)).iter().any(|r| r.kind != Kind::Leave) {}
    }
}

/// The steps between two comparisons of the ranks' weights by default: the hash is one pass
/// over the parameters, which a step makes several of (the optimizer alone reads parameters,
/// gradients and its state), so every 100 steps it costs well under 1% of the time.
pub const DEFAULT_WEIGHTS_EVERY: u64 = 100;

/// The optimizer's type and hyper-parameters as one hash, without allocating.
#[doc(hidden)]
pub fn optimizer_hash<O: crate::Optimizer + ?Sized>(opt: &O) -> u64 {
    let mut h = hash_words(std::any::type_name::<O>().bytes().map(u64::from));
    opt.hyperparameters(&mut |name, value| {
        h = name.bytes().map(u64::from).chain([value.to_bits()]).fold(h, |h, w| (h ^ w).wrapping_mul(FNV_PRIME));
    });
    h
}

/// What a rank's network is, for the ranks to compare before a step.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Identity<'a> {
    /// The network's `SUMMARY`.
    pub summary: &'a str,
    /// Its parameter table.
    pub params: &'a [crate::ParamSpec],
    /// Its flat parameters (hashed once, at the first step).
    pub weights: &'a [f32],
    /// Steps taken.
    pub step: u64,
    /// The seed keying dropout.
    pub seed: u64,
    /// The optimizer's [`optimizer_hash`].
    pub optimizer: u64,
}

const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over 64-bit words.
fn hash_words(words: impl Iterator<Item = u64>) -> u64 {
    words.fold(0xcbf2_9ce4_8422_2325, |h, w| (h ^ w).wrapping_mul(FNV_PRIME))
}

impl Identity<'_> {
    fn net(&self) -> u64 {
        let text = self.summary.bytes().map(u64::from);
        let table = self.params.iter().flat_map(|p| {
            p.name.bytes().map(u64::from).chain(p.shape.iter().map(|&d| d as u64)).chain([p.offset as u64])
        });
        hash_words(text.chain(table))
    }

    fn weights(&self) -> u64 {
        hash_words(self.weights.iter().map(|w| u64::from(w.to_bits())))
    }
}

/// The ranks' agreement to take a training step (`check` is this rank's own checks of its
/// samples and labels): this rank's part of the global batch. What the generated
/// `try_train_step_dist` calls first.
///
/// # Errors
/// Every rank gets the same error if any rank's checks fail or the ranks disagree.
#[doc(hidden)]
pub fn agree_step(
    world: &World,
    identity: Identity<'_>,
    samples: usize,
    min_batch: usize,
    check: Result<(), TrainError>,
) -> Result<Part, TrainError> {
    let first = !world.checked.get();
    let every = world.weights_every.get();
    // Every rank decides alike: the step counts agree, or the step fails on that first.
    let weights = first || (every > 0 && identity.step.is_multiple_of(every));
    let mut record = Record::new(Kind::Step);
    record.net = identity.net();
    record.step = identity.step;
    record.seed = identity.seed;
    record.samples = samples as u64;
    record.weights = if weights { identity.weights() } else { 0 };
    record.optimizer = identity.optimizer;
    if let Err(e) = &check {
        record = record.fail(&e.to_string());
    }
    let records = world.exchange(record);
    let part = world.agree_step(&records, min_batch, first, weights)?;
    world.checked.set(true);
    Ok(part)
}

/// Runs the step the ranks agreed on with this step's exchange.
///
/// # Errors
/// The step's, the same on every rank (a non-finite loss).
#[doc(hidden)]
pub fn run_step(
    world: &World,
    part: Part,
    step: impl FnOnce(&mut dyn Exchange) -> Result<f32, TrainError>,
) -> Result<f32, TrainError> {
    let mut scratch = world.scratch.borrow_mut();
    let mut exchange = MpiExchange::new(world, &world.steps, &world.comm, &mut scratch, part.batch, &world.sent);
    step(&mut exchange)
}

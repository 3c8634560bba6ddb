//! Data-parallel training across processes and machines over MPI, bit-identical to one process.
//!
//! Built with the cargo feature `mpi` (which needs an MPI library: on Debian or Ubuntu
//! `apt-get install libopenmpi-dev openmpi-bin`, and libclang for the bindings). Programs run
//! under `mpirun`, one process per rank, on one host or many:
//!
//! ```no_run
//! use cnn::data::{Dataset, Loader};
//! use cnn::{cnn, Network, Sgd};
//!
//! cnn! {
//!     pub struct Net {
//!         input(1, 28, 28)
//!         conv(1, 8, k=3) batchnorm(8) relu maxpool(2)
//!         flatten dropout(0.25)
//!         linear(_, 10)
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let world = cnn::dist::World::init()?;
//!     let train = Dataset::<784> { images: vec![[0.5; 784]; 256], labels: vec![3; 256] };
//!     let mut net = Net::new(0); // the same seed on every rank: the same weights
//!     let mut opt = Sgd::new(0.05).momentum(0.9);
//!     let mut loader = Loader::new(&train, 64, 7).shard(world.rank(), world.size());
//!     loader.shuffle();
//!     while let Some((xs, labels)) = loader.next_batch() {
//!         // This rank's part of a global batch of 64; the loss is the global batch's mean.
//!         let loss = net.train_step_dist(&world, xs, labels, &mut opt);
//!         if world.rank() == 0 {
//!             println!("loss {loss:.4}");
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # What a step does
//!
//! Every rank holds the whole network and optimizer. [`Loader::shard`](crate::data::Loader::shard)
//! gives each rank its part of every global batch: the batch is cut into units of consecutive
//! samples ([`exchange::unit_size`](crate::exchange::unit_size): an eighth of the batch,
//! between 8 and 16 samples), the cut one process makes too, and each rank takes whole units in rank
//! order. `train_step_dist` then
//!
//! 1. checks that every rank is at the same step with the same network and its share of one
//!    batch (one small all-gather; the first step also compares the weights' hash);
//! 2. runs the forward pass on the rank's units; each batch norm gathers every unit's partial
//!    sums from every rank and reduces them in unit order, so the statistics are the whole
//!    batch's (PyTorch's `SyncBatchNorm`), computed as one process computes them;
//! 3. sums the loss along the ranks in rank order (a left fold over the batch's labels);
//! 4. runs the backward pass; when a stage (the layers between two batch norms) is done, a
//!    communication thread sums that stage's gradients while the next stage computes: the
//!    first rank adds its units' partials in unit order and passes the sum to the next rank,
//!    which adds its own, and so on in rank order (pipelined in 1 MiB chunks); the last rank
//!    broadcasts the sum;
//! 5. applies the optimizer, identically everywhere.
//!
//! What fixes the order of every sum is the unit: a unit's partial is computed the same way
//! on any rank and thread, and partials are always added in unit order, the first copied. So
//! the weights after any number of steps are the same bits on 1, 2, 3 or 64 processes, with
//! any number of threads each, and the same as `train_step` in one process. Dropout's masks
//! are keyed by the sample's index in the global batch.
//!
//! # Faults
//!
//! A panic on any rank prints its message with the rank and aborts the whole job
//! (`MPI_Abort`), so no rank waits for it. An error every rank can see (another network,
//! another step count, a batch that is not the ranks' shares, a bad label on one rank) is
//! returned by `try_train_step_dist` on every rank alike, as
//! [`TrainError::Distributed`](crate::TrainError::Distributed) naming the rank. A rank whose
//! program ends (returns an error) while the others train makes their next step fail the same
//! way. [`World::agree`] turns a rank's own result (loading a checkpoint) into one every rank
//! shares.
//!
//! # Checkpoints
//!
//! Rank 0 writes (`if world.rank() == 0 { net.save_checkpoint(..) }`), every rank loads after a
//! [`World::barrier`]; a resumed run continues bit for bit as the unbroken one would.

mod comm;
mod exchange;
mod world;

pub use world::{DistError, World, DEFAULT_WEIGHTS_EVERY};

#[doc(hidden)]
pub use world::{
    agree_step as __agree_step, optimizer_hash as __optimizer_hash, run_step as __run_step, Identity as __Identity,
};

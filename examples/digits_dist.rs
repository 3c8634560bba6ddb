//! The digits example trained across processes with MPI (`cnn::dist`): every rank holds the
//! network, takes its part of each batch, and the gradients are summed over the ranks in a
//! fixed order, so the run is bit for bit the one-process run of `examples/digits.rs` with the
//! same settings (the test accuracy printed each epoch is the same to the last digit).
//!
//! ```text
//! cargo build --release --features mpi --example digits_dist
//! mpirun -np 4 target/release/examples/digits_dist
//! mpirun -np 2 target/release/examples/digits_dist -- --epochs 30 --batch 64
//! mpirun --hostfile hosts -np 8 target/release/examples/digits_dist   # several machines
//! ```
//!
//! Progress is printed by rank 0 only; rank 0 saves the weights and a checkpoint
//! (`--checkpoint`) every epoch, and `--resume` continues from it on any number of ranks:
//!
//! ```text
//! mpirun -np 2 target/release/examples/digits_dist -- --stop-after 3
//! mpirun -np 3 target/release/examples/digits_dist -- --resume   # epochs 4.. as if unbroken
//! ```

use clap::Parser;
use cnn::data::{Dataset, Loader};
use cnn::dist::World;
use cnn::lr::{CosineAnnealingLr, Schedule};
use cnn::metrics::accuracy;
use cnn::nets::DigitsNet;
use cnn::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Train the digits CNN across MPI processes")]
struct Args {
    /// Passes over the training data.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Peak Adam learning rate (it decays to 0 along a cosine).
    #[arg(long, default_value_t = 2e-3)]
    lr: f32,
    /// Samples per training step, over all ranks together.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Seed of the initial weights and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where rank 0 saves the trained weights.
    #[arg(long, default_value = "digits_dist.safetensors")]
    save: PathBuf,
    /// Where rank 0 writes a checkpoint after every epoch.
    #[arg(long, default_value = "digits_dist.ckpt")]
    checkpoint: PathBuf,
    /// Continue from `--checkpoint` (written by a run with any number of ranks).
    #[arg(long)]
    resume: bool,
    /// Stop after this epoch (the schedule still spans `--epochs`), to `--resume` later.
    #[arg(long)]
    stop_after: Option<usize>,
}

fn run(world: &World, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let root = world.rank() == 0;
    let (train, test): (Dataset<64>, Dataset<64>) = cnn::data::digits().split_at(1437);
    let mut net = DigitsNet::new(args.seed);
    let mut opt = Adam::new(args.lr);
    let mut loader = Loader::new(&train, args.batch, args.seed).shard(world.rank(), world.size());
    let schedule = CosineAnnealingLr::new(args.lr, (args.epochs * loader.batches()).max(1), 0.0);
    let mut first_epoch = 1;
    if args.resume {
        world.agree(net.load_checkpoint(&args.checkpoint, &mut opt))?;
        let done = net.step_count() as usize / loader.batches();
        // The loader's order is drawn from the seed and the epoch: skip the epochs done.
        for _ in 0..done {
            loader.shuffle();
        }
        first_epoch = done + 1;
    }
    if root {
        println!("{}\n", DigitsNet::SUMMARY);
        println!(
            "{} ranks, global batch {} (this rank's part: samples {:?} of each); Adam lr {} (cosine), seed {}\n",
            world.size(),
            args.batch,
            cnn::internals::exchange::shard_samples(args.batch, 0, world.size()),
            args.lr,
            args.seed
        );
    }
    let start = Instant::now();
    let last = args.stop_after.unwrap_or(args.epochs).min(args.epochs);
    for epoch in first_epoch..=last {
        loader.shuffle();
        let (mut total, mut seen) = (0.0, 0);
        while let Some((xs, labels)) = loader.next_batch() {
            opt.set_lr(schedule.lr_at(net.step_count() as usize));
            let loss = net.try_train_step_dist(world, xs, labels, &mut opt)?;
            // Every rank gets the global batch's loss; weigh it by the global batch's size.
            let batch = loader_batch(&train, args.batch, seen);
            total += loss as f64 * batch as f64;
            seen += batch;
        }
        if root {
            let acc = accuracy(&net.forward_batch(&test.images), &test.labels);
            println!(
                "epoch {epoch:>3}  loss {:.4}  test accuracy {:.2}%  ({:.1} s)",
                total / seen as f64,
                100.0 * acc,
                start.elapsed().as_secs_f64()
            );
            net.save_checkpoint(&args.checkpoint, &opt)?;
        }
        world.barrier()?;
    }
    if root {
        net.save_safetensors(&args.save)?;
        println!("\nsaved the weights to {}", args.save.display());
    }
    Ok(())
}

/// The size of the global batch that starts at sample `seen` of an epoch.
fn loader_batch(train: &Dataset<64>, batch: usize, seen: usize) -> usize {
    batch.min(train.len() - seen)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let world = World::init()?;
    run(&world, &args).map_err(|e| format!("rank {} stops: {e}", world.rank()).into())
}

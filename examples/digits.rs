//! Trains a small CNN on the vendored 8x8 digits data (the first 1437 samples to train on, the
//! last 360 to test), saves the weights as safetensors, reloads them into a fresh network and
//! checks that it scores the same.
//!
//! ```text
//! cargo run --release --example digits
//! cargo run --release --example digits -- --epochs 30 --lr 0.001 --batch 32 --seed 1
//! cargo run --release --example digits -- --augment   # random shifts of the training images
//! cargo run --release --example digits -- --mnist ~/data/mnist    # LeNet-5 on MNIST IDX files
//! ```
//!
//! Training: Adam with a cosine-annealed learning rate (`cnn::lr::CosineAnnealingLr`, stepped
//! every batch) through `cnn::fit::Trainer`, one generic function for both networks; with `--augment`, each training image shifted at random by up to one pixel (two
//! for MNIST) each time it is seen (`RandomCrop` with padding), which helps because the test
//! digits come from other writers than the training ones. The loss per step and the test
//! loss and accuracy per epoch go to `training.svg` (`--curve`); `--run-dir DIR` keeps a
//! checkpoint after every epoch and resumes an interrupted run.

use clap::Parser;
use cnn::data::augment::RandomCrop;
use cnn::data::{Dataset, Loader};
use cnn::fit::Trainer;
use cnn::lr::CosineAnnealingLr;
use cnn::metrics::accuracy;
use cnn::nets::{DigitsNet, LeNet};
use cnn::prelude::*;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Train a CNN written with cnn! on handwritten digits")]
struct Args {
    /// Passes over the training data.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Peak Adam learning rate (it decays to 0 along a cosine).
    #[arg(long, default_value_t = 2e-3)]
    lr: f32,
    /// Samples per training step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Seed of the initial weights, the shuffling and the shifts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train LeNet-5 on MNIST instead: a folder with train-images-idx3-ubyte,
    /// train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (or .gz).
    #[arg(long)]
    mnist: Option<PathBuf>,
    /// Where to save the trained weights.
    #[arg(long, default_value = "digits.safetensors")]
    save: PathBuf,
    /// Shift each training image at random by up to one pixel (two for MNIST) each epoch.
    #[arg(long)]
    augment: bool,
    /// Where to draw the training curves (loss per step, test loss and accuracy per epoch), as
    /// SVG.
    #[arg(long, default_value = "training.svg")]
    curve: PathBuf,
    /// Keep a checkpoint and the history here after every epoch, and resume from them.
    #[arg(long)]
    run_dir: Option<PathBuf>,
}

/// Trains any network of `L`-value images and 10 classes (`DigitsNet`, `LeNet`) with
/// `cnn::fit::Trainer`, then saves it, reloads it into a fresh network and checks the score.
fn train<N: Network<Input = [f32; L]>, const L: usize>(
    args: &Args,
    train: &Dataset<L>,
    test: &Dataset<L>,
    max_shift: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let side = (L as f64).sqrt() as usize;
    println!("{}\n", N::SUMMARY);
    println!(
        "{} training samples, {} test samples; Adam lr {} (cosine decay), batch {}, seed {}\n",
        train.len(),
        test.len(),
        args.lr,
        args.batch,
        args.seed
    );
    let mut net = N::new(args.seed);
    let mut opt = Adam::new(args.lr);
    let mut loader = Loader::new(train, args.batch, args.seed);
    if args.augment {
        println!("augmentation: random shifts of up to {max_shift} pixel(s) (RandomCrop, padding {max_shift})\n");
        loader = loader.augment([1, side, side], RandomCrop { size: (side, side), padding: max_shift });
    }
    // torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=all steps), stepped every batch.
    let schedule = CosineAnnealingLr::new(args.lr, (args.epochs * loader.batches()).max(1), 0.0);
    let mut trainer = Trainer::new(args.epochs).schedule(schedule).validation(test).curves(&args.curve);
    if let Some(dir) = &args.run_dir {
        trainer = trainer.run_dir(dir);
    }
    trainer.fit(&mut net, &mut opt, &mut loader)?;
    println!("\ntraining curves in {}", args.curve.display());
    let acc = accuracy(&net.forward_batch(&test.images), &test.labels);
    net.save_safetensors(&args.save)?;
    let mut fresh = N::new(args.seed + 1);
    fresh.load_safetensors(&args.save)?;
    let reloaded = accuracy(&fresh.forward_batch(&test.images), &test.labels);
    println!(
        "\nsaved the weights to {}; reloaded into a fresh network: test accuracy {:.2}%",
        args.save.display(),
        100.0 * reloaded
    );
    if reloaded != acc {
        return Err(format!("reloaded accuracy {reloaded} differs from {acc}").into());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    match &args.mnist {
        None => {
            let (train_set, test_set) = cnn::data::digits().split_at(1437);
            train::<DigitsNet, 64>(&args, &train_set, &test_set, 1)
        }
        Some(dir) => {
            let pick = |name: &str| {
                let gz = dir.join(format!("{name}.gz"));
                if gz.exists() {
                    gz
                } else {
                    dir.join(name)
                }
            };
            let train_set = cnn::data::read_mnist(pick("train-images-idx3-ubyte"), pick("train-labels-idx1-ubyte"))?;
            let test_set = cnn::data::read_mnist(pick("t10k-images-idx3-ubyte"), pick("t10k-labels-idx1-ubyte"))?;
            train::<LeNet, 784>(&args, &train_set, &test_set, 2)
        }
    }
}

//! Trains a small CNN on the vendored 8x8 digits data (the first 1437 samples to train on, the
//! last 360 to test), saves the weights as safetensors, reloads them into a fresh network and
//! checks that it scores the same.
//!
//! ```text
//! cargo run --release --example digits
//! cargo run --release --example digits -- --epochs 30 --lr 0.001 --batch 32 --seed 1
//! cargo run --release --example digits -- --mnist ~/data/mnist    # LeNet-5 on MNIST IDX files
//! ```
//!
//! Training: Adam with a cosine-decaying learning rate, and each training image shifted at
//! random by up to one pixel (two for MNIST) each time it is seen, since the test digits come
//! from other writers than the training ones.

use clap::Parser;
use cnn::data::{Dataset, Loader};
use cnn::metrics::accuracy;
use cnn::nets::{DigitsNet, LeNet};
use cnn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::Instant;

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
}

/// What the training loop needs of a network taking `L`-value images and giving 10 scores.
trait Classifier<const L: usize>: Sized {
    fn init(seed: u64) -> Self;
    fn step(&mut self, xs: &[[f32; L]], labels: &[usize], opt: &mut Adam) -> f32;
    fn predict(&self, xs: &[[f32; L]]) -> Vec<[f32; 10]>;
    fn save(&self, path: &Path) -> Result<(), WeightsError>;
    fn load(&mut self, path: &Path) -> Result<(), WeightsError>;
    fn summary() -> &'static str;
}

macro_rules! classifier {
    ($net:ident, $len:literal) => {
        impl Classifier<$len> for $net {
            fn init(seed: u64) -> Self {
                $net::new(seed)
            }
            fn step(&mut self, xs: &[[f32; $len]], labels: &[usize], opt: &mut Adam) -> f32 {
                self.train_step(xs, labels, opt)
            }
            fn predict(&self, xs: &[[f32; $len]]) -> Vec<[f32; 10]> {
                self.forward_batch(xs)
            }
            fn save(&self, path: &Path) -> Result<(), WeightsError> {
                self.save_safetensors(path)
            }
            fn load(&mut self, path: &Path) -> Result<(), WeightsError> {
                self.load_safetensors(path)
            }
            fn summary() -> &'static str {
                $net::SUMMARY
            }
        }
    };
}

classifier!(DigitsNet, 64);
classifier!(LeNet, 784);

/// Copies a square one-channel image shifted by `(dy, dx)` pixels, filling with zeros.
fn shifted<const L: usize>(image: &[f32; L], side: usize, dy: i32, dx: i32) -> [f32; L] {
    let (side, dy, dx) = (side as isize, dy as isize, dx as isize);
    let mut out = [0.0; L];
    for y in 0..side {
        for x in 0..side {
            let (sy, sx) = (y - dy, x - dx);
            if (0..side).contains(&sy) && (0..side).contains(&sx) {
                out[(y * side + x) as usize] = image[(sy * side + sx) as usize];
            }
        }
    }
    out
}

fn train<N: Classifier<L>, const L: usize>(
    args: &Args,
    train: &Dataset<L>,
    test: &Dataset<L>,
    max_shift: i32,
) -> Result<(), Box<dyn std::error::Error>> {
    let side = (L as f64).sqrt() as usize;
    println!("{}\n", N::summary());
    println!(
        "{} training samples, {} test samples; Adam lr {} (cosine decay), batch {}, seed {}\n",
        train.len(),
        test.len(),
        args.lr,
        args.batch,
        args.seed
    );
    let mut net = N::init(args.seed);
    let mut opt = Adam::new(args.lr);
    let mut loader = Loader::new(train, args.batch, args.seed);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let style = ProgressStyle::with_template("epoch {prefix:>3} [{bar:30}] {pos}/{len} {msg}")?.progress_chars("=> ");
    let total_steps = (args.epochs * loader.batches()) as f32;
    let mut step = 0;
    let mut xs: Vec<[f32; L]> = Vec::with_capacity(args.batch);
    let start = Instant::now();
    for epoch in 1..=args.epochs {
        loader.shuffle();
        let bar = ProgressBar::new(loader.batches() as u64).with_style(style.clone()).with_prefix(epoch.to_string());
        let (mut total, mut seen) = (0.0, 0);
        while let Some((batch, labels)) = loader.next_batch() {
            xs.clear();
            xs.extend(batch.iter().map(|x| {
                shifted(x, side, rng.random_range(-max_shift..=max_shift), rng.random_range(-max_shift..=max_shift))
            }));
            opt.set_lr(args.lr * 0.5 * (1.0 + (std::f32::consts::PI * step as f32 / total_steps).cos()));
            step += 1;
            let loss = net.step(&xs, labels, &mut opt);
            total += loss as f64 * labels.len() as f64;
            seen += labels.len();
            bar.set_message(format!("loss {:.4}", total / seen as f64));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let acc = accuracy(&net.predict(&test.images), &test.labels);
        println!(
            "epoch {epoch:>3}  loss {:.4}  test accuracy {:.2}%  ({:.1} s)",
            total / seen as f64,
            100.0 * acc,
            start.elapsed().as_secs_f64()
        );
    }
    let acc = accuracy(&net.predict(&test.images), &test.labels);
    net.save(&args.save)?;
    let mut fresh = N::init(args.seed + 1);
    fresh.load(&args.save)?;
    let reloaded = accuracy(&fresh.predict(&test.images), &test.labels);
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

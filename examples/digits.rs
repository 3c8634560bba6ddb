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
//! every batch); with `--augment`, each training image shifted at random by up to one pixel (two
//! for MNIST) each time it is seen (`RandomCrop` with padding), which helps because the test
//! digits come from other writers than the training ones. The loss per step and the test
//! accuracy per epoch go to `training.svg` (`--curve`).

use clap::Parser;
use cnn::data::augment::RandomCrop;
use cnn::data::{Dataset, Loader};
use cnn::lr::{CosineAnnealingLr, Schedule};
use cnn::metrics::accuracy;
use cnn::nets::{DigitsNet, LeNet};
use cnn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
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
    /// Shift each training image at random by up to one pixel (two for MNIST) each epoch.
    #[arg(long)]
    augment: bool,
    /// Where to draw the training curves (loss per step, test accuracy per epoch), as SVG.
    #[arg(long, default_value = "training.svg")]
    curve: PathBuf,
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

fn train<N: Classifier<L>, const L: usize>(
    args: &Args,
    train: &Dataset<L>,
    test: &Dataset<L>,
    max_shift: usize,
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
    if args.augment {
        println!("augmentation: random shifts of up to {max_shift} pixel(s) (RandomCrop, padding {max_shift})\n");
        loader = loader.augment([1, side, side], RandomCrop { size: (side, side), padding: max_shift });
    }
    let style = ProgressStyle::with_template("epoch {prefix:>3} [{bar:30}] {pos}/{len} {msg}")?.progress_chars("=> ");
    // torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=all steps), stepped every batch.
    let schedule = CosineAnnealingLr::new(args.lr, (args.epochs * loader.batches()).max(1), 0.0);
    let mut step = 0;
    let (mut losses, mut accuracies) = (Vec::new(), Vec::new());
    let start = Instant::now();
    for epoch in 1..=args.epochs {
        loader.shuffle();
        let bar = ProgressBar::new(loader.batches() as u64).with_style(style.clone()).with_prefix(epoch.to_string());
        let (mut total, mut seen) = (0.0, 0);
        while let Some((xs, labels)) = loader.next_batch() {
            opt.set_lr(schedule.lr_at(step));
            step += 1;
            let loss = net.step(xs, labels, &mut opt);
            losses.push(loss);
            total += loss as f64 * labels.len() as f64;
            seen += labels.len();
            bar.set_message(format!("loss {:.4}", total / seen as f64));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let acc = accuracy(&net.predict(&test.images), &test.labels);
        accuracies.push(acc);
        println!(
            "epoch {epoch:>3}  loss {:.4}  test accuracy {:.2}%  ({:.1} s)",
            total / seen as f64,
            100.0 * acc,
            start.elapsed().as_secs_f64()
        );
    }
    draw_curves(&args.curve, &losses, &accuracies, loader.batches())?;
    println!("\ntraining curves in {}", args.curve.display());
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

/// Loss per step (left axis) and test accuracy per epoch (right axis) as an SVG file.
fn draw_curves(
    path: &Path,
    losses: &[f32],
    accuracies: &[f64],
    steps_per_epoch: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (720, 360)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_loss = losses.iter().copied().fold(0.0f32, f32::max).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption("training", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .right_y_label_area_size(48)
        .build_cartesian_2d(0..losses.len().max(1), 0.0f32..max_loss)?
        .set_secondary_coord(0..losses.len().max(1), 0.0f64..100.0);
    chart.configure_mesh().x_desc("step").y_desc("loss").draw()?;
    chart.configure_secondary_axes().y_desc("test accuracy %").draw()?;
    chart
        .draw_series(LineSeries::new(losses.iter().enumerate().map(|(i, &l)| (i, l)), &BLUE))?
        .label("loss per step")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
    let epochs = accuracies.iter().enumerate().map(|(e, &a)| ((e + 1) * steps_per_epoch, 100.0 * a));
    chart
        .draw_secondary_series(LineSeries::new(epochs, RED.stroke_width(2)))?
        .label("test accuracy per epoch")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
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

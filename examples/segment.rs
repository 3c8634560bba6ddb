//! Semantic segmentation with a U-Net: every pixel of a 32x32 picture is classified as
//! background, circle, square or triangle.
//!
//! ```text
//! cargo run --release --example segment
//! cargo run --release --example segment -- --epochs 12 --seed 1 --out segment/
//! RAYON_NUM_THREADS=1 cargo run --release --example segment     # one core
//! ```
//!
//! The data set is generated here, deterministically from `--data-seed`: each image has a
//! textured background (a random colour, stripes of random direction and period, pixel noise)
//! and one or two shapes of random class, size, place and colour, later ones covering earlier
//! ones; colour says nothing about class, the outline does. Pixels on a shape's edge (a quarter
//! to three quarters covered, found by 4x4 supersampling) are labelled 255 and ignored by the
//! loss and the metrics, as Pascal VOC marks its object boundaries.
//!
//! The network is a U-Net written with blocks: an encoder of `double_conv` units with max
//! pooling, `cat` skips, and a decoder of `conv_transpose` upsamplings. Training: Adam with a
//! cosine-annealed learning rate, the per-pixel cross-entropy with `ignore_index(255)`, through
//! `cnn::fit::Trainer` (the images and their per-pixel labels in a `Dataset` and a `Loader`).
//! After each epoch the held-out loss, pixel accuracy and mean intersection over union are
//! printed; at the end,
//! `DIR/samples.png` shows held-out images beside their ground truth and the prediction, and
//! `DIR/unet.safetensors` holds the weights.

use clap::Parser;
use cnn::data::{Dataset, Loader};
use cnn::fit::Trainer;
use cnn::loss::CrossEntropy;
use cnn::lr::CosineAnnealingLr;
use cnn::metrics::{predict_pixels, ConfusionMatrix};
use cnn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

const SIDE: usize = 32;
const PIXELS: usize = SIDE * SIDE;
const CLASSES: usize = 4;
const NAMES: [&str; CLASSES] = ["background", "circle", "square", "triangle"];
/// The label of edge pixels, which the loss and the metrics skip.
const IGNORE: usize = 255;

cnn! {
    /// Two 3x3 convolutions with batch norm and ReLU: the U-Net's unit.
    block double_conv(cin, cout) {
        conv(cin, cout, k=3, p=1, bias=false) batchnorm(cout) relu
        conv(cout, cout, k=3, p=1, bias=false) batchnorm(cout) relu
    }

    /// One level down: half the resolution, `cout` channels.
    block down(cin, cout) {
        maxpool(2) double_conv(cin, cout)
    }

    /// A U-Net for 32x32 RGB images and 4 classes a pixel: three resolutions, the skips joined
    /// by `cat`, the decoder upsampling with transposed convolutions.
    pub struct UNet {
        input(3, 32, 32)
        inc: double_conv(3, 8)
        skip1: cat {
            identity
            seq {
                down1: down(8, 16)
                skip2: cat {
                    identity
                    seq { down2: down(16, 32) up2: conv_transpose(32, 16, k=2, s=2) }
                }
                conv2: double_conv(32, 16)
                up1: conv_transpose(16, 8, k=2, s=2)
            }
        }
        conv1: double_conv(16, 8)
        outc: conv(8, 4, k=1)
    }
}

#[derive(Parser)]
#[command(about = "Train a U-Net written with cnn! to segment shapes")]
struct Args {
    /// Passes over the training images.
    #[arg(long, default_value_t = 9)]
    epochs: usize,
    /// Peak Adam learning rate (it decays to 0 along a cosine).
    #[arg(long, default_value_t = 3e-3)]
    lr: f32,
    /// Images per training step.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Seed of the initial weights and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seed of the generated images.
    #[arg(long, default_value_t = 7)]
    data_seed: u64,
    /// Training images.
    #[arg(long, default_value_t = 1000)]
    train: usize,
    /// Held-out images the mean IoU is measured on.
    #[arg(long, default_value_t = 200)]
    test: usize,
    /// Where the pictures and the weights go.
    #[arg(long, default_value = "segment")]
    out: PathBuf,
}

/// Whether the point `(y, x)` lies in a shape of `class` centred at `(cy, cx)` with radius `r`
/// and rotation `turn` (triangles).
fn inside(class: usize, (y, x): (f32, f32), (cy, cx): (f32, f32), r: f32, turn: f32) -> bool {
    let (dy, dx) = (y - cy, x - cx);
    match class {
        1 => dy * dy + dx * dx <= r * r,
        2 => dy.abs() <= r * 0.85 && dx.abs() <= r * 0.85,
        _ => {
            // An equilateral triangle: inside all three edges' half-planes.
            (0..3).all(|k| {
                let a = turn + k as f32 * std::f32::consts::TAU / 3.0;
                dy * a.sin() + dx * a.cos() <= r * 0.5
            })
        }
    }
}

/// `n` images drawn from `seed` (see the module's documentation).
/// Images `[3, 32, 32]` and one label a pixel, sample after sample.
fn generate(n: usize, seed: u64) -> Dataset<{ 3 * PIXELS }> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Dataset { images: Vec::with_capacity(n), labels: Vec::with_capacity(n * PIXELS) };
    for _ in 0..n {
        let mut rgb = [[0.0f32; 3]; PIXELS];
        let base: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.0..1.0));
        let (angle, period) = (rng.random_range(0.0..std::f32::consts::PI), rng.random_range(3.0..9.0f32));
        let depth = rng.random_range(0.05..0.3f32);
        for (p, px) in rgb.iter_mut().enumerate() {
            let (y, x) = ((p / SIDE) as f32, (p % SIDE) as f32);
            let stripe = ((y * angle.sin() + x * angle.cos()) * std::f32::consts::TAU / period).sin() * depth;
            *px = std::array::from_fn(|c| base[c] + stripe + rng.random_range(-0.1..0.1f32));
        }
        let mut label = [0usize; PIXELS];
        for _ in 0..rng.random_range(1..=2) {
            let class = rng.random_range(1..CLASSES);
            let r = rng.random_range(6.0..11.0f32);
            let centre = (rng.random_range(r..SIDE as f32 - r), rng.random_range(r..SIDE as f32 - r));
            let turn = rng.random_range(0.0..std::f32::consts::TAU);
            let colour: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.0..1.0));
            for p in 0..PIXELS {
                let (y, x) = ((p / SIDE) as f32, (p % SIDE) as f32);
                let covered = (0..16)
                    .filter(|s| {
                        let at = (y + (s / 4) as f32 / 4.0 + 0.125, x + (s % 4) as f32 / 4.0 + 0.125);
                        inside(class, at, centre, r, turn)
                    })
                    .count() as f32
                    / 16.0;
                if covered == 0.0 {
                    continue;
                }
                for (c, v) in rgb[p].iter_mut().enumerate() {
                    *v = covered * colour[c] + (1.0 - covered) * *v;
                }
                label[p] = match covered {
                    c if c >= 0.75 => class,
                    c if c > 0.25 => IGNORE,
                    _ => label[p],
                };
            }
        }
        let mut image = [0.0f32; 3 * PIXELS];
        for (p, px) in rgb.iter().enumerate() {
            for c in 0..3 {
                image[c * PIXELS + p] = px[c];
            }
        }
        data.images.push(image);
        data.labels.extend_from_slice(&label);
    }
    data
}

/// The confusion matrix of the network's predictions on `data`.
fn confusion(net: &UNet, data: &Dataset<{ 3 * PIXELS }>) -> ConfusionMatrix {
    let mut matrix = ConfusionMatrix::new(CLASSES);
    let mut predictions = vec![0; PIXELS];
    for (chunk, labels) in data.images.chunks(64).zip(data.labels.chunks(64 * PIXELS)) {
        for (logits, label) in net.forward_batch(chunk).iter().zip(labels.chunks(PIXELS)) {
            predict_pixels(&logits[..], CLASSES, PIXELS, &mut predictions);
            matrix.update(label, &predictions);
        }
    }
    matrix
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    println!("{}\n", UNet::SUMMARY);
    let train = generate(args.train, args.data_seed);
    let test = generate(args.test, args.data_seed.wrapping_add(1_000_003));
    println!(
        "{} training and {} held-out images of {SIDE}x{SIDE} (data seed {}); Adam lr {} (cosine decay), batch {}, seed {}\n",
        args.train, args.test, args.data_seed, args.lr, args.batch, args.seed
    );

    let mut net = UNet::new(args.seed);
    let mut opt = Adam::new(args.lr);
    let mut loader = Loader::new(&train, args.batch.max(1), args.seed);
    let schedule = CosineAnnealingLr::new(args.lr, (args.epochs * loader.batches()).max(1), 0.0);
    // The loss skips edge pixels; after each epoch, the held-out mean IoU beside the trainer's
    // validation loss and pixel accuracy.
    Trainer::new(args.epochs)
        .loss(CrossEntropy::new().ignore_index(IGNORE))
        .schedule(schedule)
        .validation(&test)
        .on_epoch(|net: &UNet, e| {
            println!(
                "          held-out mean IoU {:.1}% after epoch {}",
                100.0 * confusion(net, &test).mean_iou(),
                e.epoch
            )
        })
        .fit(&mut net, &mut opt, &mut loader)?;

    let matrix = confusion(&net, &test);
    println!();
    for (name, iou) in NAMES.iter().zip(matrix.class_iou()) {
        println!("{name:>10}  IoU {:.1}%", 100.0 * iou);
    }
    // Held-out images, their ground truth and the prediction, a row each.
    let shown = 6.min(args.test);
    let predictions: Vec<Vec<usize>> = net
        .forward_batch(&test.images[..shown])
        .iter()
        .map(|logits| {
            let mut p = vec![0; PIXELS];
            predict_pixels(&logits[..], CLASSES, PIXELS, &mut p);
            p
        })
        .collect();
    let rows: Vec<(&[f32], Vec<&[usize]>)> = (0..shown)
        .map(|i| (&test.images[i][..], vec![&test.labels[i * PIXELS..(i + 1) * PIXELS], &predictions[i][..]]))
        .collect();
    let picture = args.out.join("samples.png");
    cnn::viz::segmentation(&rows, 3, (SIDE, SIDE), 4)?.save(&picture)?;
    let weights = args.out.join("unet.safetensors");
    net.save_safetensors(&weights)?;
    println!("\nimage, ground truth, prediction: {}; weights: {}", picture.display(), weights.display());
    Ok(())
}

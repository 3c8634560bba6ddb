//! pytorch/examples' `super_resolution` (ESPCN, a sub-pixel convolution network) ported: the
//! bundled 8x8 digits, enlarged to 32x32 and given crisp strokes (a smooth step from 0.3 to 0.7),
//! are the high-resolution pictures; their 4x4 block means (8x8) are the inputs; the network
//! learns to bring back the crisp 32x32 picture, which bilinear enlargement blurs.
//!
//! ```text
//! cargo run --release --example super_resolution
//! cargo run --release --example super_resolution -- --epochs 30 --lr 0.01 --batch 64 --seed 123
//! ```
//!
//! As the example: `conv1..conv4` + `pixel_shuffle(4)`, orthogonal initial weights (gain √2
//! before a ReLU), Adam at 0.01, `nn.MSELoss`, and each epoch the mean training loss and the
//! mean PSNR (`10 log10(1 / MSE)`, per test batch of 10) on the held-out digits (the last 360),
//! beside the PSNR of plain bilinear enlargement of the input. Writes `super_resolution.png`
//! (rows of low resolution, output and target for eight test digits) after every epoch and the
//! weights to `super_resolution.safetensors`.

use clap::Parser;
use cnn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

include!("nets/super_resolution.rs");
include!("nets/digits32.rs");

#[derive(Parser)]
#[command(about = "pytorch/examples' super_resolution on the bundled digits")]
struct Args {
    /// Passes over the training digits (the example's `--nEpochs`).
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Adam's learning rate (the example's `--lr`).
    #[arg(long, default_value_t = 0.01)]
    lr: f32,
    /// Training batch size (the example's `--batchSize`).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Seed of the initial weights and the shuffling (the example's `--seed`).
    #[arg(long, default_value_t = 123)]
    seed: u64,
}

const LOW: usize = 8;
const HIGH: usize = SIDE;

/// The high-resolution picture of a digit: enlarged, its strokes made crisp by a smooth step
/// from 0.3 to 0.7.
fn high_resolution(enlarged: &[f32; HIGH * HIGH]) -> [f32; HIGH * HIGH] {
    enlarged.map(|v| {
        let t = ((v - 0.3) / 0.4).clamp(0.0, 1.0);
        t * t * (3.0 - 2.0 * t)
    })
}

/// The low-resolution input: the means of the picture's 4x4 blocks.
fn low_resolution(high: &[f32; HIGH * HIGH]) -> [f32; LOW * LOW] {
    std::array::from_fn(|p| {
        let (y, x) = (p / LOW * UPSCALE, p % LOW * UPSCALE);
        let sum: f32 = (0..UPSCALE * UPSCALE).map(|k| high[(y + k / UPSCALE) * HIGH + x + k % UPSCALE]).sum();
        sum / (UPSCALE * UPSCALE) as f32
    })
}

/// `init.orthogonal_(weight, gain)`: the `[out, in·k·k]` view made orthogonal (rows or columns,
/// whichever are fewer) by a QR factorisation of a normal random matrix, signs fixed by R's
/// diagonal as PyTorch fixes them, times `gain`.
fn orthogonal(weight: &mut [f32], rows: usize, gain: f32, rng: &mut ChaCha8Rng) {
    let cols = weight.len() / rows;
    let (m, n) = (rows.max(cols), rows.min(cols));
    // An m x n normal matrix whose n columns Gram-Schmidt makes orthonormal.
    let mut q: Vec<Vec<f64>> = (0..n).map(|_| (0..m).map(|_| f64::from(normal(rng))).collect()).collect();
    for j in 0..n {
        let (done, rest) = q.split_at_mut(j);
        let column = &mut rest[0];
        for earlier in done.iter() {
            let dot: f64 = column.iter().zip(earlier).map(|(a, b)| a * b).sum();
            column.iter_mut().zip(earlier).for_each(|(a, b)| *a -= dot * b);
        }
        // R's diagonal is this norm, positive: the sign correction keeps the column as is.
        let norm = column.iter().map(|v| v * v).sum::<f64>().sqrt();
        column.iter_mut().for_each(|v| *v /= norm);
    }
    for r in 0..rows {
        for c in 0..cols {
            // Q is m x n; the weight is Q itself when rows >= cols, else its transpose.
            let v = if rows >= cols { q[c][r] } else { q[r][c] };
            weight[r * cols + c] = gain * v as f32;
        }
    }
}

fn psnr(mse: f64) -> f64 {
    10.0 * (1.0 / mse).log10()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let started = Instant::now();
    let digits = cnn::data::digits();
    let pairs: Vec<([f32; LOW * LOW], [f32; HIGH * HIGH])> = enlarge(&digits.images)
        .iter()
        .map(|enlarged| {
            let high = high_resolution(enlarged);
            (low_resolution(&high), high)
        })
        .collect();
    let (train, test) = pairs.split_at(1437);
    println!("{} training and {} test digits, {LOW}x{LOW} -> {HIGH}x{HIGH}", train.len(), test.len());

    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut net = SuperResolution::new(args.seed);
    let relu_gain = 2f32.sqrt();
    for (name, gain) in [("conv1", relu_gain), ("conv2", relu_gain), ("conv3", relu_gain), ("conv4", 1.0)] {
        let w = net.param_mut(&format!("{name}.weight")).expect("the example's layers");
        let rows = w.shape[0];
        orthogonal(w.data, rows, gain, &mut rng);
    }
    let mut opt = Adam::new(args.lr);

    // The held-out digits' PSNR after plain bilinear enlargement of the input, for comparison.
    let lows: Vec<[f32; LOW * LOW]> = test.iter().map(|p| p.0).collect();
    let bilinear: f64 = enlarge(&lows)
        .iter()
        .zip(test)
        .map(|(up, (_, high))| {
            up.iter().zip(high).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / (HIGH * HIGH) as f64
        })
        .map(psnr)
        .sum::<f64>()
        / test.len() as f64;
    println!("bilinear enlargement of the input: {bilinear:.2} dB on the test digits");

    let mut order: Vec<usize> = (0..train.len()).collect();
    for epoch in 1..=args.epochs {
        // The example's DataLoader shuffles every epoch.
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let mut epoch_loss = 0.0f64;
        let batches = order.chunks(args.batch);
        let count = batches.len();
        for (iteration, batch) in batches.enumerate() {
            let xs: Vec<_> = batch.iter().map(|&i| train[i].0).collect();
            let targets: Vec<[f32; HIGH * HIGH]> = batch.iter().map(|&i| train[i].1).collect();
            let loss = train_step(&mut net, &mut opt, &xs, &targets)?;
            epoch_loss += f64::from(loss);
            if (iteration + 1) % 10 == 0 {
                println!("===> Epoch[{epoch}]({}/{count}): Loss: {loss:.4}", iteration + 1);
            }
        }
        println!("===> Epoch {epoch} Complete: Avg. Loss: {:.4}", epoch_loss / count as f64);

        // The test PSNR as the example averages it: per batch of 10.
        let mut avg_psnr = 0.0f64;
        let test_batches = test.chunks(10);
        let tests = test_batches.len();
        for batch in test_batches {
            let xs: Vec<_> = batch.iter().map(|p| p.0).collect();
            let ys = net.forward_batch(&xs);
            let se: f64 = ys
                .iter()
                .zip(batch)
                .flat_map(|(y, p)| y.as_slice().iter().zip(&p.1).map(|(a, b)| ((a - b) as f64).powi(2)))
                .sum();
            avg_psnr += psnr(se / (batch.len() * HIGH * HIGH) as f64);
        }
        println!("===> Avg. PSNR: {:.4} dB", avg_psnr / tests as f64);

        // Eight test digits: low resolution (enlarged by repetition), output, target.
        let mut tiles: Vec<Vec<f32>> = Vec::new();
        for (low, high) in test.iter().take(8) {
            let nearest: Vec<f32> =
                (0..HIGH * HIGH).map(|p| low[(p / HIGH / UPSCALE) * LOW + p % HIGH / UPSCALE]).collect();
            tiles.extend([nearest, net.forward(low).as_slice().to_vec(), high.to_vec()]);
        }
        let refs: Vec<&[f32]> = tiles.iter().map(|t| &t[..]).collect();
        cnn::viz::image_grid(&refs, (1, HIGH, HIGH), 3, (0.0, 1.0), 3)?.save("super_resolution.png")?;
    }
    net.save_safetensors("super_resolution.safetensors")?;
    println!("wrote super_resolution.png and super_resolution.safetensors in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

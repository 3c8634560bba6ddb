//! pytorch/examples' `dcgan` ported: a generator and a discriminator trained against each other
//! on the bundled 8x8 digits, enlarged to 32x32 (the example's networks one stride-2 layer
//! shorter; its default is 64x64) and scaled to [-1, 1] as its `Normalize((0.5,), (0.5,))`.
//!
//! ```text
//! cargo run --release --example dcgan
//! cargo run --release --example dcgan -- --niter 10 --batch-size 64 --lr 0.0002 --beta1 0.5 --manual-seed 999
//! ```
//!
//! As the example: weights from N(0, 0.02) (batch norm weights N(1, 0.02), biases 0), Adam at
//! 2e-4 with betas (0.5, 0.999) for both, `nn.BCELoss` with real label 1 and fake label 0, the
//! discriminator's step on a real and a fake batch, then the generator's through the
//! discriminator. Prints the example's line per iteration (`Loss_D`, `Loss_G`, `D(x)`,
//! `D(G(z))` before / after the discriminator's step); writes `real_samples.png` and, after each
//! epoch, `fake_samples_epoch_NNN.png` (the generator on a fixed noise batch of 64, in train mode
//! as the example runs it) and the weights (`netG.safetensors`, `netD.safetensors`).

use clap::Parser;
use cnn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

include!("nets/dcgan.rs");
include!("nets/digits32.rs");

#[derive(Parser)]
#[command(about = "pytorch/examples' dcgan on the bundled digits, at 32x32")]
struct Args {
    /// Epochs to train for (the example's `--niter`).
    #[arg(long, default_value_t = 25)]
    niter: usize,
    /// Batch size (the example's `--batchSize`).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam's learning rate for both networks.
    #[arg(long, default_value_t = 0.0002)]
    lr: f32,
    /// Adam's beta1.
    #[arg(long, default_value_t = 0.5)]
    beta1: f32,
    /// Seed of the weights, the noise and the shuffling (the example's `--manualSeed`).
    #[arg(long, default_value_t = 999)]
    manual_seed: u64,
}

/// The example's `weights_init`: convolution weights from N(0, 0.02), batch norm weights from
/// N(1, 0.02) and biases 0.
fn weights_init<N: Network>(net: &mut N, rng: &mut ChaCha8Rng) {
    for p in net.params_mut() {
        let batch_norm = p.shape.len() == 1;
        for v in p.data.iter_mut() {
            *v = match (batch_norm, p.name.ends_with(".bias")) {
                (true, true) => 0.0,
                (true, false) => 1.0 + 0.02 * normal(rng),
                _ => 0.02 * normal(rng),
            };
        }
    }
}

fn noise(n: usize, rng: &mut ChaCha8Rng) -> Vec<[f32; NZ]> {
    (0..n).map(|_| std::array::from_fn(|_| normal(rng))).collect()
}

fn save_grid(pictures: &[[f32; SIDE * SIDE]], path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let refs: Vec<&[f32]> = pictures.iter().map(|p| &p[..]).collect();
    cnn::viz::image_grid(&refs, (1, SIDE, SIDE), 8, (-1.0, 1.0), 2)?.save(path)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(args.manual_seed);
    println!("Random Seed: {}", args.manual_seed);
    let data: Vec<[f32; SIDE * SIDE]> =
        enlarge(&cnn::data::digits().images).iter().map(|d| d.map(|v| v * 2.0 - 1.0)).collect();

    let (mut net_g, mut net_d) = (Generator::new(args.manual_seed), Discriminator::new(args.manual_seed));
    weights_init(&mut net_g, &mut rng);
    weights_init(&mut net_d, &mut rng);
    println!("{}", Generator::SUMMARY);
    println!("{}", Discriminator::SUMMARY);
    let fixed_noise = noise(64, &mut rng);
    let adam = || Adam::new(args.lr).betas(args.beta1, 0.999);
    let (mut opt_g, mut opt_d) = (adam(), adam());
    save_grid(&data[..64], "real_samples.png")?;

    let mut order: Vec<usize> = (0..data.len()).collect();
    for epoch in 0..args.niter {
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let batches = order.chunks(args.batch_size);
        let count = batches.len();
        for (i, batch) in batches.enumerate() {
            let real: Vec<[f32; SIDE * SIDE]> = batch.iter().map(|&k| data[k]).collect();
            let z = noise(real.len(), &mut rng);
            let [err_d, err_g, d_x, d_g_z1, d_g_z2] =
                train_iteration(&mut net_g, &mut net_d, (&mut opt_g, &mut opt_d), &real, &z);
            println!(
                "[{epoch}/{}][{i}/{count}] Loss_D: {err_d:.4} Loss_G: {err_g:.4} D(x): {d_x:.4} D(G(z)): {d_g_z1:.4} / {d_g_z2:.4}",
                args.niter
            );
        }
        let fake = net_g.forward_train(&fixed_noise);
        save_grid(fake, &format!("fake_samples_epoch_{epoch:03}.png"))?;
        net_g.save_safetensors("netG.safetensors")?;
        net_d.save_safetensors("netD.safetensors")?;
    }
    println!("{} epochs in {:.1} s", args.niter, started.elapsed().as_secs_f64());
    Ok(())
}

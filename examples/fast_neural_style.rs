//! pytorch/examples' `fast_neural_style` ported: its `TransformerNet` trained briefly to restyle
//! pictures after one style picture, through a frozen VGG-16 loss network (random weights, as no
//! trained ones ship; `--vgg16 FILE` copies torchvision's `vgg16` `features.*` tensors in from a
//! safetensors file). Content and style pictures are generated, 64x64.
//!
//! ```text
//! cargo run --release --example fast_neural_style
//! cargo run --release --example fast_neural_style -- --steps 200 --batch-size 4 --lr 0.01 --seed 42
//! ```
//!
//! As the example: Adam (at 1e-2 rather than its 1e-3, for a run of 60 steps rather than 40,000),
//! `normalize_batch` before VGG, the content loss on `relu2_2`
//! (weight 1e5) and the style loss on the Gram matrices of `relu1_2`, `relu2_2`, `relu3_3` and
//! `relu4_3` (weight 1e10), the loss network frozen (`requires_grad_(false)`: its backward pass
//! is its input gradient alone). Prints the example's log line; writes `style.png` and
//! `stylised.png` (content pictures above, their stylised versions below) and the transformer's
//! weights (`transformer.safetensors`).

use clap::Parser;
use cnn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::time::Instant;

include!("nets/fast_neural_style.rs");

#[derive(Parser)]
#[command(about = "pytorch/examples' fast_neural_style on generated 64x64 pictures")]
struct Args {
    /// Training steps (each on a new batch of generated content pictures).
    #[arg(long, default_value_t = 60)]
    steps: usize,
    /// Content pictures per step (the example's `--batch-size`).
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Adam's learning rate (the example's `--lr`, 1e-3 over its 40,000 steps; a few dozen
    /// steps need a larger one).
    #[arg(long, default_value_t = 1e-2)]
    lr: f32,
    /// The content loss's weight (the example's `--content-weight`).
    #[arg(long, default_value_t = 1e5)]
    content_weight: f64,
    /// The style loss's weight (the example's `--style-weight`).
    #[arg(long, default_value_t = 1e10)]
    style_weight: f64,
    /// Steps between log lines (the example's `--log-interval`).
    #[arg(long, default_value_t = 10)]
    log_interval: usize,
    /// Seed of the weights and the generated pictures (the example's `--seed`).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// torchvision's VGG-16 weights as safetensors; its `features.*` tensors up to relu4_3 are
    /// copied in by name.
    #[arg(long)]
    vgg16: Option<PathBuf>,
}

/// A content picture (0..255): a colour gradient with a few bright discs and bars.
fn content(rng: &mut ChaCha8Rng) -> [f32; PIXELS] {
    let base: [[f32; 3]; 2] = std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(0.0..255.0)));
    let shapes: Vec<(f32, f32, f32, [f32; 3], bool)> = (0..4)
        .map(|_| {
            let colour = std::array::from_fn(|_| rng.random_range(0.0..255.0));
            (
                rng.random_range(8.0..56.0),
                rng.random_range(8.0..56.0),
                rng.random_range(4.0..14.0),
                colour,
                rng.random(),
            )
        })
        .collect();
    std::array::from_fn(|i| {
        let (c, y, x) = (i / 4096, (i / 64 % 64) as f32, (i % 64) as f32);
        let t = (x + y) / 126.0;
        let mut v = base[0][c] * (1.0 - t) + base[1][c] * t;
        for &(cy, cx, r, colour, disc) in &shapes {
            let inside = if disc {
                (y - cy).powi(2) + (x - cx).powi(2) < r * r
            } else {
                (y - cy).abs() < r / 3.0 && (x - cx).abs() < r
            };
            if inside {
                v = colour[c];
            }
        }
        v
    })
}

/// The style picture (0..255): diagonal stripes of two colours crossed by rings.
fn style() -> [f32; PIXELS] {
    const STRIPES: [[f32; 3]; 2] = [[230.0, 180.0, 40.0], [30.0, 60.0, 150.0]];
    std::array::from_fn(|i| {
        let (c, y, x) = (i / 4096, (i / 64 % 64) as f32, (i % 64) as f32);
        let stripe = ((x + y) / 6.0) as usize % 2;
        let ring = (((y - 32.0).hypot(x - 32.0) / 5.0) as usize).is_multiple_of(3);
        if ring {
            [200.0, 40.0, 40.0][c]
        } else {
            STRIPES[stripe][c]
        }
    })
}

fn save(pictures: &[&[f32]], columns: usize, path: &str) -> Result<(), Box<dyn std::error::Error>> {
    cnn::viz::image_grid(pictures, (3, 64, 64), columns, (0.0, 255.0), 2)?.save(path)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut transformer = TransformerNet::new(args.seed);
    let mut vgg = Vgg16::new(args.seed.wrapping_add(1));
    if let Some(path) = &args.vgg16 {
        let bytes = std::fs::read(path)?;
        let file = safetensors::SafeTensors::deserialize(&bytes)?;
        for p in vgg.params_mut() {
            let t = file.tensor(p.name)?;
            let values: Vec<f32> =
                t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if t.shape() != p.shape || values.len() != p.data.len() {
                return Err(
                    format!("{}: shape {:?} in {}, {:?} here", p.name, t.shape(), path.display(), p.shape).into()
                );
            }
            p.data.copy_from_slice(&values);
        }
    }
    vgg.requires_grad_(false);
    let mut opt = Adam::new(args.lr);
    let style = style();
    save(&[&style], 1, "style.png")?;
    let gram_style = style_grams(&vgg, &style);

    let (mut agg_content, mut agg_style) = (0.0f64, 0.0f64);
    for step in 1..=args.steps {
        let xs: Vec<[f32; PIXELS]> = (0..args.batch_size).map(|_| content(&mut rng)).collect();
        let (c, s) = train_step(
            &mut transformer,
            &mut vgg,
            &mut opt,
            &xs,
            &gram_style,
            (args.content_weight, args.style_weight),
        );
        agg_content += f64::from(c);
        agg_style += f64::from(s);
        if step % args.log_interval == 0 {
            let k = step as f64;
            println!(
                "{:.1} s\tstep {step}/{}\tcontent: {:.6}\tstyle: {:.6}\ttotal: {:.6}",
                started.elapsed().as_secs_f64(),
                args.steps,
                agg_content / k,
                agg_style / k,
                (agg_content + agg_style) / k
            );
        }
    }
    // Four new content pictures above, the trained transformer's versions below.
    let xs: Vec<[f32; PIXELS]> = (0..4).map(|_| content(&mut rng)).collect();
    let ys = transformer.forward_batch(&xs);
    let pictures: Vec<&[f32]> = xs.iter().map(|x| &x[..]).chain(ys.iter().map(|y| y.as_slice())).collect();
    save(&pictures, 4, "stylised.png")?;
    transformer.save_safetensors("transformer.safetensors")?;
    println!("wrote style.png, stylised.png and transformer.safetensors in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

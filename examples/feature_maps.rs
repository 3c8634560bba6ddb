//! What a CNN sees: trains the digits network (or loads its weights), then writes pictures of
//! its filters, of the feature maps of one test digit at every convolution and pooling layer,
//! and of what stride and padding do to one map.
//!
//! ```text
//! cargo run --release --example feature_maps                         # writes feature_maps/*.png
//! cargo run --release --example feature_maps -- --weights digits.safetensors --digit 7 --out pics
//! ```
//!
//! Each filter and each map is scaled from its own minimum (black) to its maximum (white).

use clap::Parser;
use cnn::data::augment::RandomCrop;
use cnn::data::{digits, Loader};
use cnn::lr::{CosineAnnealingLr, Schedule};
use cnn::nets::DigitsNet;
use cnn::prelude::*;
use cnn::viz::{feature_maps, filters, side_by_side, Scale};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Pictures of a CNN's filters and feature maps")]
struct Args {
    /// Folder to write the pictures to.
    #[arg(long, default_value = "feature_maps")]
    out: PathBuf,
    /// Trained `DigitsNet` weights (as the digits example saves them); without, a network is
    /// trained here first (a few seconds).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Which test digit to look at (0..360).
    #[arg(long, default_value_t = 0)]
    digit: usize,
    /// Pixels a value takes on each side.
    #[arg(long, default_value_t = 12)]
    zoom: usize,
}

// One convolution with the trained network's first filter, three ways: what stride and padding do.
cnn! { struct Plain { input(1, 8, 8) conv(1, 1, k=3) } }
cnn! { struct Padded { input(1, 8, 8) conv(1, 1, k=3, p=1) } }
cnn! { struct Strided { input(1, 8, 8) conv(1, 1, k=3, s=2, p=1) } }

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (train, test) = digits().split_at(1437);
    let mut net = DigitsNet::new(0);
    match &args.weights {
        Some(path) => net.load_safetensors(path)?,
        None => {
            println!("training DigitsNet for 10 epochs ...");
            let mut loader = Loader::new(&train, 32, 0).augment([1, 8, 8], RandomCrop { size: (8, 8), padding: 1 });
            let schedule = CosineAnnealingLr::new(2e-3, 10 * loader.batches(), 0.0);
            let mut opt = Adam::new(schedule.lr_at(0));
            let mut step = 0;
            for _ in 0..10 {
                while let Some((xs, labels)) = loader.next_batch() {
                    opt.set_lr(schedule.lr_at(step));
                    step += 1;
                    net.train_step(xs, labels, &mut opt);
                }
            }
        }
    }
    let accuracy = cnn::metrics::accuracy(&net.forward_batch(&test.images), &test.labels);
    println!("test accuracy {:.2}%", 100.0 * accuracy);
    std::fs::create_dir_all(&args.out)?;
    let write = |name: &str, img: image::RgbImage| -> Result<(), image::ImageError> {
        let path = args.out.join(name);
        img.save(&path)?;
        println!("wrote {} ({}x{})", path.display(), img.width(), img.height());
        Ok(())
    };

    let x = &test.images[args.digit.min(test.len() - 1)];
    let label = test.labels[args.digit.min(test.len() - 1)];
    write("input.png", side_by_side(&[(x, 8, 8)], args.zoom)?)?;
    println!("digit {} (label {label}): the network says {}", args.digit, cnn::metrics::argmax(&net.forward(x)));

    // The layers by kind, from the summary's rows ("key  item  output  params").
    let layers: Vec<(String, String)> = DigitsNet::SUMMARY
        .lines()
        .skip(2)
        .filter_map(|row| {
            let mut cols = row.split_whitespace();
            Some((cols.next()?.to_string(), cols.next()?.to_string()))
        })
        .collect();
    for (key, item) in &layers {
        if item.starts_with("conv") {
            let w = net.param(&format!("{key}.weight")).expect("a conv layer has a weight");
            write(&format!("filters_{key}.png"), filters(w.data, w.shape, args.zoom)?)?;
        }
        if item.starts_with("conv") || item.contains("pool") {
            let maps = net.activation(x, key).expect("every layer has an activation");
            write(&format!("maps_{key}.png"), feature_maps(&maps, Scale::PerMap, args.zoom)?)?;
        }
    }

    // The first filter over the digit: valid (6x6), padded (8x8), strided (4x4).
    let first = &net.param("0.weight").expect("conv 0").data[..9];
    let (mut plain, mut padded, mut strided) = (Plain::new(0), Padded::new(0), Strided::new(0));
    plain.flat_params_mut().copy_from_slice(&[first, &[0.0]].concat());
    padded.flat_params_mut().copy_from_slice(&[first, &[0.0]].concat());
    strided.flat_params_mut().copy_from_slice(&[first, &[0.0]].concat());
    let (a, b, c) = (plain.forward(x), padded.forward(x), strided.forward(x));
    write("stride_padding.png", side_by_side(&[(x, 8, 8), (&a, 6, 6), (&b, 8, 8), (&c, 4, 4)], args.zoom)?)?;
    println!("stride_padding.png: the digit; k=3 without padding (6x6); with p=1 (8x8); with s=2, p=1 (4x4)");
    Ok(())
}

//! torchvision's ResNet-50 from `cnn::models`: one line gives the network with torchvision's
//! `state_dict` keys, written in the DSL as torchvision's `resnet.py` is (the bottleneck block
//! once, each stage a loop over it: 53 convolutions and 53 batch norms in 16 blocks; the book's
//! DSL chapter shows that source) and checked at compile time like any network.
//!
//! `cargo run --release --example resnet50 [-- IN.safetensors [OUT.safetensors]]` prints the
//! summary, classifies a test image (a horizontal ramp), and saves the weights if asked. With
//! torchvision's `resnet50` weights (`tools/torchvision_weights.py export resnet50 IN`) it gives
//! torchvision's logits; `tools/torchvision_weights.py import resnet50 OUT` loads what it saved
//! back into torchvision and prints the same top class.

use cnn::prelude::*;
use std::time::Instant;

cnn::models::resnet50!(
    /// torchvision's ResNet-50 (`torchvision.models.resnet50()`), 3x224x224 input, 1000 classes.
    pub struct ResNet50,
    input(3, 224, 224)
);

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut net = ResNet50::new(0);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(path) = args.first() {
        net.load_safetensors(path)?;
        println!("loaded {path}");
    }
    if let Some(path) = args.get(1) {
        net.save_safetensors(path)?;
        println!("saved {path}");
    }
    println!("{}", ResNet50::SUMMARY);
    let image: Vec<f32> = (0..ResNet50::INPUT_LEN).map(|i| ((i % 224) as f32 / 224.0 - 0.5) * 2.0).collect();
    let image: &[f32; ResNet50::INPUT_LEN] = image.as_slice().try_into()?;
    let start = Instant::now();
    let logits = net.forward(image);
    let best = logits.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
    println!(
        "{} parameters, {:.1} GFLOP a sample; forward in {:.1} ms; top class {} ({:.3})",
        ResNet50::PARAM_COUNT,
        ResNet50::FORWARD_FLOPS as f64 * 1e-9,
        start.elapsed().as_secs_f64() * 1e3,
        best.0,
        best.1
    );
    Ok(())
}

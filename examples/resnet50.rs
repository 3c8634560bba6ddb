//! torchvision's ResNet-50 written out in the DSL: 53 convolutions and 53 batch norms in 16
//! bottleneck blocks, checked at compile time like any network (and a measure of how fast the
//! macro is on a large one: the README gives the incremental build time of this example).
//!
//! `cargo run --release --example resnet50 [-- IN.safetensors [OUT.safetensors]]` prints the
//! summary, classifies a test image (a horizontal ramp), and saves the weights if asked. With
//! torchvision's `resnet50` weights (`tools/torchvision_weights.py export resnet50 IN`) it gives
//! torchvision's logits; `tools/torchvision_weights.py import resnet50 OUT` loads what it saved
//! back into torchvision and prints the same top class.

use cnn::prelude::*;
use std::time::Instant;

cnn! {
    /// torchvision's ResNet-50 (`torchvision.models.resnet50()`), 3x224x224 input, 1000 classes.
    pub struct ResNet50 {
        input(3, 224, 224)
        conv1: conv(3, 64, k=7, s=2, p=3, bias=false) bn1: batchnorm(64) relu maxpool(3, 2, p=1)
        layer1.0: residual {
            conv1: conv(64, 64, k=1, bias=false) bn1: batchnorm(64) relu
            conv2: conv(64, 64, k=3, p=1, bias=false) bn2: batchnorm(64) relu
            conv3: conv(64, 256, k=1, bias=false) bn3: batchnorm(256)
        } downsample: shortcut { conv(64, 256, k=1, bias=false) batchnorm(256) } relu
        layer1.1: residual {
            conv1: conv(256, 64, k=1, bias=false) bn1: batchnorm(64) relu
            conv2: conv(64, 64, k=3, p=1, bias=false) bn2: batchnorm(64) relu
            conv3: conv(64, 256, k=1, bias=false) bn3: batchnorm(256)
        } relu
        layer1.2: residual {
            conv1: conv(256, 64, k=1, bias=false) bn1: batchnorm(64) relu
            conv2: conv(64, 64, k=3, p=1, bias=false) bn2: batchnorm(64) relu
            conv3: conv(64, 256, k=1, bias=false) bn3: batchnorm(256)
        } relu
        layer2.0: residual {
            conv1: conv(256, 128, k=1, bias=false) bn1: batchnorm(128) relu
            conv2: conv(128, 128, k=3, s=2, p=1, bias=false) bn2: batchnorm(128) relu
            conv3: conv(128, 512, k=1, bias=false) bn3: batchnorm(512)
        } downsample: shortcut { conv(256, 512, k=1, s=2, bias=false) batchnorm(512) } relu
        layer2.1: residual {
            conv1: conv(512, 128, k=1, bias=false) bn1: batchnorm(128) relu
            conv2: conv(128, 128, k=3, p=1, bias=false) bn2: batchnorm(128) relu
            conv3: conv(128, 512, k=1, bias=false) bn3: batchnorm(512)
        } relu
        layer2.2: residual {
            conv1: conv(512, 128, k=1, bias=false) bn1: batchnorm(128) relu
            conv2: conv(128, 128, k=3, p=1, bias=false) bn2: batchnorm(128) relu
            conv3: conv(128, 512, k=1, bias=false) bn3: batchnorm(512)
        } relu
        layer2.3: residual {
            conv1: conv(512, 128, k=1, bias=false) bn1: batchnorm(128) relu
            conv2: conv(128, 128, k=3, p=1, bias=false) bn2: batchnorm(128) relu
            conv3: conv(128, 512, k=1, bias=false) bn3: batchnorm(512)
        } relu
        layer3.0: residual {
            conv1: conv(512, 256, k=1, bias=false) bn1: batchnorm(256) relu
            conv2: conv(256, 256, k=3, s=2, p=1, bias=false) bn2: batchnorm(256) relu
            conv3: conv(256, 1024, k=1, bias=false) bn3: batchnorm(1024)
        } downsample: shortcut { conv(512, 1024, k=1, s=2, bias=false) batchnorm(1024) } relu
        layer3.1: residual {
            conv1: conv(1024, 256, k=1, bias=false) bn1: batchnorm(256) relu
            conv2: conv(256, 256, k=3, p=1, bias=false) bn2: batchnorm(256) relu
            conv3: conv(256, 1024, k=1, bias=false) bn3: batchnorm(1024)
        } relu
        layer3.2: residual {
            conv1: conv(1024, 256, k=1, bias=false) bn1: batchnorm(256) relu
            conv2: conv(256, 256, k=3, p=1, bias=false) bn2: batchnorm(256) relu
            conv3: conv(256, 1024, k=1, bias=false) bn3: batchnorm(1024)
        } relu
        layer3.3: residual {
            conv1: conv(1024, 256, k=1, bias=false) bn1: batchnorm(256) relu
            conv2: conv(256, 256, k=3, p=1, bias=false) bn2: batchnorm(256) relu
            conv3: conv(256, 1024, k=1, bias=false) bn3: batchnorm(1024)
        } relu
        layer3.4: residual {
            conv1: conv(1024, 256, k=1, bias=false) bn1: batchnorm(256) relu
            conv2: conv(256, 256, k=3, p=1, bias=false) bn2: batchnorm(256) relu
            conv3: conv(256, 1024, k=1, bias=false) bn3: batchnorm(1024)
        } relu
        layer3.5: residual {
            conv1: conv(1024, 256, k=1, bias=false) bn1: batchnorm(256) relu
            conv2: conv(256, 256, k=3, p=1, bias=false) bn2: batchnorm(256) relu
            conv3: conv(256, 1024, k=1, bias=false) bn3: batchnorm(1024)
        } relu
        layer4.0: residual {
            conv1: conv(1024, 512, k=1, bias=false) bn1: batchnorm(512) relu
            conv2: conv(512, 512, k=3, s=2, p=1, bias=false) bn2: batchnorm(512) relu
            conv3: conv(512, 2048, k=1, bias=false) bn3: batchnorm(2048)
        } downsample: shortcut { conv(1024, 2048, k=1, s=2, bias=false) batchnorm(2048) } relu
        layer4.1: residual {
            conv1: conv(2048, 512, k=1, bias=false) bn1: batchnorm(512) relu
            conv2: conv(512, 512, k=3, p=1, bias=false) bn2: batchnorm(512) relu
            conv3: conv(512, 2048, k=1, bias=false) bn3: batchnorm(2048)
        } relu
        layer4.2: residual {
            conv1: conv(2048, 512, k=1, bias=false) bn1: batchnorm(512) relu
            conv2: conv(512, 512, k=3, p=1, bias=false) bn2: batchnorm(512) relu
            conv3: conv(512, 2048, k=1, bias=false) bn3: batchnorm(2048)
        } relu
        avgpool: adaptive_avgpool(1) flatten fc: linear(2048, 1000)
    }
}

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

//! torchvision's ResNet-50 in the DSL, written as torchvision's `resnet.py` is: the bottleneck
//! block once, each stage a loop over it (53 convolutions and 53 batch norms in 16 blocks),
//! checked at compile time like any network.
//!
//! `cargo run --release --example resnet50 [-- IN.safetensors [OUT.safetensors]]` prints the
//! summary, classifies a test image (a horizontal ramp), and saves the weights if asked. With
//! torchvision's `resnet50` weights (`tools/torchvision_weights.py export resnet50 IN`) it gives
//! torchvision's logits; `tools/torchvision_weights.py import resnet50 OUT` loads what it saved
//! back into torchvision and prints the same top class.

use cnn::prelude::*;
use std::time::Instant;

cnn! {
    /// torchvision's `Bottleneck` (expansion 4): `downsample` where the width or stride changes.
    block bottleneck(cin, planes, s) {
        _: residual {
            conv1: conv(cin, planes, k=1, bias=false) bn1: batchnorm(planes) relu
            conv2: conv(planes, planes, k=3, s=s, p=1, bias=false) bn2: batchnorm(planes) relu
            conv3: conv(planes, planes * 4, k=1, bias=false) bn3: batchnorm(planes * 4)
        } if s != 1 || cin != planes * 4 {
            downsample: shortcut { conv(cin, planes * 4, k=1, s=s, bias=false) batchnorm(planes * 4) }
        }
        relu
    }

    /// `ResNet._make_layer`: the first block changes width and stride, the others keep them.
    block layer(cin, planes, blocks, s) {
        bottleneck(cin, planes, s)
        for _ in 1..blocks { bottleneck(planes * 4, planes, 1) }
    }

    /// torchvision's ResNet-50 (`torchvision.models.resnet50()`), 3x224x224 input, 1000 classes.
    pub struct ResNet50 {
        input(3, 224, 224)
        conv1: conv(3, 64, k=7, s=2, p=3, bias=false) bn1: batchnorm(64) relu maxpool(3, 2, p=1)
        layer1: layer(64, 64, 3, 1)
        layer2: layer(256, 128, 4, 2)
        layer3: layer(512, 256, 6, 2)
        layer4: layer(1024, 512, 3, 2)
        avgpool: global_avgpool flatten
        fc: linear(2048, 1000)
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

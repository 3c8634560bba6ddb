//! LeNet-5 (`cnn::nets::LeNet`, written with `cnn!` in `src/nets.rs`): prints the layer summary
//! and classifies one 28x28 image.
//!
//! ```text
//! cargo run --release --example lenet                      # freshly initialised weights
//! cargo run --release --example lenet -- lenet.safetensors # weights saved from PyTorch
//! ```
//!
//! A PyTorch `nn.Sequential` of the same layers saves a loadable file with
//! `safetensors.torch.save_file(model.state_dict(), "lenet.safetensors")`.

use cnn::nets::LeNet;
use cnn::Network;

/// A handwritten-looking "7": a top bar and a slanted stroke, anti-aliased.
fn seven() -> [f32; 784] {
    let mut img = [0.0f32; 784];
    let mut ink = |y: f32, x: f32| {
        for (dy, dx) in [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5)] {
            let (r, c) = ((y + dy) as usize, (x + dx) as usize);
            if r < 28 && c < 28 {
                img[r * 28 + c] = 1.0;
            }
        }
    };
    for x in 7..21 {
        ink(6.0, x as f32);
    }
    for i in 0..40 {
        let t = i as f32 / 39.0;
        ink(6.0 + 16.0 * t, 20.0 - 8.0 * t);
    }
    img
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut net = LeNet::new(0);
    match std::env::args().nth(1) {
        Some(path) => {
            net.load_safetensors(&path)?;
            println!("weights: {path}");
        }
        None => {
            println!("weights: PyTorch default initialisation, seed 0 (pass a .safetensors file to load trained ones)")
        }
    }
    println!("\n{}\n", LeNet::SUMMARY);

    let x = seven();
    for row in x.chunks(28).step_by(2) {
        println!("    {}", row.iter().step_by(1).map(|&v| if v > 0.5 { '#' } else { '.' }).collect::<String>());
    }

    let logits = net.forward(&x);
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let exp: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    let (class, p) = exp.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, e)| (i, e / sum)).unwrap();
    println!("\nclass probabilities:");
    for (i, e) in exp.iter().enumerate() {
        println!("    {i}: {:5.1}%", 100.0 * e / sum);
    }
    println!("predicted class: {class} ({:.1}%)", 100.0 * p);
    Ok(())
}

//! Inference timings of the three reference nets of BENCH_NETS.md, batch 1 and batch 64,
//! median of 20 samples after warm-up, with GFLOP/s.
//!
//! ```text
//! cargo run --release --example bench                # rayon's default thread count
//! cargo run --release --example bench -- --threads 1
//! ```
//! `tools/bench_pytorch.py` measures the same nets the same way in PyTorch.

use cnn::nets::{LeNet, SeedNet, Vgg};
use cnn::prelude::*;
use std::time::{Duration, Instant};

/// Median time of one call of `f`, from 20 samples; each sample repeats `f` until it has run
/// for at least 2 ms so that short calls are not lost in timer noise.
fn median(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    let mut reps = 0u32;
    while start.elapsed() < Duration::from_millis(200) || reps < 3 {
        f();
        reps += 1;
    }
    let per_call = start.elapsed() / reps;
    let inner = (Duration::from_millis(2).as_nanos() / per_call.as_nanos().max(1)).max(1) as u32;
    let mut samples: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..inner {
                f();
            }
            t.elapsed() / inner
        })
        .collect();
    samples.sort();
    samples[10]
}

fn input(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1u32 << 24) as f32
        })
        .collect()
}

macro_rules! bench_net {
    ($net:ident, $name:literal) => {{
        let net = $net::new(0);
        let xs: Vec<[f32; $net::INPUT_LEN]> =
            (0..64).map(|i| input($net::INPUT_LEN, i).try_into().unwrap()).collect();
        let mut ys = vec![[0.0f32; $net::OUTPUT_LEN]; 64];
        let mut ws = Workspace::new();
        let b1 = median(|| {
            std::hint::black_box(net.forward(std::hint::black_box(&xs[0])));
        });
        let b64 = median(|| {
            net.forward_batch_into(std::hint::black_box(&xs), &mut ys, &mut ws);
        });
        let gflops = |t: Duration, n: u64| (n * $net::FORWARD_FLOPS) as f64 / t.as_secs_f64() / 1e9;
        println!("| {} | infer b1 | {:.3} | {:.1} |", $name, b1.as_secs_f64() * 1e3, gflops(b1, 1));
        println!("| {} | infer b64 | {:.3} | {:.1} |", $name, b64.as_secs_f64() * 1e3, gflops(b64, 64));
    }};
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut threads = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().and_then(|v| v.parse::<usize>().ok()),
            other => {
                eprintln!("unknown argument `{other}`; usage: bench [--threads N]");
                std::process::exit(2);
            }
        }
    }
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().expect("the global pool is built once");
    }
    println!("cnn inference, {} rayon threads, median of 20, milliseconds", rayon::current_num_threads());
    println!("| net | mode | ms | GFLOP/s |\n|---|---|---|---|");
    bench_net!(LeNet, "lenet");
    bench_net!(SeedNet, "seednet");
    bench_net!(Vgg, "vgg");
}

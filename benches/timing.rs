//! The cnn side of `tools/compare.py`: times one case of the benchmark nets and prints one JSON
//! line, so that a script can interleave it with PyTorch and onnxruntime in one run.
//!
//! ```text
//! cargo bench --bench timing -- run NET MODE BATCH [SIZE]  # median ms of 20 samples
//! cargo bench --bench timing -- peak                        # GFLOP/s of an FMA loop on one core
//! cargo bench --bench timing -- memory NET BATCH [SIZE]     # peak resident memory of warm training steps
//! cargo bench --bench timing -- gemm M K N                  # GFLOP/s of cnn's GEMM and matrixmultiply's
//! cargo bench --bench timing                                # every case once, as a smoke run
//! mpirun -np 2 TIMING dist NET BATCH [SIZE]  # (--features mpi) train_step_dist, median ms and bytes a step
//! ```
//!
//! NET: lenet, seednet, vgg, unet (BENCH_NETS.md), or one of torchvision's resnet18, resnet50,
//! mobilenet_v2, densenet121, efficientnet_b0, convnext_tiny (`cnn::models`) at SIZE 224 or 64
//! (3xSIZExSIZE inputs; by default 224 to infer, 64 to train, as `tools/compare.py` runs them).
//! MODE is `infer` or `train` (forward, mean cross-entropy, backward, SGD lr 0.01 momentum 0.9).
//! The thread count is rayon's: set `RAYON_NUM_THREADS`.

use cnn::nets::{LeNet, MobileNetV2, ResNet18, SeedNet, UNet, Vgg};
use cnn::prelude::*;
use std::hint::black_box;
use std::time::Instant;

#[path = "common/median.rs"]
mod median;
use median::median_ms;

// The torchvision families at the two input sizes compare.py runs: 224 (ImageNet's, inference)
// and 64 (small maps: the training cases and ResNet's small-map inference).
cnn::models::resnet18!(pub struct ResNet18At64, input(3, 64, 64));
cnn::models::resnet50!(pub struct ResNet50, input(3, 224, 224));
cnn::models::resnet50!(pub struct ResNet50At64, input(3, 64, 64));
cnn::models::mobilenet_v2!(pub struct MobileNetV2At64, input(3, 64, 64));
cnn::models::densenet121!(pub struct DenseNet121, input(3, 224, 224));
cnn::models::densenet121!(pub struct DenseNet121At64, input(3, 64, 64));
cnn::models::efficientnet_b0!(pub struct EfficientNetB0, input(3, 224, 224));
cnn::models::efficientnet_b0!(pub struct EfficientNetB0At64, input(3, 64, 64));
cnn::models::convnext_tiny!(pub struct ConvNeXtTiny, input(3, 224, 224));
cnn::models::convnext_tiny!(pub struct ConvNeXtTinyAt64, input(3, 64, 64));

fn input(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7919 + seed * 104729) % 1000) as f32 / 1000.0).collect()
}

/// A line of `/proc/self/status` in MiB: `VmHWM` (peak resident memory) or `VmRSS` (now).
fn status_mib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs `$body` with `$net` bound to the network type named `$name` on `$size`x`$size` inputs
/// (the torchvision families: 224 or 64; the benchmark nets have one size each).
macro_rules! with_net {
    ($name:expr, $size:expr, |$net:ident| $body:expr) => {
        match ($name, $size) {
            ("lenet", _) => {
                type $net = LeNet;
                $body
            }
            ("seednet", _) => {
                type $net = SeedNet;
                $body
            }
            ("vgg", _) => {
                type $net = Vgg;
                $body
            }
            ("unet", _) => {
                type $net = UNet;
                $body
            }
            ("resnet18", 224) => {
                type $net = ResNet18;
                $body
            }
            ("resnet18", 64) => {
                type $net = ResNet18At64;
                $body
            }
            ("resnet50", 224) => {
                type $net = ResNet50;
                $body
            }
            ("resnet50", 64) => {
                type $net = ResNet50At64;
                $body
            }
            ("mobilenet_v2", 224) => {
                type $net = MobileNetV2;
                $body
            }
            ("mobilenet_v2", 64) => {
                type $net = MobileNetV2At64;
                $body
            }
            ("densenet121", 224) => {
                type $net = DenseNet121;
                $body
            }
            ("densenet121", 64) => {
                type $net = DenseNet121At64;
                $body
            }
            ("efficientnet_b0", 224) => {
                type $net = EfficientNetB0;
                $body
            }
            ("efficientnet_b0", 64) => {
                type $net = EfficientNetB0At64;
                $body
            }
            ("convnext_tiny", 224) => {
                type $net = ConvNeXtTiny;
                $body
            }
            ("convnext_tiny", 64) => {
                type $net = ConvNeXtTinyAt64;
                $body
            }
            (other, size) => panic!(
                "unknown net {other} at size {size}: lenet, seednet, vgg, unet, or at 224 or 64: resnet18, resnet50, mobilenet_v2, densenet121, efficientnet_b0, convnext_tiny"
            ),
        }
    };
}

/// The input side a case runs at when the command line does not say: torchvision's families
/// infer on 224x224 and train on 64x64.
fn default_size(mode: &str) -> usize {
    if mode == "infer" {
        224
    } else {
        64
    }
}

/// Class indices for a training step of a network with output shape `shape`: one a sample of
/// 10 classes, or for a map output `[K, H, W]` one a pixel of `K` (as compare.py's
/// `labels_for`).
fn labels_for(shape: &[usize], batch: usize) -> Vec<usize> {
    match *shape {
        [k, h, w] => (0..batch * h * w).map(|i| i % k).collect(),
        _ => (0..batch).map(|i| i % 10).collect(),
    }
}

/// Times one case; returns (median ms, FLOPs of one call).
fn run(net: &str, mode: &str, batch: usize, size: usize) -> (f64, u64) {
    with_net!(net, size, |Net| {
        let xs: Vec<[f32; Net::INPUT_LEN]> = (0..batch).map(|s| input(Net::INPUT_LEN, s).try_into().unwrap()).collect();
        match mode {
            "infer" => {
                let net = Net::new(0);
                let mut ys = vec![[0.0f32; Net::OUTPUT_LEN]; batch];
                let mut ws = Workspace::new();
                let ms = median_ms(|| net.forward_batch_into(black_box(&xs), &mut ys, &mut ws));
                (ms, batch as u64 * Net::FORWARD_FLOPS)
            }
            "train" => {
                let mut net = Net::new(0);
                let labels = labels_for(Net::OUTPUT_SHAPE, batch);
                let mut opt = Sgd::new(0.01).momentum(0.9);
                let ms = median_ms(|| {
                    black_box(net.train_step(black_box(&xs), &labels, &mut opt));
                });
                (ms, 3 * batch as u64 * Net::FORWARD_FLOPS)
            }
            other => panic!("unknown mode {other}: infer or train"),
        }
    })
}

/// Times `train_step_dist` on this rank's part of a global batch of `batch` (run under
/// `mpirun`, built with `--features mpi`): the median of 10 steps after 3 warm ones (a fixed
/// count, so that every rank takes the same steps), and the payload bytes this rank sent per
/// step. Returns (median ms, bytes a step, FLOPs of one step over all ranks, parameters).
#[cfg(feature = "mpi")]
fn run_dist(world: &cnn::dist::World, net: &str, batch: usize, size: usize) -> (f64, u64, u64, usize) {
    with_net!(net, size, |Net| {
        let part = cnn::internals::exchange::shard_samples(batch, world.rank(), world.size());
        let xs: Vec<[f32; Net::INPUT_LEN]> =
            part.clone().map(|s| input(Net::INPUT_LEN, s).try_into().unwrap()).collect();
        let all_labels = labels_for(Net::OUTPUT_SHAPE, batch);
        let per = all_labels.len() / batch;
        let labels = &all_labels[part.start * per..part.end * per];
        let mut net = Net::new(0);
        let mut opt = Sgd::new(0.01).momentum(0.9);
        for _ in 0..3 {
            black_box(net.train_step_dist(world, &xs, labels, &mut opt));
        }
        let sent = world.bytes_sent();
        let mut times: Vec<f64> = (0..10)
            .map(|_| {
                let start = Instant::now();
                black_box(net.train_step_dist(world, black_box(&xs), labels, &mut opt));
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let bytes = (world.bytes_sent() - sent) / 10;
        ((times[4] + times[5]) / 2.0, bytes, 3 * batch as u64 * Net::FORWARD_FLOPS, Net::PARAM_COUNT)
    })
}

/// Peak resident memory (MiB) over warm training steps at `batch`, and the resident memory
/// before the network was built; the peak is reset first (`/proc/self/clear_refs`), so it
/// counts from that point.
fn memory(net: &str, batch: usize, size: usize) -> (f64, f64) {
    // Writing 5 resets VmHWM to the current resident size (Linux); without it the peak is the
    // process's lifetime peak, still an upper bound.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_mib("VmRSS:");
    with_net!(net, size, |Net| {
        let xs: Vec<[f32; Net::INPUT_LEN]> = (0..batch).map(|s| input(Net::INPUT_LEN, s).try_into().unwrap()).collect();
        let labels = labels_for(Net::OUTPUT_SHAPE, batch);
        let mut net = Net::new(0);
        let mut opt = Sgd::new(0.01).momentum(0.9);
        for _ in 0..3 {
            black_box(net.train_step(&xs, &labels, &mut opt));
        }
    });
    (status_mib("VmHWM:"), before)
}

/// GFLOP/s of a loop of independent FMAs on one core: the machine's arithmetic limit.
fn peak_gflops() -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is present, checked just above.
            return unsafe { fma_loop_avx512() };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA are present, checked just above.
            return unsafe { fma_loop_avx2() };
        }
    }
    f64::NAN
}

macro_rules! fma_loop {
    ($name:ident, $feature:literal, $vec:ty, $set1:ident, $fmadd:ident, $add:ident, $lanes:literal) => {
        /// Twelve independent FMA chains, enough to cover the latency of two FMA units.
        ///
        /// # Safety
        /// The CPU must support the target feature.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name() -> f64 {
            use std::arch::x86_64::*;
            const ITERS: usize = 20_000_000;
            let (a, b) = ($set1(0.999_999), $set1(1e-7));
            let mut acc: [$vec; 12] = [$set1(1.0); 12];
            let t = Instant::now();
            for _ in 0..ITERS {
                for v in acc.iter_mut() {
                    *v = $fmadd(*v, a, b);
                }
            }
            let secs = t.elapsed().as_secs_f64();
            let sum = acc.iter().fold($set1(0.0), |s, v| $add(s, *v));
            black_box(sum);
            (ITERS * 12 * $lanes * 2) as f64 / secs * 1e-9
        }
    };
}

fma_loop!(fma_loop_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16);
fma_loop!(fma_loop_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8);

fn main() {
    // `cargo bench` passes `--bench`; drop it and anything else starting with `--`.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let threads = rayon::current_num_threads();
    match args.as_slice() {
        ["run", net, mode, batch, size @ ..] if size.len() <= 1 => {
            let batch: usize = batch.parse().expect("BATCH is a number");
            let size = size.first().map_or(default_size(mode), |s| s.parse().expect("SIZE is a number"));
            let (ms, flops) = run(net, mode, batch, size);
            println!(
                r#"{{"net": "{net}", "mode": "{mode}", "batch": {batch}, "size": {size}, "threads": {threads}, "ms": {ms:.6}, "flops": {flops}}}"#
            );
        }
        #[cfg(feature = "mpi")]
        ["dist", net, batch, size @ ..] if size.len() <= 1 => {
            let world = cnn::dist::World::init().expect("MPI starts");
            let batch: usize = batch.parse().expect("BATCH is a number");
            let size = size.first().map_or(default_size("train"), |s| s.parse().expect("SIZE is a number"));
            let (ms, bytes, flops, params) = run_dist(&world, net, batch, size);
            if world.rank() == 0 {
                println!(
                    r#"{{"net": "{net}", "mode": "dist", "batch": {batch}, "size": {size}, "processes": {}, "threads": {threads}, "ms": {ms:.6}, "bytes_per_step": {bytes}, "flops": {flops}, "params": {params}}}"#,
                    world.size()
                );
            }
        }
        ["peak"] => println!(r#"{{"gflops_per_core": {:.2}}}"#, peak_gflops()),
        ["gemm", m, k, n] => {
            let [m, k, n] = [m, k, n].map(|v| v.parse::<usize>().expect("sizes are numbers"));
            let (a, b) = (input(m * k, 1), input(k * n, 2));
            let mut c = vec![0.0f32; m * n];
            let flops = 2.0 * (m * k * n) as f64;
            use cnn::internals::gemm::{gemm, Op};
            let ours = median_ms(|| gemm(m, k, n, black_box(&a), Op::N, &b, Op::N, 0.0, &mut c));
            let theirs = median_ms(|| {
                // SAFETY: row-major strides over exactly m·k, k·n and m·n elements.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        black_box(a.as_ptr()),
                        k as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                }
            });
            println!(
                r#"{{"m": {m}, "k": {k}, "n": {n}, "threads": {threads}, "cnn_gflops": {:.1}, "matrixmultiply_gflops": {:.1}}}"#,
                flops / ours * 1e-6,
                flops / theirs * 1e-6
            );
        }
        ["memory", net, batch, size @ ..] if size.len() <= 1 => {
            let size = size.first().map_or(default_size("train"), |s| s.parse().expect("SIZE is a number"));
            let (peak, before) = memory(net, batch.parse().expect("BATCH is a number"), size);
            println!(
                r#"{{"net": "{net}", "batch": {batch}, "size": {size}, "peak_mib": {peak:.1}, "baseline_mib": {before:.1}}}"#
            );
        }
        [] => {
            for (net, mode, batch) in [
                ("lenet", "infer", 64),
                ("seednet", "train", 64),
                ("vgg", "infer", 1),
                ("resnet18", "train", 16),
                ("unet", "train", 8),
            ] {
                let (ms, flops) = run(net, mode, batch, default_size(mode));
                println!(
                    "{net} {mode} b{batch}: {ms:.3} ms, {:.1} GFLOP/s on {threads} threads",
                    flops as f64 / ms * 1e-6
                );
            }
        }
        _ => {
            eprintln!(
                "usage: timing run NET MODE BATCH [SIZE] | timing peak | timing memory NET BATCH [SIZE] | timing gemm M K N"
            );
            std::process::exit(2);
        }
    }
}

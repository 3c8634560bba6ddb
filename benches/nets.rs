//! `cargo bench`: the three reference nets of the project's benchmark set (LeNet-5, the CIFAR
//! tutorial "seednet", two VGG blocks), inference at batch 1 and 64 and a training step at
//! batch 64 (mean cross-entropy, SGD lr 0.01 momentum 0.9). Throughput is reported in
//! elements per second where an element is one floating-point operation (each group's name
//! says so), so "Gelem/s" reads as GFLOP/s: a forward pass counts `FORWARD_FLOPS` (multiply-adds of conv and linear layers
//! as two), a training step three times that (forward, and backward to the inputs and weights).

use cnn::nets::{LeNet, SeedNet, Vgg};
use cnn::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

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
    ($c:expr, $net:ident, $name:literal) => {{
        // Criterion says "elem/s": the group's name says what an element is here.
        let mut group = $c.benchmark_group(concat!($name, " (1 elem = 1 FLOP)"));
        group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
        let mut net = $net::new(0);
        let xs: Vec<[f32; $net::INPUT_LEN]> = (0..64).map(|i| input($net::INPUT_LEN, i).try_into().unwrap()).collect();
        let labels: Vec<usize> = (0..64).map(|i| i % 10).collect();
        let mut ys = vec![[0.0f32; $net::OUTPUT_LEN]; 64];
        let mut ws = Workspace::new();

        group.throughput(Throughput::Elements($net::FORWARD_FLOPS));
        group.bench_function(BenchmarkId::new("infer", 1), |b| b.iter(|| black_box(net.forward(black_box(&xs[0])))));
        group.throughput(Throughput::Elements(64 * $net::FORWARD_FLOPS));
        group.bench_function(BenchmarkId::new("infer", 64), |b| {
            b.iter(|| net.forward_batch_into(black_box(&xs), &mut ys, &mut ws))
        });
        group.throughput(Throughput::Elements(3 * 64 * $net::FORWARD_FLOPS));
        let mut opt = Sgd::new(0.01).momentum(0.9);
        group.bench_function(BenchmarkId::new("train", 64), |b| {
            b.iter(|| black_box(net.train_step(black_box(&xs), &labels, &mut opt)))
        });
        group.finish();
    }};
}

fn nets(c: &mut Criterion) {
    bench_net!(c, LeNet, "lenet");
    bench_net!(c, SeedNet, "seednet");
    bench_net!(c, Vgg, "vgg");
}

criterion_group!(benches, nets);
criterion_main!(benches);

//! Checkpoints: training resumed from one gives the weights, buffers and counters of a run that
//! never stopped, bit for bit, for SGD with momentum, Adam and AdamW; loading is strict and
//! changes nothing on error.

mod common;

use cnn::prelude::*;

cnn! {
    /// Every kind of state: parameters, running statistics, a counter, dropout's masks.
    struct Resumable {
        input(1, 8, 8)
        conv(1, 4, k=3, p=1) batchnorm(4) relu pool(2)
        flatten
        dropout(0.3)
        linear(64, 5)
    }
}

fn batch(step: u32) -> (Vec<[f32; 64]>, Vec<usize>) {
    let x = common::values(6 * 64, 100 + step);
    let xs = x.chunks_exact(64).map(|c| c.try_into().unwrap()).collect();
    let mut next = common::lcg(step);
    (xs, (0..6).map(|_| next() as usize % 5).collect())
}

fn bits(net: &Resumable) -> (Vec<u32>, Vec<u32>, Option<i64>, u64) {
    let b: Vec<u32> = net.buffers().flat_map(|t| t.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect();
    (net.flat_params().iter().map(|v| v.to_bits()).collect(), b, net.counter("1.num_batches_tracked"), net.step_count())
}

fn resume_matches<O: Optimizer>(make: impl Fn() -> O) {
    const STEPS: u32 = 6;
    let mut straight = Resumable::new(7);
    let mut opt = make();
    for step in 0..STEPS {
        let (xs, labels) = batch(step);
        straight.train_step(&xs, &labels, &mut opt);
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let mut first = Resumable::new(7);
    let mut opt = make();
    for step in 0..3 {
        let (xs, labels) = batch(step);
        first.train_step(&xs, &labels, &mut opt);
    }
    first.save_checkpoint(&path, &opt).unwrap();
    // Another seed and a fresh optimizer: the checkpoint brings back both.
    let mut resumed = Resumable::new(99);
    let mut opt = make();
    resumed.load_checkpoint(&path, &mut opt).unwrap();
    assert_eq!(bits(&resumed), bits(&first));
    for step in 3..STEPS {
        let (xs, labels) = batch(step);
        resumed.train_step(&xs, &labels, &mut opt);
    }
    assert_eq!(bits(&resumed), bits(&straight));
}

#[test]
fn resuming_sgd_with_momentum_is_bit_identical() {
    resume_matches(|| Sgd::new(0.05).momentum(0.9).weight_decay(1e-3));
}

#[test]
fn resuming_adam_is_bit_identical() {
    resume_matches(|| Adam::new(1e-2));
}

#[test]
fn resuming_adamw_is_bit_identical() {
    resume_matches(|| AdamW::new(1e-2));
}

/// Without the optimizer's state the resumed run differs: the test above can fail.
#[test]
fn a_fresh_optimizer_does_not_resume_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let mut net = Resumable::new(7);
    let mut opt = Adam::new(1e-2);
    let (xs, labels) = batch(0);
    net.train_step(&xs, &labels, &mut opt);
    net.save_checkpoint(&path, &opt).unwrap();
    let (mut a, mut b) = (Resumable::new(1), Resumable::new(1));
    let (mut with, mut without) = (Adam::new(1e-2), Adam::new(1e-2));
    a.load_checkpoint(&path, &mut with).unwrap();
    b.load_checkpoint(&path, &mut Adam::new(1e-2)).unwrap();
    let (xs, labels) = batch(1);
    a.train_step(&xs, &labels, &mut with);
    b.train_step(&xs, &labels, &mut without);
    assert_ne!(bits(&a).0, bits(&b).0);
}

#[test]
fn loading_is_strict_and_changes_nothing_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adam.safetensors");
    let mut net = Resumable::new(7);
    let mut adam = Adam::new(1e-2);
    let (xs, labels) = batch(0);
    net.train_step(&xs, &labels, &mut adam);
    net.save_checkpoint(&path, &adam).unwrap();

    let mut other = Resumable::new(3);
    let before = bits(&other);
    // An Adam checkpoint does not load into SGD: its moments are unknown tensors there.
    let mut sgd = Sgd::new(0.1).momentum(0.9);
    let e = other.load_checkpoint(&path, &mut sgd).unwrap_err();
    assert!(
        e.to_string().ends_with("unexpected tensors: optimizer.exp_avg, optimizer.exp_avg_sq, optimizer.step"),
        "{e}"
    );
    assert_eq!(bits(&other), before);
    // Plain weights lack the progress.
    let weights = dir.path().join("weights.safetensors");
    net.save_safetensors(&weights).unwrap();
    let e = other.load_checkpoint(&weights, &mut Adam::new(1e-2)).unwrap_err();
    assert!(e.to_string().ends_with("missing tensors: cnn.step_count"), "{e}");
    assert_eq!(bits(&other), before);
    // A truncated file.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 9]).unwrap();
    assert!(other.load_checkpoint(&weights, &mut Adam::new(1e-2)).is_err());
    assert_eq!(bits(&other), before);
    // Into a network of another shape, nothing changes either.
    let mut lenet = cnn::nets::LeNet::new(0);
    let lenet_before = lenet.flat_params().to_vec();
    assert!(lenet.load_checkpoint(&path, &mut Adam::new(1e-2)).is_err());
    assert_eq!(lenet.flat_params().to_vec(), lenet_before);
}

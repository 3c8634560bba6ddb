//! Training-step properties: gradients independent of the thread count, clear errors for bad
//! labels, a non-finite loss reported with the weights untouched,
//! and the low-level path agreeing with `train_step`.

mod common;

use cnn::nets::LeNet;
use cnn::prelude::*;
use std::borrow::Borrow;

fn batch(n: usize, seed: u32) -> (Vec<[f32; 784]>, Vec<usize>) {
    let mut next = common::lcg(seed);
    let xs = (0..n).map(|_| std::array::from_fn(|_| (next() % 1000) as f32 / 1000.0)).collect();
    let labels = (0..n).map(|_| next() as usize % 10).collect();
    (xs, labels)
}

#[test]
fn gradients_are_bit_identical_for_any_thread_count() {
    let (xs, _) = batch(37, 1);
    let c: Vec<[f32; 10]> = batch(37, 2).0.iter().map(|x| std::array::from_fn(|i| x[i] - 0.5)).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut net = LeNet::new(3);
            net.forward_train(&xs);
            let mut grads = cnn::nets::LeNetGrads::new();
            net.backward(&c, &mut grads);
            let mut opt = Sgd::new(0.05).momentum(0.9);
            let (xs2, labels) = batch(64, 5);
            for _ in 0..3 {
                net.train_step(&xs2, &labels, &mut opt);
            }
            (grads.flat().to_vec(), net.flat_params().to_vec())
        })
    };
    let one = run(1);
    for threads in [2, 3, 8] {
        let other = run(threads);
        assert!(
            one.0.iter().zip(&other.0).all(|(a, b)| a.to_bits() == b.to_bits()),
            "gradients differ with {threads} threads"
        );
        assert!(
            one.1.iter().zip(&other.1).all(|(a, b)| a.to_bits() == b.to_bits()),
            "weights differ with {threads} threads"
        );
    }
}

cnn! {
    /// Batch statistics, a residual sum, dropout masks: the parts of a step that depend on the
    /// whole batch or on each sample's index.
    struct Blocks {
        input(1, 28, 28)
        conv(1, 8, k=3, s=2, p=1, bias=false) batchnorm(8) relu
        residual { conv(8, 8, k=3, p=1, g=2) batchnorm(8) silu conv(8, 8, k=1) } dropout2d(0.2)
        maxpool(2) flatten dropout(0.3)
        linear(_, 16) batchnorm(16) relu
        linear(16, 10)
    }
}

#[test]
fn batch_norm_residual_and_dropout_are_bit_identical_for_any_thread_count() {
    let (xs, labels) = batch(37, 7);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut net = Blocks::new(3);
            let mut opt = Adam::new(1e-2);
            let losses: Vec<f32> = (0..3).map(|_| net.train_step(&xs, &labels, &mut opt)).collect();
            let running: Vec<f32> = net.buffers().flat_map(|b| b.data.to_vec()).collect();
            (losses, net.flat_params().to_vec(), running, net.forward_batch(&xs))
        })
    };
    let one = run(1);
    for threads in [2, 3, 8] {
        let other = run(threads);
        assert_eq!(one.0, other.0, "losses differ with {threads} threads");
        assert!(
            one.1.iter().zip(&other.1).all(|(a, b)| a.to_bits() == b.to_bits()),
            "weights differ with {threads} threads"
        );
        assert!(
            one.2.iter().zip(&other.2).all(|(a, b)| a.to_bits() == b.to_bits()),
            "running statistics differ with {threads} threads"
        );
        assert_eq!(one.3, other.3, "eval outputs differ with {threads} threads");
    }
}

#[test]
fn batch_norm_over_features_needs_two_samples() {
    let mut net = Blocks::new(0);
    let (xs, labels) = batch(1, 1);
    let e = net.try_train_step(&xs, &labels, &mut Sgd::new(0.1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "a batch of 1 samples is too small to train on: batch norm over a flat input needs at least 2 (more than one value per channel)"
    );
    assert_eq!(Blocks::MIN_TRAIN_BATCH, 2);
    let (xs, labels) = batch(2, 1);
    assert!(net.try_train_step(&xs, &labels, &mut Sgd::new(0.1)).is_ok());
}

#[test]
fn bad_labels_are_errors_that_name_the_numbers() {
    let mut net = LeNet::new(0);
    let before = net.flat_params().to_vec();
    let mut opt = Sgd::new(0.1);
    let (xs, mut labels) = batch(4, 9);
    let e = net.try_train_step(&xs, &labels[..3], &mut opt).unwrap_err();
    assert_eq!(e.to_string(), "3 labels for a batch of 4 samples");
    labels[2] = 10;
    let e = net.try_train_step(&xs, &labels, &mut opt).unwrap_err();
    assert_eq!(e, TrainError::LabelOutOfRange { index: 2, label: 10, classes: 10 });
    assert_eq!(net.flat_params().to_vec(), before, "a failed step changes nothing");
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| net.train_step(&xs, &labels, &mut opt))).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert_eq!(msg, "train_step: label 10 at position 2 is out of range for 10 classes (0..=9)");
    let e = net.try_train_step(&[], &[], &mut opt).unwrap_err();
    assert_eq!(e.to_string(), "the batch is empty: there is nothing to train on");
    assert_eq!(net.flat_params().to_vec(), before);
}

#[test]
fn a_non_finite_loss_is_reported_and_changes_nothing() {
    let mut net = LeNet::new(0);
    let (mut xs, labels) = batch(4, 11);
    xs[1][5] = f32::NAN;
    let before = net.flat_params().to_vec();
    let mut opt = Sgd::new(0.1);
    let e = net.try_train_step(&xs, &labels, &mut opt).unwrap_err();
    assert!(matches!(e, TrainError::NonFiniteLoss { loss } if loss.is_nan()), "{e}");
    assert!(net.train_step(&xs, &labels, &mut opt).is_nan());
    assert!(net.flat_params().iter().zip(&before).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn low_level_path_equals_train_step() {
    let (xs, labels) = batch(16, 13);
    let mut a = LeNet::new(4);
    let mut b = a.clone();
    let mut opt_a = Sgd::new(0.1).momentum(0.9);
    let mut opt_b = opt_a.clone();
    let loss_a = a.train_step(&xs, &labels, &mut opt_a);

    let logits = b.forward_train(&xs).to_vec();
    let mut grad = vec![[0.0f32; 10]; xs.len()];
    let loss_b = cnn::loss::softmax_cross_entropy(logits.as_flattened(), 10, &labels, grad.as_flattened_mut()).unwrap();
    let mut grads = cnn::nets::LeNetGrads::new();
    b.backward(&grad, &mut grads);
    b.apply_gradients(&mut opt_b, &grads);
    assert_eq!(loss_a, loss_b);
    assert_eq!(a.flat_params(), b.flat_params());
    assert_eq!(grads.param("11.bias").unwrap().shape, &[10]);
}

#[test]
fn training_lowers_the_loss() {
    let mut net = LeNet::new(1);
    let (xs, labels) = batch(32, 17);
    let mut opt = Adam::new(3e-3);
    let first = net.train_step(&xs, &labels, &mut opt);
    let mut last = first;
    for _ in 0..60 {
        last = net.train_step(&xs, &labels, &mut opt);
    }
    assert!(last < 0.5 * first, "loss {first} -> {last}");
}

cnn! {
    /// Running statistics, a counter and dropout: the state a failed step must not touch.
    struct Stateful {
        input(1, 6, 6)
        conv(1, 3, k=3, p=1) batchnorm(3) relu
        flatten dropout(0.25) linear(108, 4)
    }
}

/// Everything a step can change, as bits.
fn stateful_bits(net: &Stateful) -> (Vec<u32>, Vec<u32>, Option<i64>, u64) {
    let b = net.buffers().flat_map(|t| t.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect();
    let p = net.flat_params().iter().map(|v| v.to_bits()).collect();
    (p, b, net.counter("1.num_batches_tracked"), net.step_count())
}

#[test]
fn a_failed_step_changes_no_statistics_counter_or_step_count() {
    let mut net = Stateful::new(3);
    let mut opt = Adam::new(1e-2);
    let xs: Vec<[f32; 36]> = (0..4).map(|s| std::array::from_fn(|i| ((s * 36 + i) % 7) as f32 / 7.0)).collect();
    net.train_step(&xs, &[0, 1, 2, 3], &mut opt);
    let before = stateful_bits(&net);
    assert_eq!((before.2, before.3), (Some(1), 1));

    // A NaN sample: the loss is NaN, and neither the running statistics nor the counters move.
    let mut bad = xs.clone();
    bad[2][7] = f32::NAN;
    let e = net.try_train_step(&bad, &[0, 1, 2, 3], &mut opt).unwrap_err();
    assert!(matches!(e, TrainError::NonFiniteLoss { .. }), "{e}");
    assert_eq!(stateful_bits(&net), before);
    assert!(net.forward(&xs[0]).iter().all(|v| v.is_finite()), "eval forward after the failed step");

    // An out-of-range label is refused before the forward pass.
    let e = net.try_train_step(&xs, &[0, 1, 4, 3], &mut opt).unwrap_err();
    assert_eq!(e, TrainError::LabelOutOfRange { index: 2, label: 4, classes: 4 });
    assert_eq!(stateful_bits(&net), before);

    // And the next good step is the one a run without the failures takes.
    let mut clean = Stateful::new(3);
    let mut clean_opt = Adam::new(1e-2);
    clean.train_step(&xs, &[0, 1, 2, 3], &mut clean_opt);
    clean.train_step(&xs, &[3, 2, 1, 0], &mut clean_opt);
    net.train_step(&xs, &[3, 2, 1, 0], &mut opt);
    assert_eq!(stateful_bits(&net), stateful_bits(&clean));
}

/// An optimizer that stepped another network (another parameter count) is refused before the
/// forward pass: an error, not a panic halfway through, and the network, its statistics, its
/// counter and its step count do not move; the optimizer's state stays the other network's.
#[test]
fn an_optimizer_of_another_network_is_an_error_that_changes_nothing() {
    let (xs, labels) = batch(4, 5);
    let mut lenet = LeNet::new(0);
    let mut opt = Adam::new(1e-2);
    lenet.train_step(&xs, &labels, &mut opt);
    assert_eq!(opt.state_len(), Some(LeNet::PARAM_COUNT));

    let mut net = Stateful::new(3);
    let small: Vec<[f32; 36]> = (0..4).map(|s| std::array::from_fn(|i| ((s * 36 + i) % 7) as f32 / 7.0)).collect();
    let before = stateful_bits(&net);
    let e = net.try_train_step(&small, &[0, 1, 2, 3], &mut opt).unwrap_err();
    assert_eq!(e, TrainError::OptimizerState { state: LeNet::PARAM_COUNT, params: Stateful::PARAM_COUNT });
    assert_eq!(
        e.to_string(),
        format!(
            "the optimizer was used with {} parameters before and this network has {}; use one optimizer per network",
            LeNet::PARAM_COUNT,
            Stateful::PARAM_COUNT
        )
    );
    assert_eq!(stateful_bits(&net), before);
    assert_eq!(opt.state_len(), Some(LeNet::PARAM_COUNT));
    // SGD without momentum keeps no state and fits any network.
    let mut sgd = Sgd::new(0.1);
    lenet.train_step(&xs, &labels, &mut sgd);
    assert!(net.try_train_step(&small, &[0, 1, 2, 3], &mut sgd).is_ok());
}

#[test]
fn counters_at_their_end_saturate_instead_of_panicking() {
    let mut net = Stateful::new(3);
    net.set_step_count(u64::MAX);
    let xs: Vec<[f32; 36]> = (0..2).map(|s| std::array::from_fn(|i| (s + i) as f32 / 40.0)).collect();
    let loss = net.train_step(&xs, &[1, 2], &mut Sgd::new(0.1));
    assert!(loss.is_finite());
    assert_eq!(net.step_count(), u64::MAX);
    net.forward_train(&xs);
    assert_eq!(net.step_count(), u64::MAX);
}

/// An empty batch through the step-by-step API, as PyTorch runs one: zero gradients,
/// `num_batches_tracked` counts it, the running statistics stay.
#[test]
fn an_empty_batch_gives_zero_gradients() {
    let mut net = Stateful::new(5);
    let xs: Vec<[f32; 36]> = (0..3).map(|s| std::array::from_fn(|i| (s * i % 5) as f32)).collect();
    net.forward_train(&xs);
    let buffers: Vec<Vec<f32>> = net.buffers().map(|t| t.data.to_vec()).collect();
    assert!(net.forward_train(&[]).is_empty());
    assert_eq!(net.counter("1.num_batches_tracked"), Some(2));
    assert_eq!(net.buffers().map(|t| t.data.to_vec()).collect::<Vec<_>>(), buffers);
    let mut grads = StatefulGrads::new();
    grads.flat_mut().fill(1.0);
    net.backward(&[], &mut grads);
    assert!(grads.flat().iter().all(|&g| g == 0.0));
    // `train_step` still refuses an empty batch.
    assert_eq!(net.try_train_step(&[], &[], &mut Sgd::new(0.1)), Err(TrainError::EmptyBatch));
}

cnn! {
    /// 3x3 convolutions on maps large enough for every kind of kernel (Winograd in eval mode,
    /// the direct kernels in training), then small maps.
    pub struct Mixed {
        input(3, 32, 32)
        conv(3, 16, k=3, p=1) relu
        conv(16, 32, k=3, p=1) relu maxpool(2)
        conv(32, 32, k=3, p=1) relu maxpool(4)
        conv(32, 32, k=3, p=1) relu
        global_avgpool flatten linear(32, 10)
    }
}

/// Eval passes (batched and one sample) between training steps change nothing in training,
/// and a training pass before an eval pass changes nothing in its outputs: each kind of kernel
/// packs its own copy of a layer's weights (a Winograd packing once fed a training step).
fn kernels_keep_their_own_packings<N: Network>(xs: &[N::Input], labels: &[usize]) {
    let steps = |eval: bool| {
        let mut net = N::new(5);
        let mut opt = Adam::new(2e-3);
        let mut losses = Vec::new();
        for _ in 0..3 {
            losses.push(net.train_step(xs, labels, &mut opt));
            if eval {
                net.forward_batch(xs);
                net.forward(&xs[0]);
            }
        }
        (losses, net.flat_params().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
    };
    assert_eq!(steps(false), steps(true), "{}", std::any::type_name::<N>());
    let mut net = N::new(6);
    net.forward_train(xs);
    let fresh = net.clone();
    assert_eq!(net.forward_batch(xs), fresh.forward_batch(xs));
    assert_eq!(net.forward(&xs[1]).borrow(), fresh.forward(&xs[1]).borrow());
}

#[test]
fn eval_and_training_passes_never_read_each_others_packed_weights() {
    let digits = cnn::data::digits();
    kernels_keep_their_own_packings::<cnn::nets::DigitsNet>(&digits.images[..32], &digits.labels[..32]);
    let mut next = common::lcg(9);
    let xs: Vec<[f32; 3072]> = (0..16).map(|_| std::array::from_fn(|_| (next() % 1000) as f32 / 1000.0)).collect();
    let labels: Vec<usize> = (0..16).map(|i| i % 10).collect();
    kernels_keep_their_own_packings::<Mixed>(&xs, &labels);
}

//! `cnn::fit::Trainer` against the loop it stands for, written by hand: the same weights bit for
//! bit; a run resumed from its directory ends where an unbroken one does; early stopping stops
//! and restores the best epoch's weights; the validation numbers match an independent
//! computation; and one generic function trains two different networks through
//! `cnn::Network`.

use cnn::data::{digits, Dataset, Loader};
use cnn::fit::{evaluate, EarlyStopping, FitError, Monitor, Trainer};
use cnn::loss::CrossEntropy;
use cnn::lr::{CosineAnnealingLr, Schedule};
use cnn::nets::DigitsNet;
use cnn::prelude::*;

cnn! {
    /// A second, different classifier of the 8x8 digits: a multilayer perceptron with dropout.
    pub struct DigitsMlp {
        input(1, 8, 8)
        flatten
        linear(64, 32) relu dropout(0.1)
        linear(32, 10)
    }
}

/// A small split of the digits: 160 samples to train on (5 batches of 32), 64 to validate.
fn data() -> (Dataset<64>, Dataset<64>) {
    let all = digits();
    let (train, rest) = all.split_at(160);
    (train, rest.split_at(64).0)
}

fn bits(net: &impl Network) -> Vec<u32> {
    net.flat_params().iter().chain(net.buffers().flat_map(|b| b.data.iter())).map(|v| v.to_bits()).collect()
}

/// `epochs` epochs written out by hand, as the digits example did before `Trainer`.
fn hand_loop<N: Network<Input = [f32; 64]>>(net: &mut N, train: &Dataset<64>, epochs: usize) -> Vec<f32> {
    let mut opt = Adam::new(2e-3);
    let mut loader = Loader::new(train, 32, 3);
    let schedule = CosineAnnealingLr::new(2e-3, epochs * loader.batches(), 0.0);
    let mut losses = Vec::new();
    for _ in 0..epochs {
        loader.shuffle();
        while let Some((xs, labels)) = loader.next_batch() {
            opt.set_lr(schedule.lr_at(losses.len()));
            losses.push(net.train_step(xs, labels, &mut opt));
        }
    }
    losses
}

/// The same run through `Trainer`; generic over the network, as any training code can be.
fn with_trainer<N: Network<Input = [f32; 64]>>(
    net: &mut N,
    train: &Dataset<64>,
    valid: &Dataset<64>,
    epochs: usize,
) -> cnn::fit::History {
    let mut opt = Adam::new(2e-3);
    let mut loader = Loader::new(train, 32, 3);
    let schedule = CosineAnnealingLr::new(2e-3, epochs * loader.batches(), 0.0);
    Trainer::new(epochs)
        .schedule(schedule)
        .validation(valid)
        .quiet()
        .fit(net, &mut opt, &mut loader)
        .expect("training runs")
}

#[test]
fn one_generic_function_trains_two_networks_as_the_hand_loop_does() {
    let (train, valid) = data();
    fn check<N: Network<Input = [f32; 64]>>(train: &Dataset<64>, valid: &Dataset<64>) {
        let (mut a, mut b) = (N::new(5), N::new(5));
        let losses = hand_loop(&mut a, train, 3);
        let history = with_trainer(&mut b, train, valid, 3);
        assert_eq!(history.step_losses, losses);
        assert_eq!(bits(&a), bits(&b), "{}: the trainer's weights are the hand loop's", std::any::type_name::<N>());
        assert_eq!(history.step_losses, losses);
        assert_eq!(history.epochs.len(), 3);
        assert_eq!(history.epochs[2].step, a.step_count());
        assert_eq!(history.epochs[0].samples, 160);
        // The epoch's loss is the mean of its steps', weighted by batch size (all 32 here).
        let mean: f64 = losses[..5].iter().map(|&l| f64::from(l)).sum::<f64>() / 5.0;
        assert!((history.epochs[0].train_loss - mean).abs() < 1e-12);
        let last = history.epochs[2].val_accuracy.expect("validated");
        let want = cnn::metrics::accuracy(&a.forward_batch(&valid.images), &valid.labels);
        assert_eq!(last, want);
        assert!(history.epochs[2].train_loss < history.epochs[0].train_loss, "{history:?}");
    }
    check::<DigitsNet>(&train, &valid);
    check::<DigitsMlp>(&train, &valid);
}

#[test]
fn validation_numbers_match_an_independent_computation() {
    let (train, valid) = data();
    let mut net = DigitsNet::new(1);
    with_trainer(&mut net, &train, &valid, 1);
    let got = evaluate(&net, &valid, &CrossEntropy::new()).unwrap();
    // Cross-entropy by hand in f64: log-sum-exp minus the label's logit, averaged.
    let logits = net.forward_batch(&valid.images);
    let mut loss = 0.0f64;
    let mut right = 0;
    for (row, &label) in logits.iter().zip(&valid.labels) {
        let max = row.iter().fold(f64::MIN, |m, &v| m.max(f64::from(v)));
        let lse = max + row.iter().map(|&v| (f64::from(v) - max).exp()).sum::<f64>().ln();
        loss += lse - f64::from(row[label]);
        let top = (0..10).fold(0, |b, i| if row[i] > row[b] { i } else { b });
        right += usize::from(top == label);
    }
    loss /= valid.len() as f64;
    assert!((got.loss - loss).abs() < 1e-5 * loss, "{} vs {loss}", got.loss);
    assert_eq!(got.accuracy, right as f64 / valid.len() as f64);
    // A label out of range is the validation's error, not a panic.
    let bad = Dataset { images: valid.images.clone(), labels: vec![10; valid.len()] };
    assert!(matches!(evaluate(&net, &bad, &CrossEntropy::new()), Err(TrainError::LabelOutOfRange { .. })));
}

#[test]
fn a_resumed_run_ends_where_an_unbroken_one_does() {
    let (train, valid) = data();
    let dirs = tempfile::tempdir().unwrap();
    let run = |dir: &std::path::Path, epochs: usize, total: usize| {
        let mut net = DigitsMlp::new(2);
        let mut opt = Adam::new(1e-3);
        let mut loader = Loader::new(&train, 32, 9);
        let history = Trainer::new(epochs)
            .schedule(CosineAnnealingLr::new(1e-3, total * loader.batches(), 0.0))
            .validation(&valid)
            .run_dir(dir)
            .quiet()
            .fit(&mut net, &mut opt, &mut loader)
            .unwrap();
        (net, history)
    };
    let (whole, whole_dir, cut_dir) = (4, dirs.path().join("whole"), dirs.path().join("cut"));
    let (unbroken, full) = run(&whole_dir, whole, whole);
    let (_, first) = run(&cut_dir, 2, whole);
    assert_eq!(first.epochs.len(), 2);
    assert!(cut_dir.join("last.safetensors").exists() && cut_dir.join("history.csv").exists());
    // A new process: fresh network, optimizer and loader, the same directory.
    let (resumed, rest) = run(&cut_dir, whole, whole);
    assert_eq!(rest.resumed_after, Some(2));
    assert_eq!(bits(&resumed), bits(&unbroken), "resumed weights are the unbroken run's");
    assert_eq!(resumed.step_count(), unbroken.step_count());
    assert_eq!(rest.step_losses, full.step_losses);
    let strip = |h: &cnn::fit::History| {
        h.epochs.iter().map(|e| (e.epoch, e.train_loss, e.val_loss, e.val_accuracy, e.lr, e.step)).collect::<Vec<_>>()
    };
    assert_eq!(strip(&rest), strip(&full));
    // The history read back holds exactly what was written (floats round-trip).
    let (_, again) = run(&cut_dir, whole, whole);
    assert_eq!(strip(&again), strip(&full));

    // A directory of another loader (another batch size) is refused and changes nothing.
    let mut net = DigitsMlp::new(2);
    let before = bits(&net);
    let mut loader = Loader::new(&train, 16, 9);
    let err = Trainer::new(5).run_dir(&cut_dir).quiet().fit(&mut net, &mut Adam::new(1e-3), &mut loader).unwrap_err();
    assert!(matches!(err, FitError::Resume { .. }), "{err}");
    assert!(err.to_string().contains("20 steps, but 4 epochs of this loader's 10 batches are 40"), "{err}");
    assert_eq!(bits(&net), before);

    // So is a checkpoint of another network, with the checkpoint's own error.
    let mut other = DigitsNet::new(0);
    let mut loader = Loader::new(&train, 32, 9);
    let err = Trainer::new(5).run_dir(&cut_dir).quiet().fit(&mut other, &mut Adam::new(1e-3), &mut loader);
    assert!(matches!(err, Err(FitError::Weights(_))), "{err:?}");
}

#[test]
fn early_stopping_stops_and_restores_the_best_epoch() {
    let (train, valid) = data();
    // No later epoch improves on the first by a million: the run stops after `patience` more
    // epochs and goes back to the first epoch's weights.
    let stopping = EarlyStopping::new(Monitor::ValLoss).patience(2).min_delta(1e6);
    let fit = |epochs: usize, stopping: Option<EarlyStopping>, dir: Option<&std::path::Path>| {
        let mut net = DigitsNet::new(4);
        let mut opt = Adam::new(2e-3);
        let mut loader = Loader::new(&train, 32, 1);
        let mut t = Trainer::new(epochs).validation(&valid).quiet();
        if let Some(s) = stopping {
            t = t.early_stopping(s);
        }
        if let Some(d) = dir {
            t = t.run_dir(d);
        }
        let h = t.fit(&mut net, &mut opt, &mut loader).unwrap();
        (net, h)
    };
    let (one, _) = fit(1, None, None);
    let (three, _) = fit(3, None, None);
    let (stopped, history) = fit(10, Some(stopping), None);
    assert_eq!(history.epochs.len(), 3, "epoch 1 best, then 2 without improvement");
    assert!(history.stopped_early);
    assert_eq!(history.best_epoch, Some(1));
    assert_eq!(bits(&stopped), bits(&one), "the first epoch's weights are back");
    assert_eq!(stopped.step_count(), three.step_count(), "the step count stays the run's");
    // Kept in a run directory instead of memory: the same.
    let dir = tempfile::tempdir().unwrap();
    let (stopped, history) = fit(10, Some(stopping), Some(dir.path()));
    assert_eq!((history.epochs.len(), history.best_epoch), (3, Some(1)));
    assert_eq!(bits(&stopped), bits(&one));
    assert!(dir.path().join("best.safetensors").exists());
    // Without restoring, the last epoch's weights stay; a real improvement resets the count.
    let (last, _) = fit(10, Some(stopping.restore_best(false)), None);
    assert_eq!(bits(&last), bits(&three));
    let (_, improving) = fit(3, Some(EarlyStopping::new(Monitor::TrainLoss).patience(1)), None);
    assert_eq!((improving.epochs.len(), improving.stopped_early, improving.best_epoch), (3, false, Some(3)));
}

#[test]
fn a_failed_step_names_its_epoch_and_step() {
    let (mut train, _) = data();
    train.labels[100] = 12;
    let mut net = DigitsNet::new(0);
    let mut loader = Loader::new(&train, 32, 0);
    let err = Trainer::new(2).quiet().fit(&mut net, &mut Adam::new(1e-3), &mut loader).unwrap_err();
    let FitError::Train { epoch, step, error } = &err else { panic!("{err:?}") };
    assert_eq!(*epoch, 1);
    assert!((1..=5).contains(step));
    assert!(matches!(error, TrainError::LabelOutOfRange { .. }), "{error}");
    assert!(err.to_string().starts_with(&format!("epoch 1, step {step}: ")), "{err}");
}

#[test]
fn on_epoch_sees_the_network_after_each_epoch() {
    let (train, valid) = data();
    let mut seen = Vec::new();
    let mut net = DigitsNet::new(0);
    let mut loader = Loader::new(&train, 32, 0);
    Trainer::new(2)
        .validation(&valid)
        .quiet()
        .on_epoch(|net: &DigitsNet, e| {
            let accuracy = cnn::metrics::accuracy(&net.forward_batch(&valid.images), &valid.labels);
            seen.push((e.epoch, net.step_count(), e.val_accuracy == Some(accuracy)));
        })
        .fit(&mut net, &mut Adam::new(1e-3), &mut loader)
        .unwrap();
    assert_eq!(seen, [(1, 5, true), (2, 10, true)]);
}

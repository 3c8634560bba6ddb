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

/// The tensors of a checkpoint file, to craft bad ones from a good one.
fn read_tensors(path: &std::path::Path) -> Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> =
        file.tensors().into_iter().map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write_tensors(path: &std::path::Path, tensors: &[(String, safetensors::Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::tensor::serialize_to_file(views, None, path).unwrap();
}

/// A checkpoint of `Resumable` after a step of Adam, its tensors, and the bits of a network
/// and an optimizer that a failed load must leave as they are.
fn adam_checkpoint(dir: &std::path::Path) -> Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> {
    let path = dir.join("good.safetensors");
    let mut net = Resumable::new(7);
    let mut adam = Adam::new(1e-2);
    let (xs, labels) = batch(0);
    net.train_step(&xs, &labels, &mut adam);
    net.save_checkpoint(&path, &adam).unwrap();
    read_tensors(&path)
}

/// Loads `tensors` into a stepped network and Adam: the error, with both left as they were.
fn load_error(dir: &std::path::Path, tensors: &[(String, safetensors::Dtype, Vec<usize>, Vec<u8>)]) -> String {
    let path = dir.join("crafted.safetensors");
    write_tensors(&path, tensors);
    let mut net = Resumable::new(3);
    let mut adam = Adam::new(1e-2);
    let (xs, labels) = batch(4);
    net.train_step(&xs, &labels, &mut adam);
    let saved = dir.join("before.safetensors");
    net.save_checkpoint(&saved, &adam).unwrap();
    let before = (bits(&net), read_tensors(&saved));
    let e = net.load_checkpoint(&path, &mut adam).unwrap_err().to_string();
    net.save_checkpoint(&saved, &adam).unwrap();
    assert_eq!((bits(&net), read_tensors(&saved)), before, "a failed load changed something: {e}");
    e
}

#[test]
fn optimizer_state_must_match_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let good = adam_checkpoint(dir.path());
    let without = |names: &[&str]| -> Vec<_> { good.iter().filter(|t| !names.contains(&&*t.0)).cloned().collect() };
    // An SGD checkpoint (no optimizer state at all) into a stepped Adam.
    let e = load_error(dir.path(), &without(&["optimizer.exp_avg", "optimizer.exp_avg_sq", "optimizer.step"]));
    assert!(e.ends_with("missing tensors: optimizer.step"), "{e}");
    // One moment missing.
    let e = load_error(dir.path(), &without(&["optimizer.exp_avg_sq"]));
    assert!(e.ends_with("missing tensors: optimizer.exp_avg_sq"), "{e}");
    // The moments gone, the step count kept.
    let e = load_error(dir.path(), &without(&["optimizer.exp_avg", "optimizer.exp_avg_sq"]));
    assert!(
        e.ends_with("optimizer.step is 1 but the moments (optimizer.exp_avg, optimizer.exp_avg_sq) are missing"),
        "{e}"
    );
    // A fresh optimizer's checkpoint (no moments, step 0) still loads.
    let path = dir.path().join("fresh.safetensors");
    Resumable::new(1).save_checkpoint(&path, &Adam::new(1e-2)).unwrap();
    Resumable::new(2).load_checkpoint(&path, &mut Adam::new(1e-2)).unwrap();
}

#[test]
fn counters_that_cannot_go_on_are_load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = adam_checkpoint(dir.path());
    let with = |name: &str, v: i64| -> Vec<_> {
        good.iter()
            .cloned()
            .map(|mut t| {
                if t.0 == name {
                    t.3 = v.to_le_bytes().to_vec();
                }
                t
            })
            .collect()
    };
    for (name, v) in [
        ("optimizer.step", i64::MAX),
        ("optimizer.step", -3),
        ("cnn.step_count", -1),
        ("cnn.step_count", i64::MAX),
        ("1.num_batches_tracked", i64::MAX),
        ("1.num_batches_tracked", -1),
    ] {
        let e = load_error(dir.path(), &with(name, v));
        assert!(
            e.ends_with(&format!(
                "counter `{name}` is {v}, but it must be in 0..i64::MAX (a count of steps that can go on)"
            )),
            "{e}"
        );
    }
    // The largest count that can go on loads and steps.
    let path = dir.path().join("late.safetensors");
    write_tensors(&path, &with("optimizer.step", i64::MAX - 1));
    let (mut net, mut adam) = (Resumable::new(1), Adam::new(1e-2));
    net.load_checkpoint(&path, &mut adam).unwrap();
    let (xs, labels) = batch(1);
    assert!(net.train_step(&xs, &labels, &mut adam).is_finite());
}

#[test]
fn a_save_that_could_not_be_loaded_is_refused_and_keeps_the_old_file() {
    cnn! {
        struct Other { input(1, 2, 2) flatten linear(4, 3) }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let mut net = Resumable::new(7);
    let mut adam = Adam::new(1e-2);
    let (xs, labels) = batch(0);
    net.train_step(&xs, &labels, &mut adam);
    net.save_checkpoint(&path, &adam).unwrap();
    let good = std::fs::read(&path).unwrap();
    // An optimizer that stepped on another network.
    let mut other = Other::new(1);
    let mut foreign = Adam::new(1e-2);
    other.train_step(&[[0.5; 4], [0.1; 4]], &[0, 2], &mut foreign);
    let e = net.save_checkpoint(&path, &foreign).unwrap_err();
    assert!(e.to_string().ends_with("the optimizer's state does not fit: optimizer.exp_avg holds 15 values but the network has 373 parameters (did the optimizer step on another network?)"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), good);
    // A step count a checkpoint cannot continue from.
    net.set_step_count(u64::MAX);
    let e = net.save_checkpoint(&path, &adam).unwrap_err();
    assert!(e.to_string().contains("counter `cnn.step_count` is 9223372036854775807"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), good);
}

#[cfg(unix)]
#[test]
fn saving_through_a_loop_of_links_fails_and_keeps_the_links() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let net = Resumable::new(7);
    let e = net.save_checkpoint(&a, &Adam::new(1e-2)).unwrap_err();
    assert!(e.to_string().contains("too many levels of symbolic links"), "{e}");
    let e = net.save_safetensors(&b).unwrap_err();
    assert!(e.to_string().contains("too many levels of symbolic links"), "{e}");
    for link in [&a, &b] {
        assert!(std::fs::symlink_metadata(link).unwrap().file_type().is_symlink());
    }
    // Through a chain of links that ends in a file, both write the file and keep the links.
    let (c, file) = (dir.path().join("c"), dir.path().join("real.safetensors"));
    std::os::unix::fs::symlink(&file, &c).unwrap();
    net.save_checkpoint(&c, &Adam::new(1e-2)).unwrap();
    assert!(std::fs::symlink_metadata(&c).unwrap().file_type().is_symlink());
    Resumable::new(1).load_checkpoint(&file, &mut Adam::new(1e-2)).unwrap();
}

/// The checkpoint fuzz target's property on seeded mutations of a good file (bytes flipped,
/// overwritten with extreme values, cut short): a load either fails and changes nothing (the
/// network, its statistics and counters, the step count and the optimizer, as a save of them
/// shows) or succeeds, and then training steps return a loss or an error without a panic.
#[test]
fn mutated_checkpoints_load_or_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (good, input, snap) =
        (dir.path().join("good.safetensors"), dir.path().join("in.safetensors"), dir.path().join("snap.safetensors"));
    let (xs, labels) = batch(0);
    let mut source = Resumable::new(7);
    let mut adam = Adam::new(1e-2);
    source.train_step(&xs, &labels, &mut adam);
    source.save_checkpoint(&good, &adam).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let mut next = common::lcg(11);
    let (mut loaded, mut failed) = (0, 0);
    for round in 0..300 {
        let mut b = bytes.clone();
        let (len, at) = (b.len(), next() as usize % b.len());
        match round % 4 {
            0 => b[at] ^= 1 << (next() % 8),
            1 => b[at..(at + 8).min(len)].fill(if next().is_multiple_of(2) { 0xff } else { 0x7f }),
            2 => b.truncate(at),
            _ => b[at] = (next() % 256) as u8,
        }
        std::fs::write(&input, &b).unwrap();
        let mut net = Resumable::new(3);
        let mut opt = Adam::new(1e-2);
        net.train_step(&xs, &labels, &mut opt);
        net.save_checkpoint(&snap, &opt).unwrap();
        let before = std::fs::read(&snap).unwrap();
        match net.load_checkpoint(&input, &mut opt) {
            Err(_) => {
                failed += 1;
                net.save_checkpoint(&snap, &opt).unwrap();
                assert!(std::fs::read(&snap).unwrap() == before, "round {round}: a failed load changed the state");
            }
            Ok(()) => {
                loaded += 1;
                for _ in 0..2 {
                    let _ = net.try_train_step(&xs, &labels, &mut opt);
                }
            }
        }
    }
    assert!(loaded > 10 && failed > 10, "{loaded} loaded, {failed} failed");
}

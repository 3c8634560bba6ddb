//! Any bytes given to `load_checkpoint` give `Ok` or an error, never a panic; a failed load
//! leaves the network, its step count, running statistics, counters and the optimizer exactly
//! as they were; and a network and optimizer that loaded take training steps without a panic.
#![no_main]

use cnn::prelude::*;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

cnn! {
    /// Parameters, running statistics and a `num_batches_tracked` counter.
    struct Small {
        input(2, 6, 6)
        conv(2, 4, k=3, p=1) batchnorm(4) relu
        maxpool(2)
        flatten
        linear(36, 3)
    }
}

/// A file of this process's own for the fuzzer's bytes and the before/after snapshots.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cnn-fuzz-checkpoint-{}-{name}", std::process::id()))
}

/// The whole training state as the checkpoint writer sees it: network, step count, seed,
/// running statistics, counters and optimizer state.
fn snapshot(net: &Small, opt: &dyn Optimizer) -> Vec<u8> {
    let path = scratch("snapshot");
    net.save_checkpoint(&path, opt).expect("a state the network reached saves");
    std::fs::read(&path).unwrap()
}

fn batch() -> (Vec<[f32; Small::INPUT_LEN]>, Vec<usize>) {
    let xs = (0..3).map(|s| std::array::from_fn(|i| ((i * 7 + s * 13) % 11) as f32 / 5.0 - 1.0)).collect();
    (xs, vec![0, 2, 1])
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the optimizer the file is loaded into (each keeps other state).
    let Some((&which, bytes)) = data.split_first() else { return };
    let mut sgd = Sgd::new(0.1).momentum(0.9);
    let mut adam = Adam::new(0.01);
    let opt: &mut dyn Optimizer = if which % 2 == 0 { &mut sgd } else { &mut adam };
    let mut net = Small::new(1);
    let (xs, labels) = batch();
    net.train_step(&xs, &labels, &mut *opt);

    let file = scratch("input");
    std::fs::write(&file, bytes).unwrap();
    let before = snapshot(&net, &*opt);
    match net.load_checkpoint(&file, &mut *opt) {
        Err(_) => assert!(snapshot(&net, &*opt) == before, "a failed load changed the training state"),
        Ok(()) => {
            // Whatever values loaded (NaN weights included), steps return a loss or an error.
            for _ in 0..2 {
                let _ = net.try_train_step(&xs, &labels, &mut *opt);
            }
            let _ = net.forward(&xs[0]);
        }
    }
});

//! A short run of the training `examples/detect.rs` does in full (its code, included): three
//! epochs on 600 generated pictures must lower every loss and lift the held-out mAP@0.5 well
//! above nothing (the full run reaches about 0.97); and an epoch gives bit-identical weights on
//! one thread and on two.

#[allow(dead_code)]
#[path = "../examples/detect.rs"]
mod example;

use cnn::prelude::*;

fn args(epochs: usize) -> example::Args {
    example::Args {
        epochs,
        lr: 2e-3,
        batch: 16,
        seed: 0,
        data_seed: 7,
        train: 1500,
        test: 100,
        out: std::env::temp_dir(),
    }
}

#[test]
fn three_epochs_of_the_detector_learn() {
    let (train, test) = (example::generate(1500, 7), example::generate(100, 1_000_010));
    let mut epochs = Vec::new();
    example::run(&args(3), &train, &test, |e| epochs.push((e.losses, e.map)));
    for (losses, map) in &epochs {
        println!("losses {losses:.3?}  mAP@0.5 {:.3}  mAP {:.3}", map.map_50, map.map);
    }
    let (first, last) = (&epochs[0], &epochs[2]);
    for k in 0..3 {
        assert!(last.0[k] < first.0[k], "loss {k} should fall: {:?} -> {:?}", first.0, last.0);
    }
    assert!(last.1.map_50 > 0.4, "held-out mAP@0.5 {:.3} after three epochs", last.1.map_50);
}

#[test]
fn an_epoch_is_bit_identical_on_one_thread_and_two() {
    let (train, test) = (example::generate(96, 3), example::generate(8, 4));
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| example::run(&args(1), &train, &test, |_| {}))
    };
    let (one, two) = (on(1), on(2));
    assert_eq!(one.flat_params(), two.flat_params());
    assert_eq!(
        one.buffers().map(|b| b.data.to_vec()).collect::<Vec<_>>(),
        two.buffers().map(|b| b.data.to_vec()).collect::<Vec<_>>()
    );
}

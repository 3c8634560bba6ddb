//! A short run of the digits training that `examples/digits.rs` does in full: three epochs of
//! `DigitsNet` on the vendored data must lower the loss and lift the test accuracy far above
//! chance (10%); the full run reaches 97% and more.

use cnn::data::{digits, Loader};
use cnn::metrics::accuracy;
use cnn::nets::DigitsNet;
use cnn::prelude::*;

#[test]
fn three_epochs_of_digits_learn() {
    let (train, test) = digits().split_at(1437);
    assert_eq!((train.len(), test.len()), (1437, 360));
    let mut net = DigitsNet::new(0);
    let mut opt = Adam::new(2e-3);
    let mut loader = Loader::new(&train, 32, 0);
    let before = accuracy(&net.forward_batch(&test.images), &test.labels);
    let mut epoch_losses = Vec::new();
    for _ in 0..3 {
        loader.shuffle();
        let (mut total, mut seen) = (0.0, 0);
        while let Some((xs, ys)) = loader.next_batch() {
            total += net.train_step(xs, ys, &mut opt) as f64 * ys.len() as f64;
            seen += ys.len();
        }
        epoch_losses.push(total / seen as f64);
    }
    let after = accuracy(&net.forward_batch(&test.images), &test.labels);
    println!("losses {epoch_losses:?}, test accuracy {before:.3} -> {after:.3}");
    assert!(epoch_losses[2] < 0.5 * epoch_losses[0], "loss should fall: {epoch_losses:?}");
    assert!(epoch_losses[0] < 2.31, "the first epoch already learns: {epoch_losses:?}");
    assert!(after > 0.85, "test accuracy {after} after 3 epochs");
    assert!(after > before + 0.5, "accuracy {before} -> {after}");
}

//! Networks that compose, as PyTorch programs do with autograd across modules:
//!
//! - gradients added up over several backward passes before one update
//!   (`backward_accumulate`, a GAN discriminator's real and fake batches) are the passes' sums,
//!   bit for bit, and for a network without batch statistics the gradient of both batches at
//!   once;
//! - a step with a loss of its own that comes out NaN (`train_step_loss`) changes nothing:
//!   weights, running statistics, counters, step count;
//! - a generator chained into a discriminator (the discriminator's `backward_to_input` handing
//!   its input's gradient to the generator's `backward`) gets the gradients of the two written
//!   as one network with the same tensors.

mod common;

use cnn::prelude::*;
use common::{assert_within, uniform};

cnn! {
    /// A small generator: a latent map upsampled to a 1x8x8 picture.
    pub struct Gen {
        input(4, 2, 2)
        0: conv_transpose(4, 6, k=4, s=2, p=1) relu
        2: conv_transpose(6, 1, k=4, s=2, p=1) tanh
    }
}

cnn! {
    /// A small discriminator with weight standardisation (whose chain rule runs per pass).
    pub struct Disc {
        input(1, 8, 8)
        0: conv(1, 4, k=3, s=2, p=1, ws=true) leaky_relu(0.2)
        flatten
        3: linear(64, 1)
    }
}

cnn! {
    /// The two as one network, with their keys under `g` and `d`.
    pub struct GenDisc {
        input(4, 2, 2)
        g: seq {
            0: conv_transpose(4, 6, k=4, s=2, p=1) relu
            2: conv_transpose(6, 1, k=4, s=2, p=1) tanh
        }
        d: seq {
            0: conv(1, 4, k=3, s=2, p=1, ws=true) leaky_relu(0.2)
            flatten
            3: linear(64, 1)
        }
    }
}

fn seeded<N: Network>(net: &mut N, prefix: &str) {
    for p in net.params_mut() {
        let u = uniform(&format!("{prefix}{}", p.name), p.data.len());
        p.data.iter_mut().zip(u).for_each(|(v, u)| *v = 0.5 * u);
    }
}

fn batch<const L: usize>(tag: &str, n: usize) -> Vec<[f32; L]> {
    (0..n).map(|i| uniform(&format!("{tag}{i}"), L).try_into().unwrap()).collect()
}

#[test]
fn accumulated_gradients_are_the_passes_sums() {
    let mut d = Disc::new(0);
    seeded(&mut d, "d.");
    let (real, fake) = (batch::<64>("real", 3), batch::<64>("fake", 5));
    let (up, down) = (vec![[1.0f32]; 3], vec![[-0.5f32]; 5]);
    // Each pass alone.
    let (mut g_real, mut g_fake) = (DiscGrads::new(), DiscGrads::new());
    d.forward_train(&real);
    d.backward(&up, &mut g_real);
    d.forward_train(&fake);
    d.backward(&down, &mut g_fake);
    // Added up into one, over gradients left from before that `zero` clears.
    let mut sum = DiscGrads::new();
    sum.flat_mut().fill(7.0);
    sum.zero();
    d.forward_train(&real);
    d.backward_accumulate(&up, &mut sum);
    d.forward_train(&fake);
    d.backward_accumulate(&down, &mut sum);
    let want: Vec<f32> = g_real.flat().iter().zip(g_fake.flat()).map(|(a, b)| 0.0 + a + b).collect();
    assert_eq!(sum.flat(), &want[..], "accumulated = the sum of the passes, bit for bit");
    // Without batch statistics, one pass over both batches gives the same gradient.
    let both: Vec<[f32; 64]> = real.iter().chain(&fake).copied().collect();
    let grad: Vec<[f32; 1]> = up.iter().chain(&down).copied().collect();
    let mut once = DiscGrads::new();
    d.forward_train(&both);
    d.backward(&grad, &mut once);
    assert_within("one pass over both batches", sum.flat(), once.flat(), 1e-6);
}

#[test]
fn a_generator_chained_into_a_discriminator_trains_as_one_network() {
    let (mut g, mut d, mut gd) = (Gen::new(0), Disc::new(0), GenDisc::new(0));
    seeded(&mut g, "g.");
    seeded(&mut d, "d.");
    seeded(&mut gd, "");
    let z = batch::<16>("z", 4);
    let c: Vec<[f32; 1]> = (0..4).map(|i| [0.25 * i as f32 - 0.3]).collect();

    // Chained: the discriminator's input gradient is the generator's output gradient.
    let pictures = g.forward_train(&z).to_vec();
    d.forward_train(&pictures);
    let (mut gd_grads, mut dx) = (DiscGrads::new(), vec![[0.0f32; 64]; 4]);
    d.backward_to_input(&c, &mut gd_grads, &mut dx);
    let mut gg = GenGrads::new();
    g.backward(&dx, &mut gg);

    // As one network.
    gd.forward_train(&z);
    let mut one = GenDiscGrads::new();
    gd.backward(&c, &mut one);
    for p in gg.params() {
        let want = one.param(&format!("g.{}", p.name)).unwrap();
        assert_within(&format!("generator {}", p.name), p.data, want.data, 1e-6);
    }
    for p in gd_grads.params() {
        let want = one.param(&format!("d.{}", p.name)).unwrap();
        assert_within(&format!("discriminator {}", p.name), p.data, want.data, 1e-6);
    }
}

cnn! {
    /// Two outputs after a batch norm: statistics and a counter a failed step must not move.
    pub struct Normed {
        input(1, 4, 4)
        conv(1, 2, k=3) batchnorm(2) relu flatten let f
        a: linear(8, 1) output a
        from f b: linear(8, 2) output b
    }
}

#[test]
fn a_step_whose_loss_is_not_finite_changes_nothing() {
    let mut net = Normed::new(1);
    let mut opt = Adam::new(1e-2);
    let xs = batch::<16>("x", 4);
    let loss = |_: usize, n: usize, y: &NormedOutputs, g: &mut NormedOutputs| {
        g.a[0] = 1.0 / n as f32;
        y.a[0] / n as f32
    };
    net.train_step_loss(&xs, &mut opt, loss);
    let before = net.clone();
    let nan = net.train_step_loss(&xs, &mut opt, |_, _, _, g| {
        g.b[0] = 1.0;
        f32::NAN
    });
    assert!(nan.is_nan());
    assert_eq!(net.flat_params(), before.flat_params());
    assert!(net.buffers().zip(before.buffers()).all(|(a, b)| a.data == b.data));
    assert_eq!(net.counter("2.num_batches_tracked"), before.counter("2.num_batches_tracked"));
    assert_eq!(net.step_count(), before.step_count());
    // The optimizer took no step either: the next good step is a second good step.
    let mut fresh = Normed::new(1);
    let mut fresh_opt = Adam::new(1e-2);
    fresh.train_step_loss(&xs, &mut fresh_opt, loss);
    fresh.train_step_loss(&xs, &mut fresh_opt, loss);
    net.train_step_loss(&xs, &mut opt, loss);
    assert_eq!(net.flat_params(), fresh.flat_params(), "the failed step left the optimizer as it was");
}

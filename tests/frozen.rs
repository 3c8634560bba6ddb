//! Frozen parameters, PyTorch's `requires_grad_(False)`: a frozen network (a style loss's VGG)
//! still hands back its input's gradient, the same bit for bit, and nothing else; a frozen
//! prefix (fine-tuning a head) leaves the rest's gradients and updates as they were, bit for
//! bit, while its own parameters get no gradient and no update. Every kind with parameters is
//! in the network: a padded and a depthwise convolution, batch and group norm, a transposed
//! convolution, a reflection-padded convolution and a linear layer.

mod common;

use cnn::prelude::*;
use common::uniform;

cnn! {
    pub struct Mixed {
        input(3, 8, 8)
        features: seq {
            0: conv(3, 8, k=3, p=1)
            1: batchnorm(8) relu
            3: conv(8, 8, k=3, p=1, groups=8)
            4: groupnorm(2, 8) relu
        }
        up: conv_transpose(8, 4, k=2, s=2) relu
        refl: conv(4, 4, k=3, p=1, padding_mode=reflect)
        flatten
        head: linear(1024, 5)
    }
}

fn net() -> Mixed {
    let mut net = Mixed::new(3);
    for p in net.params_mut() {
        let u = uniform(p.name, p.data.len());
        p.data.iter_mut().zip(u).for_each(|(v, u)| *v = 0.4 * u);
    }
    net
}

fn inputs(n: usize) -> Vec<[f32; 192]> {
    (0..n).map(|i| uniform(&format!("x{i}"), 192).try_into().unwrap()).collect()
}

fn grad_outputs(n: usize) -> Vec<[f32; 5]> {
    (0..n).map(|i| uniform(&format!("dy{i}"), 5).try_into().unwrap()).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn a_frozen_network_gives_its_input_gradient_alone() {
    let (xs, dy) = (inputs(3), grad_outputs(3));
    let mut trained = net();
    let mut frozen = trained.clone();
    frozen.requires_grad_(false);
    assert!(frozen.params().all(|p| frozen.requires_grad(p.name) == Some(false)));
    assert_eq!(frozen.requires_grad("no.such.weight"), None);

    let (mut g_trained, mut g_frozen) = (MixedGrads::new(), MixedGrads::new());
    let (mut dx_trained, mut dx_frozen) = (vec![[0.0f32; 192]; 3], vec![[7.0f32; 192]; 3]);
    trained.forward_train(&xs);
    trained.backward_to_input(&dy, &mut g_trained, &mut dx_trained);
    frozen.forward_train(&xs);
    g_frozen.flat_mut().fill(9.0);
    frozen.backward_to_input(&dy, &mut g_frozen, &mut dx_frozen);
    assert_eq!(bits(dx_frozen.as_flattened()), bits(dx_trained.as_flattened()), "the input's gradient");
    assert!(g_trained.flat().iter().any(|&g| g != 0.0));
    assert!(g_frozen.flat().iter().all(|&g| g == 0.0), "a frozen network's parameter gradients are 0");
    // The layers' output gradients of that pass are the trained network's.
    for key in ["features", "features.1", "up", "refl"] {
        let (a, b) = (trained.gradient_at(key).unwrap(), frozen.gradient_at(key).unwrap());
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(bits(&a.data), bits(&b.data), "gradient at {key}");
        }
    }

    // Without the input's gradient there is nothing to compute: no gradients, none at keys.
    frozen.forward_train(&xs);
    g_frozen.flat_mut().fill(9.0);
    frozen.backward(&dy, &mut g_frozen);
    assert!(g_frozen.flat().iter().all(|&g| g == 0.0));
    assert!(frozen.gradient_at("up").is_none(), "no layer ran");

    // No update either, whatever the rule's weight decay or momentum; batch norm's running
    // statistics and counter still move, as in PyTorch (frozen is not eval mode).
    let before = frozen.clone();
    let mut adam = Adam::new(0.1).weight_decay(0.1);
    frozen.apply_gradients(&mut adam, &g_trained);
    let mut sgd = Sgd::new(0.1).momentum(0.9).weight_decay(0.1);
    let labels = [0, 3, 4];
    frozen.train_step(&xs, &labels, &mut sgd);
    for (a, b) in frozen.params().zip(before.params()) {
        assert_eq!(bits(a.data), bits(b.data), "{} changed", a.name);
    }
    let (mean, mean_before) =
        (frozen.buffer("features.1.running_mean").unwrap(), before.buffer("features.1.running_mean").unwrap());
    assert_ne!(bits(mean.data), bits(mean_before.data), "running statistics move");

    // Thawed, it trains again.
    frozen.requires_grad_(true);
    frozen.train_step(&xs, &labels, &mut Sgd::new(0.1));
    assert_ne!(bits(frozen.param("head.weight").unwrap().data), bits(before.param("head.weight").unwrap().data));
}

#[test]
fn a_frozen_prefix_trains_the_rest_as_before() {
    let (xs, dy) = (inputs(4), grad_outputs(4));
    let mut trained = net();
    let mut tuned = trained.clone();
    tuned.requires_grad_at("features", false).requires_grad_at("head.bias", false);
    assert_eq!(tuned.requires_grad("features.3.weight"), Some(false));
    assert_eq!(tuned.requires_grad("head.bias"), Some(false));
    assert_eq!(tuned.requires_grad("head.weight"), Some(true));
    assert_eq!(tuned.clone().requires_grad("features.0.bias"), Some(false), "a clone keeps it");

    let (mut g_trained, mut g_tuned) = (MixedGrads::new(), MixedGrads::new());
    trained.forward_train(&xs);
    trained.backward(&dy, &mut g_trained);
    tuned.forward_train(&xs);
    tuned.backward(&dy, &mut g_tuned);
    for p in trained.params() {
        let (a, b) = (g_trained.param(p.name).unwrap(), g_tuned.param(p.name).unwrap());
        if p.name.starts_with("features.") || p.name == "head.bias" {
            assert!(b.data.iter().all(|&g| g == 0.0), "{} is frozen", p.name);
        } else {
            assert_eq!(bits(a.data), bits(b.data), "{}'s gradient", p.name);
        }
    }
    // A key after the first parameter that trains has its gradient; one before it has none.
    let (a, b) = (trained.gradient_at("up").unwrap(), tuned.gradient_at("up").unwrap());
    assert_eq!(bits(&a[0].data), bits(&b[0].data));
    assert!(tuned.gradient_at("features").is_none());
    assert!(tuned.gradient_at("features.1").is_none());

    // The same update for the rest, none for the prefix, with momentum and weight decay.
    let (mut opt_a, mut opt_b) =
        (Sgd::new(0.05).momentum(0.9).weight_decay(0.01), Sgd::new(0.05).momentum(0.9).weight_decay(0.01));
    let before = tuned.clone();
    for _ in 0..2 {
        trained.apply_gradients(&mut opt_a, &g_trained);
        tuned.apply_gradients(&mut opt_b, &g_tuned);
    }
    for ((a, b), c) in trained.params().zip(tuned.params()).zip(before.params()) {
        let want = if a.name.starts_with("features.") || a.name == "head.bias" { c.data } else { a.data };
        assert_eq!(bits(b.data), bits(want), "{}", a.name);
    }

    // A training step of the frozen prefix is its forward, backward and update.
    let mut stepped = tuned.clone();
    let mut by_hand = tuned.clone();
    let labels = [1, 2, 0, 4];
    let (mut opt_s, mut opt_h) = (Sgd::new(0.1).weight_decay(0.1), Sgd::new(0.1).weight_decay(0.1));
    stepped.train_step(&xs, &labels, &mut opt_s);
    // Mean cross-entropy's gradient: (softmax - one-hot) / batch.
    let ys = by_hand.forward_train(&xs);
    let grad: Vec<[f32; 5]> = ys
        .iter()
        .zip(labels)
        .map(|(y, l)| {
            let top = y.iter().copied().fold(f32::MIN, f32::max);
            let e = y.map(|v| (v - top).exp());
            let sum: f32 = e.iter().sum();
            std::array::from_fn(|k| (e[k] / sum - f32::from(u8::from(k == l))) / 4.0)
        })
        .collect();
    let mut g = MixedGrads::new();
    by_hand.backward(&grad, &mut g);
    by_hand.apply_gradients(&mut opt_h, &g);
    for (a, b) in stepped.params().zip(by_hand.params()) {
        common::assert_within(a.name, a.data, b.data, 1e-5);
        if a.name.starts_with("features.") {
            assert_eq!(bits(a.data), bits(before.param(a.name).unwrap().data), "{} moved", a.name);
        }
    }
}

#[test]
#[should_panic(expected = "no parameter is named `feature` or lies under it")]
fn freezing_an_unknown_module_names_it() {
    net().requires_grad_at("feature", false);
}

#[test]
fn a_frozen_pass_is_the_same_on_one_thread_and_the_pool() {
    let (xs, dy) = (inputs(5), grad_outputs(5));
    let run = || {
        let mut n = net();
        n.requires_grad_at("features.0", false);
        n.forward_train(&xs);
        let (mut g, mut dx) = (MixedGrads::new(), vec![[0.0f32; 192]; 5]);
        n.backward_to_input(&dy, &mut g, &mut dx);
        (bits(g.flat()), bits(dx.as_flattened()))
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    assert_eq!(pool.install(run), run());
}

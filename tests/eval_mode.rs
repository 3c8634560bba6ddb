//! Training passes in eval mode (PyTorch's `model.eval()` before `backward()`, as Grad-CAM runs
//! a trained network): batch norm (and instance norm with running statistics) normalizes by its
//! running statistics and leaves them and its counter alone, dropout and stochastic depth keep
//! everything, and the backward pass is that
//! computation's: every gradient (parameters, input, keyed layers) against finite differences of
//! inference, and the input's against the same network written with `frozen_batchnorm`
//! (eval-mode batch norm as torchvision freezes it).

mod common;

use cnn::prelude::*;
use common::gradcheck::{check_gradients, check_input_gradients, weighted_sum, GradCheck, Loss};

cnn! {
    pub struct Bn {
        input(2, 6, 6)
        c1: conv(2, 4, k=3, p=1)
        bn1: batchnorm(4) relu
        drop: dropout(0.5)
        c2: conv(4, 4, k=3, s=2, p=1, bias=false)
        bn2: batchnorm(4)
        sd: stochastic_depth(0.3)
        inorm: instancenorm(4, affine=true, track_running_stats=true)
        relu flatten
        fc1: linear(36, 6)
        bn3: batchnorm(6) relu
        fc2: linear(6, 3)
    }
}

cnn! {
    /// `Bn`'s maps: batch norm, dropout and stochastic depth in eval mode ...
    pub struct Maps {
        input(2, 6, 6)
        c1: conv(2, 4, k=3, p=1)
        bn1: batchnorm(4) relu
        drop: dropout(0.5)
        c2: conv(4, 4, k=3, s=2, p=1, bias=false)
        bn2: batchnorm(4)
        sd: stochastic_depth(0.3)
        relu flatten
        fc1: linear(36, 6)
    }
}

cnn! {
    /// ... are `Maps` with its batch norms frozen (torchvision's `FrozenBatchNorm2d`) and no
    /// dropout.
    pub struct Frozen {
        input(2, 6, 6)
        c1: conv(2, 4, k=3, p=1)
        bn1: frozen_batchnorm(4) relu
        c2: conv(4, 4, k=3, s=2, p=1, bias=false)
        bn2: frozen_batchnorm(4)
        relu flatten
        fc1: linear(36, 6)
    }
}

fn inputs(n: usize) -> Vec<[f32; 72]> {
    (0..n).map(|i| common::uniform(&format!("x{i}"), 72).try_into().unwrap()).collect()
}

fn weights(n: usize) -> Vec<[f32; 3]> {
    (0..n).map(|i| common::uniform(&format!("c{i}"), 3).try_into().unwrap()).collect()
}

fn seeded() -> Bn {
    let mut net = Bn::new(0);
    fill_seeded!(net);
    net
}

#[test]
fn eval_mode_gradients_are_inferences() {
    let (xs, c) = (inputs(3), weights(3));
    let mut net = seeded();
    net.eval();
    net.forward_train(&xs);
    let (mut grads, mut dx) = (BnGrads::new(), vec![[0.0f32; 72]; 3]);
    net.backward_to_input(&c, &mut grads, &mut dx);
    let check =
        GradCheck { steps: &[1e-2, 1e-3, 1e-4], noise: 1e-6, loss: Loss::PiecewiseLinear, rel: 1e-2, picks: 12 };
    // Inference is the reference: running statistics, no dropout.
    check_gradients(&mut net, &grads, check, |net| weighted_sum(&net.forward_batch(&xs), &c));
    check_input_gradients(&mut net, &xs, &dx, check, |net, xs| weighted_sum(&net.forward_batch(xs), &c));
    // A keyed layer's gradient is there too (Grad-CAM's), and one sample is a batch in eval
    // mode even with a batch norm on flat values.
    assert!(net.gradient_at("bn2").is_some());
    net.forward_train(&xs[..1]);
    net.backward(&c[..1], &mut grads);
}

#[test]
fn eval_mode_runs_as_inference_and_changes_no_statistic() {
    let xs = inputs(4);
    let mut net = seeded();
    let before = net.clone();
    assert!(net.is_training());
    net.eval();
    assert!(!net.is_training() && !net.clone().is_training(), "a clone keeps the mode");
    let want = net.forward_batch(&xs);
    let got = net.forward_train(&xs).to_vec();
    common::assert_within("eval-mode training pass", got.as_flattened(), want.as_flattened(), 1e-6);
    // A whole step in eval mode: the weights move, the statistics and counters do not.
    net.train_step(&xs, &[0, 1, 2, 0], &mut Sgd::new(0.1));
    assert_eq!(net.step_count(), 2);
    for (a, b) in net.buffers().zip(before.buffers()) {
        assert_eq!(a.data, b.data, "{} moved in eval mode", a.name);
    }
    assert_eq!(net.counter("bn1.num_batches_tracked"), Some(0));
    assert_ne!(net.param("fc2.weight").unwrap().data, before.param("fc2.weight").unwrap().data);
    // Back in train mode: batch statistics (other outputs) and the running ones move.
    net.train(true);
    let train = net.forward_train(&xs).to_vec();
    assert_ne!(train.as_flattened(), net.forward_batch(&xs).as_flattened());
    assert_eq!(net.counter("bn1.num_batches_tracked"), Some(1));
}

#[test]
fn eval_mode_batch_norm_is_frozen_batch_norm() {
    let xs = inputs(3);
    let mut net = Maps::new(0);
    fill_seeded!(net);
    let mut frozen = Frozen::new(0);
    for p in frozen.params_mut() {
        p.data.copy_from_slice(net.param(p.name).unwrap().data);
    }
    let names: Vec<&'static str> = frozen.buffers().map(|b| b.name).collect();
    for name in names {
        let from = net.param(name).or_else(|| net.buffer(name)).unwrap().data.to_vec();
        frozen.buffer_mut(name).unwrap().data.copy_from_slice(&from);
    }
    let g: Vec<[f32; 6]> = (0..3).map(|i| common::uniform(&format!("g{i}"), 6).try_into().unwrap()).collect();
    net.eval();
    let y_net = net.forward_train(&xs).to_vec();
    let y_frozen = frozen.forward_train(&xs).to_vec();
    common::assert_within("outputs", y_net.as_flattened(), y_frozen.as_flattened(), 1e-6);
    let (mut g_net, mut dx_net) = (MapsGrads::new(), vec![[0.0f32; 72]; 3]);
    let (mut g_frozen, mut dx_frozen) = (FrozenGrads::new(), vec![[0.0f32; 72]; 3]);
    net.backward_to_input(&g, &mut g_net, &mut dx_net);
    frozen.backward_to_input(&g, &mut g_frozen, &mut dx_frozen);
    common::assert_within("input gradient", dx_net.as_flattened(), dx_frozen.as_flattened(), 1e-5);
    for p in frozen.params() {
        let (a, b) = (g_net.param(p.name).unwrap(), g_frozen.param(p.name).unwrap());
        common::assert_within(p.name, a.data, b.data, 1e-5);
    }
    let (a, b) = (net.gradient_at("bn1").unwrap(), frozen.gradient_at("bn1").unwrap());
    common::assert_within("gradient at bn1", &a[1].data, &b[1].data, 1e-5);
}

#[test]
fn an_eval_mode_pass_is_the_same_on_one_thread_and_the_pool() {
    let (xs, c) = (inputs(5), weights(5));
    let run = || {
        let mut net = seeded();
        net.eval();
        net.forward_train(&xs);
        let (mut g, mut dx) = (BnGrads::new(), vec![[0.0f32; 72]; 5]);
        net.backward_to_input(&c, &mut g, &mut dx);
        (
            g.flat().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            dx.as_flattened().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        )
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    assert_eq!(pool.install(run), run());
}

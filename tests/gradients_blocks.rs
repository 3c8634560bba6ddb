//! Finite-difference checks of the backward pass in train mode, for every layer kind of the
//! block IR: batch norm (2d and 1d, affine or not) whose statistics span the batch, residual
//! blocks with and without a shortcut (a value read twice gets the sum of its gradients),
//! grouped, dilated, 'same' and bias-free convolutions, every pool, every activation, softmax
//! and log-softmax, and dropout (whose masks a fixed step count repeats); every merge (`cat`,
//! `dense`, `gate` broadcast and element-wise, `split`, `sum` with one value read twice) with
//! `channel_shuffle`, and the channels-last layers (`permute`, `layernorm`, per-pixel `linear`)
//! with `layernorm2d`, `scale` and `stochastic_depth`; and PyTorch's options (batch norm's
//! cumulative average, no running statistics, no bias; dilated max pooling; a divisor override;
//! softmax over other dims); group and instance norm.
//!
//! The loss is `L = Σ c · y` over the train-mode outputs `y` of a batch of 4, with fixed random
//! `c`; the check is `common::gradcheck`'s, with steps of 2e-3 and 2e-4 and `2e-2` relative, of
//! every parameter and of the input (`backward_to_input`), including networks whose input is
//! read by several layers and whose first layers have no parameters.

mod common;

use cnn::prelude::*;
use common::gradcheck::{check_gradients, check_input_gradients, weighted_sum, GradCheck, Loss};

macro_rules! train_gradient_check {
    ($test:ident, $net:ident, $grads:ident) => {
        #[test]
        fn $test() {
            const N: usize = 4;
            let mut net = $net::new(5);
            // Batch norm starts at γ = 1, β = 0; move them so their gradients mean something.
            for p in net.params_mut() {
                if p.shape.len() == 1 && p.name.ends_with("weight") {
                    let u = common::uniform(p.name, p.data.len());
                    p.data.iter_mut().zip(u).for_each(|(v, u)| *v = 1.0 + 0.4 * u);
                }
            }
            // A frozen batch norm's constants (buffers) too, so that its scale is not 1.
            for spec in $net::BUFFERS {
                let u = common::uniform(spec.name, spec.shape.iter().product());
                let b = net.buffer_mut(spec.name).unwrap();
                let (base, spread) =
                    if spec.name.ends_with("var") || spec.name.ends_with("weight") { (1.0, 0.4) } else { (0.0, 0.3) };
                b.data.iter_mut().zip(u).for_each(|(v, u)| *v = base + spread * u);
            }
            let xs: Vec<[f32; $net::INPUT_LEN]> =
                (0..N).map(|i| common::uniform(&format!("x{i}"), $net::INPUT_LEN).try_into().unwrap()).collect();
            let c: Vec<[f32; $net::OUTPUT_LEN]> =
                (0..N).map(|i| common::uniform(&format!("c{i}"), $net::OUTPUT_LEN).try_into().unwrap()).collect();
            net.set_step_count(0);
            net.forward_train(&xs);
            let mut grads = $grads::new();
            net.backward(&c, &mut grads);
            // Train mode, dropout's masks repeated by the step count. The loss's noise: about
            // 3e-7 of its terms' magnitude (batch norms divide by batch statistics), as measured
            // on every instruction-set path, whose roundings differ.
            let check = GradCheck { steps: &[2e-3, 2e-4], noise: 3e-7, loss: Loss::Smooth, rel: 2e-2, picks: 10 };
            check_gradients(&mut net, &grads, check, |net| {
                net.set_step_count(0);
                let ys = net.forward_train(&xs).to_vec();
                weighted_sum(&ys, &c)
            });
            // The input's gradient (through the batch statistics too), and the same parameter
            // gradients besides it, bit for bit.
            net.set_step_count(0);
            net.forward_train(&xs);
            let (mut with_input, mut dx) = ($grads::new(), vec![[0.0f32; $net::INPUT_LEN]; N]);
            net.backward_to_input(&c, &mut with_input, &mut dx);
            assert_eq!(with_input.flat(), grads.flat(), "backward_to_input's parameter gradients are backward's");
            assert!(dx.as_flattened().iter().any(|&v| v != 0.0), "the input's gradient is all zero");
            check_input_gradients(&mut net, &xs, &dx, check, |net, xs| {
                net.set_step_count(0);
                let ys = net.forward_train(xs).to_vec();
                weighted_sum(&ys, &c)
            });
        }
    };
}

cnn! {
    /// Batch norm after grouped, dilated, 'same' and bias-free convolutions; a residual block
    /// with a shortcut and one without; batch norm 1d and one without affine parameters.
    /// Activations are smooth here: a batch norm shifts whole channels, so a kinked one would
    /// put some element on its kink within any usable step (the kinked activations are checked
    /// against PyTorch's gradients in `layer_parity.rs` and by `Pools` and `Heads` below).
    pub struct NormBlocks {
        input(4, 7, 6)
        conv(4, 6, k=3, p=same, g=2) batchnorm(6) gelu
        residual {
            conv(6, 6, k=3, p=2, d=2, bias=false) batchnorm(6) silu
            conv(6, 6, k=1, g=3) batchnorm(6, affine=false)
        } elu(1.0)
        down: residual {
            conv(6, 8, k=3, s=2, p=1) bn: batchnorm(8, eps=1e-3) elu(0.7)
            conv(8, 8, k=(1, 3), p=(0, 1))
        } shortcut { conv(6, 8, k=1, s=2, bias=false) batchnorm(8) } sigmoid
        flatten
        linear(_, 7, bias=false) batchnorm(7) tanh
        linear(7, 3)
    }
}

cnn! {
    /// Every pool: padded ceil-mode max, average with and without the padding in the divisor,
    /// adaptive average and max, global average.
    pub struct Pools {
        input(3, 11, 10)
        conv(3, 4, k=2) gelu
        maxpool(3, 2, p=1, ceil_mode=true)
        conv(4, 4, k=1) sigmoid
        avgpool(2, 1, p=1, count_include_pad=false)
        conv(4, 5, k=2, p=1) hardsigmoid
        avgpool(3, 2, p=1, ceil_mode=true)
        adaptive_maxpool((3, 2))
        conv(5, 5, k=1) gelu(approximate=tanh)
        adaptive_avgpool((2, 1))
        conv(5, 6, k=1) relu
        global_avgpool
        flatten
        linear(6, 4) log_softmax
    }
}

cnn! {
    /// Softmax inside the net, a value read twice by a `sum` of two identities (`x + x`),
    /// identity, dropout of units and of channels, and the kinked activations.
    pub struct Heads {
        input(2, 5, 5)
        conv(2, 4, k=3, p=1) dropout2d(0.3) relu6
        sum { identity identity } identity
        conv(4, 3, k=3) softmax
        flatten
        linear(27, 8) dropout(0.4) leaky_relu(0.1)
        linear(8, 8) hardswish
        linear(8, 5)
    }
}

cnn! {
    /// Every merge: a concatenation of a layer and a block, a dense join, a squeeze-and-excitation
    /// gate and an element-wise one, a three-way split and the shuffle after it, and a sum that
    /// reads one value twice through two identities.
    pub struct Merges {
        input(4, 5, 5)
        conv(4, 6, k=3, p=1) batchnorm(6) tanh
        cat { conv(6, 2, k=1) seq { conv(6, 4, k=3, p=1) sigmoid } }
        dense { conv(6, 3, k=1) tanh }
        gate { adaptive_avgpool(1) conv(9, 9, k=1) sigmoid }
        gate { conv(9, 9, k=3, p=1, g=9) tanh }
        split { identity conv(3, 3, k=1) seq { conv(3, 3, k=3, p=1) gelu } }
        channel_shuffle(3)
        sum { identity identity conv(9, 9, k=1) }
        flatten
        linear(225, 5)
    }
}

cnn! {
    /// The channels-last path of a ConvNeXt block (layer norm and per-pixel linear layers between
    /// two permutes), `layernorm2d`, a learned scale, stochastic depth with p = 0.3 (its draws
    /// repeat with the step count) and layer norm on a flat value.
    pub struct ChannelsLast {
        input(3, 4, 5)
        conv(3, 6, k=3, p=1) layernorm2d(6)
        residual {
            seq { permute(0, 2, 3, 1) layernorm(6) linear(6, 8) gelu linear(8, 6) permute(0, 3, 1, 2) }
            scale(6, init=0.7)
            stochastic_depth(0.3)
        }
        flatten
        layernorm(120)
        linear(120, 4)
    }
}

cnn! {
    /// PyTorch's options: batch norm with the cumulative average, without running statistics
    /// (2d and 1d) and without a bias; a dilated max pool; an average pool with a divisor
    /// override; log-softmax over the height and softmax over the width, a convolution between.
    pub struct Options {
        input(3, 9, 8)
        conv(3, 5, k=3, p=1, bias=false) batchnorm(5, momentum=None) gelu
        maxpool(3, 1, p=1, dilation=2)
        conv(5, 4, k=1, bias=false) batchnorm(4, track_running_stats=false, bias=false) silu
        avgpool(2, 2, p=1, divisor_override=3)
        log_softmax(dim=2) conv(4, 4, k=1) softmax(dim=-1)
        flatten
        linear(_, 6, bias=false) batchnorm(6, track_running_stats=false) tanh
        linear(6, 3)
    }
}

cnn! {
    /// Group norm over several channels, over one group and on a flat value; instance norm
    /// with affine parameters and running statistics, and without either; a frozen batch norm.
    pub struct GroupNorms {
        input(4, 5, 6)
        conv(4, 6, k=3, p=1) groupnorm(3, 6) gelu
        conv(6, 6, k=3, p=1, bias=false) instancenorm(6, affine=true, track_running_stats=true) silu
        conv(6, 4, k=1) instancenorm(4) tanh
        conv(4, 4, k=3, s=2) groupnorm(1, 4, affine=false) sigmoid frozen_batchnorm(4)
        flatten
        linear(_, 8) groupnorm(2, 8) elu(1.0)
        linear(8, 3)
    }
}

train_gradient_check!(every_merge_and_channel_shuffle, Merges, MergesGrads);
train_gradient_check!(group_and_instance_norms_train_gradients, GroupNorms, GroupNormsGrads);
train_gradient_check!(pytorch_options, Options, OptionsGrads);
train_gradient_check!(channels_last_norms_scale_and_stochastic_depth, ChannelsLast, ChannelsLastGrads);

cnn! {
    /// `x + 2x · mask`: each sample's branch is dropped (the output is `x`) or kept and scaled
    /// by 1 / (1 - p) = 2 (the output is `5x`).
    pub struct Depth {
        input(1, 1, 3)
        residual { scale(1, init=2.0) stochastic_depth(0.5) }
    }
}

cnn! {
    /// The same with one draw for the whole batch.
    pub struct DepthBatch {
        input(1, 1, 3)
        residual { scale(1, init=2.0) stochastic_depth(0.5, mode=batch) }
    }
}

#[test]
fn stochastic_depth_drops_samples_at_its_rate_and_is_off_in_eval_mode() {
    let xs = vec![[1.0f32, 2.0, 3.0]; 2000];
    let mut net = Depth::new(0);
    let ys = net.forward_train(&xs).to_vec();
    let dropped = ys.iter().filter(|y| **y == [1.0, 2.0, 3.0]).count();
    let kept = ys.iter().filter(|y| **y == [5.0, 10.0, 15.0]).count();
    assert_eq!(dropped + kept, xs.len(), "a sample is dropped or kept whole");
    let rate = dropped as f64 / xs.len() as f64;
    assert!((rate - 0.5).abs() < 0.04, "dropped {rate}");
    assert_eq!(net.forward(&xs[0]), [3.0, 6.0, 9.0], "the identity in eval mode: x + 2x");
    let mut batch = DepthBatch::new(0);
    let outcomes: Vec<bool> = (0..40)
        .map(|_| {
            let ys = batch.forward_train(&xs[..8]).to_vec();
            assert!(ys.iter().all(|y| *y == ys[0]), "one draw for the batch");
            ys[0] == [1.0, 2.0, 3.0]
        })
        .collect();
    assert!(outcomes.contains(&true) && outcomes.contains(&false), "steps draw again");
}

cnn! {
    /// The input read by several layers: a batch norm (its input gradient through the batch
    /// statistics), a 1x1 convolution in a sum, and a pool in a concatenation, which runs only
    /// for the input's gradient; their gradients add up on the input.
    pub struct InputReaders {
        input(3, 6, 5) let x0
        bn: batchnorm(3) gelu
        _: sum { _: identity _: seq { from x0 side: conv(3, 3, k=1) } }
        _: cat { _: identity _: seq { from x0 avgpool(3, 1, p=1) } }
        c: conv(6, 4, k=3) tanh
        flatten
        fc: linear(_, 3)
    }
}

cnn! {
    /// Before the first parameter, layers that run only for the input's gradient: a batch norm
    /// without affine parameters (a batch-wide reduction), a smooth activation, a pool and a
    /// gate of the input by itself.
    pub struct ParameterFreePrefix {
        input(2, 6, 6)
        norm: batchnorm(2, affine=false) silu
        avgpool(2, 1)
        gate { sigmoid }
        c: conv(2, 3, k=3) elu(1.0)
        flatten
        fc: linear(_, 2)
    }
}

train_gradient_check!(input_read_by_several_layers, InputReaders, InputReadersGrads);
train_gradient_check!(parameter_free_layers_before_the_first_parameter, ParameterFreePrefix, ParameterFreePrefixGrads);
train_gradient_check!(batch_norm_residual_and_conv_options, NormBlocks, NormBlocksGrads);
train_gradient_check!(every_pool_and_smooth_activations, Pools, PoolsGrads);
train_gradient_check!(softmax_empty_residual_and_dropout, Heads, HeadsGrads);

#[test]
fn dropout_masks_repeat_with_the_step_and_are_off_in_eval_mode() {
    let mut net = Heads::new(3);
    let xs: Vec<[f32; 50]> = (0..6).map(|i| common::uniform(&format!("x{i}"), 50).try_into().unwrap()).collect();
    net.set_step_count(41);
    let a = net.forward_train(&xs).to_vec();
    assert_eq!(net.step_count(), 42);
    net.set_step_count(41);
    assert_eq!(net.forward_train(&xs), &a[..], "the same step draws the same masks");
    assert_ne!(net.forward_train(&xs), &a[..], "the next step draws others");
    // Eval mode: no dropout, the same as a twin without dropout layers.
    let eval = net.forward_batch(&xs);
    assert!(eval.iter().zip(&a).any(|(e, t)| e != t));
    assert_eq!(net.forward(&xs[0]), eval[0]);
}

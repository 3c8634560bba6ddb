//! The block IR's layer kinds against PyTorch, from fixtures that `tools/gen_layer_fixtures.py`
//! wrote: two small nets that together use every layer kind and option (eval mode; train mode:
//! loss, every gradient, running statistics, and every tensor after SGD and Adam steps), and
//! torchvision's ResNet-18 and MobileNetV2, whose `state_dict` keys the DSL reproduces, with
//! seeded weights (eval mode; ResNet-18 in train mode too).

mod common;

use cnn::loss::CrossEntropy;
use cnn::prelude::*;
use common::{assert_close, assert_within, relative_error, sample_indices, Fixture};

cnn! {
    /// Every trainable layer kind and option: 'same', grouped, dilated and bias-free
    /// convolutions, batch norm 2d and 1d (eps, momentum, affine=false), residual blocks with and
    /// without a named shortcut, padded ceil-mode max pooling, adaptive average pooling, and the
    /// activations.
    pub struct Every {
        input(3, 12, 10)
        conv(3, 8, k=3, p=same, bias=false) batchnorm(8) relu6
        residual {
            conv(8, 8, k=3, p=1, g=4) batchnorm(8) leaky_relu(0.1)
            conv(8, 8, k=1) batchnorm(8, affine=false)
        } elu(0.5)
        seq { conv(8, 12, k=(3, 2), s=2, p=(1, 1), d=(1, 2)) batchnorm(12, eps=1e-3, momentum=0.2) silu }
        maxpool(3, 2, p=1, ceil_mode=true)
        block: residual {
            dw: conv(12, 12, k=3, p=1, g=12, bias=false) bn: batchnorm(12) hardswish
            pw: conv(12, 16, k=1)
        } proj: shortcut { conv(12, 16, k=1, bias=false) batchnorm(16) } gelu
        adaptive_avgpool((2, 3))
        flatten
        linear(96, 20, bias=false) batchnorm(20) hardsigmoid
        linear(20, 10)
    }
}

cnn! {
    /// The rest: an even kernel with "same" padding, average pools with ceil mode and either
    /// divisor, 'valid' padding, adaptive max pooling that grows an axis, identity, a residual
    /// block without a shortcut, the tanh GELU, global pooling, softmax and log-softmax.
    pub struct Every2 {
        input(2, 14, 13)
        conv(2, 6, k=2, p="same") sigmoid
        avgpool(2, 2, p=1, ceil_mode=true, count_include_pad=false)
        avgpool(3, 2, p=1)
        conv(6, 6, k=3, p=valid, g=2) tanh
        adaptive_maxpool((3, 1))
        identity
        residual { conv(6, 6, k=1) gelu(approximate=tanh) }
        conv(6, 8, k=1) relu
        global_avgpool
        flatten
        linear(8, 6) softmax
        linear(6, 4) log_softmax
    }
}

cnn! {
    /// Every merge and the layers that came with them, each beside batch norm where one fits:
    /// `cat`, `dense` and `gate` (squeeze-and-excitation) blocks, a ShuffleNet unit (`split`
    /// under a `_` name, then `channel_shuffle`) keyed by a string, a `sum` of three branches one
    /// of which is the identity, `layernorm2d`, a ConvNeXt block (channels-last `layernorm` and
    /// per-pixel `linear` between two `permute`s, `scale`, `stochastic_depth` with p = 0), and
    /// `layernorm` on a flat value.
    pub struct Merges {
        input(4, 8, 8)
        stem: conv(4, 8, k=3, p=1, bias=false) bn: batchnorm(8) relu
        mix: cat {
            a: seq { conv(8, 4, k=1, bias=false) batchnorm(4) relu }
            b: seq { conv(8, 4, k=3, p=1, bias=false) batchnorm(4) silu }
        }
        grow: dense { norm: batchnorm(8) relu conv: conv(8, 4, k=3, p=1, bias=false) }
        se: gate { adaptive_avgpool(1) fc1: conv(12, 3, k=1) relu fc2: conv(3, 12, k=1) hardsigmoid }
        "unit-1": seq {
            _: split { identity branch: seq { conv(6, 6, k=3, p=1, g=6, bias=false) batchnorm(6) relu } }
            _: channel_shuffle(3)
        }
        paths: sum {
            conv(12, 12, k=1)
            seq { conv(12, 12, k=3, p=1, g=3, bias=false) batchnorm(12) }
            identity
        }
        ln: layernorm2d(12)
        block: residual {
            body: seq {
                conv(12, 12, k=3, p=1, g=12) permute(0, 2, 3, 1) layernorm(12, eps=1e-6)
                linear(12, 24) gelu linear(24, 12) permute(0, 3, 1, 2)
            }
            layer_scale: scale(12, init=0.5)
            stochastic_depth: stochastic_depth(0.0, mode=row)
        }
        maxpool(2)
        flatten
        head: seq { linear(192, 16) layernorm(16) relu linear(16, 10) }
    }
}

cnn! {
    /// PyTorch options that change a layer's arithmetic: batch norm with `momentum=None` (the
    /// cumulative average), without running statistics (batch statistics in eval mode too) and
    /// without a bias; dilated max pooling; average pooling with `divisor_override`;
    /// log-softmax over the height and softmax over the last axis.
    pub struct Options {
        input(3, 10, 9)
        conv(3, 6, k=3, p=1, bias=false) batchnorm(6, momentum=None) relu
        maxpool(3, 1, p=1, dilation=2)
        conv(6, 6, k=1, bias=false) batchnorm(6, track_running_stats=false) silu
        avgpool(2, 2, p=1, divisor_override=3)
        conv(6, 4, k=1, bias=false) batchnorm(4, bias=false)
        log_softmax(dim=2) softmax(dim=-1) flatten
        linear(80, 12, bias=false) batchnorm(12, track_running_stats=false, bias=false)
        linear(12, 10)
    }
}

cnn! {
    /// Group and instance norm with PyTorch's defaults and options: groups of several channels,
    /// one group, a flat value's groups; instance norm without affine parameters or running
    /// statistics, with both, and with `momentum=None` (running values that never move).
    pub struct Norms {
        input(4, 9, 7)
        conv(4, 8, k=3, p=1) groupnorm(4, 8) relu
        conv(8, 6, k=3, p=1, bias=false) instancenorm(6) silu
        conv(6, 6, k=1) instancenorm(6, affine=true, track_running_stats=true) relu
        conv(6, 4, k=3, s=2) groupnorm(1, _, eps=1e-3, affine=false) relu
        instancenorm(4, momentum=None, affine=true, track_running_stats=true)
        flatten
        linear(48, 12) groupnorm(2, 12)
        linear(12, 10)
    }
}

cnn! {
    /// Values read far from where they are made and by several joins, which no nesting of
    /// chains and merges expresses: `let` names a value, `from` reads it again. PyTorch's
    /// forward is `s = relu(bn(stem(x)))`, `ya = relu(a(s))`, `yb = b(ya) + s`,
    /// `t = c(cat([ya, yb]))`, `t = cat([t[:, 4:12], relu(t.narrow(1, -8, 4))])`,
    /// `u = sigmoid(t) * d(s)`, `p0, p1 = torch.split(u, [5, 7], 1)`, `u = cat([e(p0), p1]) * 0.5 * skip` (a learned 0-d factor), `u = f(pad_same(u))`, `u = avg_pool(u) - u` (MetaFormer's mixer),
    /// `a` and `b` standardize their weights (timm's `ScaledStdConv2d` and `StdConv2d`),
    /// ECA's gate (`Conv1d` across the pooled channels, between two `view`s), a strided, dilated,
    /// grouped `Conv1d` with `BatchNorm1d` on `u.view(N, 12, -1)`, then the pooled head.
    pub struct Dag {
        input(3, 9, 7)
        stem: conv(3, 8, k=3, p=1, bias=false) bn: batchnorm(8) relu let s
        a: conv(8, 8, k=3, p=1, ws=true, ws_eps=1e-5, ws_gamma=1.7139588594436646) relu let ya
        b: conv(8, 8, k=1, ws=true, ws_gain=false, ws_eps=1e-8) _: sum { _: identity from s } let yb
        _: cat { from ya from yb }
        c: conv(16, 12, k=3, s=2, p=1)
        _: cat { _: narrow(1, 4, 8) _: seq { _: narrow(1, -8, 4) _: relu } }
        sigmoid
        _: mul { _: identity _: seq { from s d: conv(8, 12, k=1, s=2) } }
        _: split(5, 7) { e: conv(5, 5, k=1) _: identity } scale(by=0.5) skip: scale(scalar=true, init=0.0)
        f: conv(12, 12, k=3, s=2, p=same_tf)
        _: sub { avgpool(3, 1, 1) identity }
        eca: gate { adaptive_avgpool(1) view(1, -1) conv: conv1d(1, 1, k=3, p=1, bias=false) view(12, 1, 1) sigmoid }
        view(12, -1) g: conv1d(12, 8, k=3, s=2, p=2, d=2, g=4) bn1: batchnorm1d(8) relu
        reshape(8, 3, 1) adaptive_avgpool(1) flatten head: linear(8, 10)
    }
}

cnn! {
    /// The layers of dense prediction: convolutions with every `padding_mode` (one with 'same'
    /// padding and an even kernel), the four padding layers, pixel shuffles, transposed
    /// convolutions (output_padding up to and past the padding, groups, dilation, one without
    /// bias before a batch norm), LR-ASPP's `mul` of two branches, and upsampling in each mode,
    /// by size and by scale factor (recomputed from the sizes too), align_corners both ways.
    pub struct Resample {
        input(3, 8, 10)
        conv(3, 8, k=3, p=1, padding_mode=reflect, bias=false) batchnorm(8) relu
        conv(8, 8, k=(3, 2), p=(1, 2), padding_mode=replicate, bias=false) batchnorm(8) silu
        conv(8, 8, k=4, p=same, padding_mode=circular) tanh
        zeropad(1, 0, 2, 1)
        reflectionpad(1)
        replicationpad(2, 0, 0, 1)
        circularpad(1)
        pixel_unshuffle(2)
        conv(32, 12, k=1) relu
        pixel_shuffle(2)
        conv(3, 8, k=3, s=2, p=1)
        conv_transpose(8, 6, k=3, s=2, p=1, output_padding=1, bias=false) batchnorm(6) relu
        gated: mul { value: conv(6, 6, k=1) scale: seq { adaptive_avgpool(1) conv(6, 6, k=1) sigmoid } }
        conv_transpose(6, 4, k=(3, 2), s=(1, 2), p=(1, 0), output_padding=(0, 1), g=2, d=(2, 1))
        maxpool(2)
        upsample(scale_factor=1.5, mode=bilinear)
        upsample(size=(7, 9), mode=bilinear, align_corners=true)
        upsample(scale_factor=2)
        upsample(size=(5, 11), mode=nearest)
        upsample(scale_factor=(2, 3), mode="nearest-exact")
        interpolate(scale_factor=0.7, mode=bilinear, recompute_scale_factor=true)
        conv(4, 6, k=3, s=2) relu
        adaptive_avgpool(2)
        flatten
        linear(24, 10)
    }
}

cnn! {
    /// Two convolutions with batch norm: a U-Net's unit.
    block double_conv(cin, cout) {
        conv(cin, cout, k=3, p=1, bias=false) batchnorm(cout) relu
        conv(cout, cout, k=3, p=1, bias=false) batchnorm(cout) relu
    }

    /// A two-level U-Net: `cat` skips, a max-pool encoder, a bilinear and a transposed
    /// convolution decoder, three classes per pixel.
    pub struct UNetSmall {
        input(3, 16, 16)
        inc: double_conv(3, 8)
        level1: cat {
            identity
            down: seq {
                maxpool(2)
                conv: double_conv(8, 16)
                level2: cat {
                    identity
                    down: seq {
                        maxpool(2)
                        conv: double_conv(16, 16)
                        up: seq { upsample(scale_factor=2, mode=bilinear, align_corners=true) conv(16, 16, k=1) }
                    }
                }
                fuse: double_conv(32, 16)
                up: conv_transpose(16, 8, k=2, s=2)
            }
        }
        fuse: double_conv(16, 8)
        outc: conv(8, 3, k=1)
    }
}

cnn::models::resnet18!(pub struct ResNet64, input(3, 64, 64));
cnn::models::mobilenet_v2!(pub struct MobileNet64, input(3, 64, 64));

macro_rules! train_parity {
    ($test:ident, $net:ident, $grads:ident, $name:literal) => {
        #[test]
        fn $test() {
            let weights = common::fixture(concat!($name, ".safetensors"));
            let f = Fixture::open(concat!($name, ".train.safetensors"));
            let (xs, labels) = train_batch!($net, &f);

            let mut net = $net::new(0);
            net.load_safetensors(&weights).unwrap();
            let (loss, grads) = loss_and_grads!($net, $grads, &mut net, &xs, &labels);
            assert_close(concat!($name, " loss"), &[loss], &f.f32("loss").1);
            // A conv bias right before a batch norm has a gradient of exactly zero in theory
            // (the norm removes any per-channel constant): PyTorch's is ~1e-17 and ours f32
            // rounding noise, so such tensors are held to the scale of the network's gradients.
            let global = grads
                .params()
                .map(|p| f.f32(&format!("grad.{}", p.name)).1.iter().fold(0.0f32, |m, v| m.max(v.abs())))
                .fold(0.0, f32::max);
            for p in grads.params() {
                let want = f.f32(&format!("grad.{}", p.name)).1;
                let name = format!("{} grad {}", $name, p.name);
                if want.iter().all(|v| v.abs() <= 1e-9 * global) {
                    let err = p.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    assert!(
                        err <= 1e-5 * global,
                        "{name}: {err:e} where the gradient is zero (network gradient scale {global:e})"
                    );
                } else {
                    assert_close(&name, p.data, &want);
                }
            }
            for b in net.buffers() {
                assert_close(
                    &format!("{} running {}", $name, b.name),
                    b.data,
                    &f.f32(&format!("running.{}", b.name)).1,
                );
            }
            for c in $net::COUNTERS {
                assert_eq!(net.counter(c), Some(f.i64(&format!("running.{c}"))[0]), "{c}");
            }

            let trajectories: [(&str, usize, &mut dyn Optimizer); 2] = [
                ("sgd", 2, &mut Sgd::new(0.05).momentum(0.9).weight_decay(0.01)),
                ("adam", 3, &mut Adam::new(0.01).eps(1e-3)),
            ];
            for (opt_name, steps, opt) in trajectories {
                let mut net = $net::new(0);
                net.load_safetensors(&weights).unwrap();
                for _ in 0..steps {
                    net.train_step(&xs, &labels, &mut *opt);
                }
                for p in net.params().chain(net.buffers()) {
                    let name = format!("{} {opt_name} {}", $name, p.name);
                    let want = f.f32(&format!("{opt_name}.{}", p.name)).1;
                    let key64 = format!("{opt_name}64.{}", p.name);
                    if f.has(&key64) {
                        // Adam (eps 1e-3) moves a weight whose gradient is near zero by a step
                        // that magnifies the gradient's rounding several hundred times: held to
                        // the float64 run as PyTorch's own float32 run is (`deep_tolerance`).
                        let want64 = f.f32(&key64).1;
                        assert_within(&name, p.data, &want64, deep_tolerance(&name, &want, &want64));
                    } else {
                        assert_close(&name, p.data, &want);
                    }
                }
                for c in $net::COUNTERS {
                    assert_eq!(net.counter(c), Some(f.i64(&format!("{opt_name}.{c}"))[0]), "{c}");
                }
            }
        }
    };
}

eval_parity!(every_layer_kind_matches_pytorch_in_eval_mode, Every, "every");
eval_parity!(every_other_layer_kind_matches_pytorch_in_eval_mode, Every2, "every2");
train_parity!(every_layer_kind_trains_like_pytorch, Every, EveryGrads, "every");
train_parity!(every_other_layer_kind_trains_like_pytorch, Every2, Every2Grads, "every2");
eval_parity!(every_merge_matches_pytorch_in_eval_mode, Merges, "merges");
train_parity!(every_merge_trains_like_pytorch, Merges, MergesGrads, "merges");
train_parity!(pytorch_options_train_like_pytorch, Options, OptionsGrads, "options");
eval_parity!(every_resampling_layer_matches_pytorch_in_eval_mode, Resample, "resample");
train_parity!(every_resampling_layer_trains_like_pytorch, Resample, ResampleGrads, "resample");
eval_parity!(group_and_instance_norms_match_pytorch_in_eval_mode, Norms, "norms");
train_parity!(group_and_instance_norms_train_like_pytorch, Norms, NormsGrads, "norms");

eval_parity!(values_named_and_read_again_match_pytorch_in_eval_mode, Dag, "dag");
train_parity!(values_named_and_read_again_train_like_pytorch, Dag, DagGrads, "dag");

eval_parity!(unet_matches_pytorch_in_eval_mode, UNetSmall, "unet");

/// The U-Net's per-pixel loss, as `tools/gen_layer_fixtures.py`'s `UNET_LOSS`.
fn unet_loss() -> CrossEntropy {
    CrossEntropy::new().weight(vec![0.5, 1.0, 2.0]).ignore_index(255).label_smoothing(0.1)
}

/// A U-Net with batch norm in train mode against PyTorch float64, with one label per pixel, a
/// tenth of them ignored, class weights and label smoothing: the loss, every gradient, the
/// running statistics, and every tensor after SGD and Adam steps through `train_step_with`.
#[test]
fn unet_trains_per_pixel_like_pytorch() {
    let weights = common::fixture("unet.safetensors");
    let f = Fixture::open("unet.train.safetensors");
    let (xs, labels) = train_batch!(UNetSmall, &f);
    assert_eq!(labels.len(), xs.len() * 16 * 16);
    assert!(labels.contains(&255));

    let mut net = UNetSmall::new(0);
    net.load_safetensors(&weights).unwrap();
    let logits = net.forward_train(&xs).to_vec();
    let mut grad = vec![[0.0f32; UNetSmall::OUTPUT_LEN]; xs.len()];
    let loss = UNetSmall::cross_entropy(&logits, &labels, &unet_loss(), &mut grad).unwrap();
    // The free function, given the output's shape, is the same loss.
    let mut grad_free = vec![[0.0f32; UNetSmall::OUTPUT_LEN]; xs.len()];
    let shape = UNetSmall::OUTPUT_SHAPE;
    let free =
        cnn::loss::cross_entropy(logits.as_flattened(), &labels, shape, &unet_loss(), grad_free.as_flattened_mut());
    assert_eq!((free.unwrap(), grad_free.as_flattened()), (loss, grad.as_flattened()));
    assert_close("unet loss", &[loss], &f.f32("loss").1);
    let mut grads = UNetSmallGrads::new();
    net.backward(&grad, &mut grads);
    for p in grads.params() {
        assert_close(&format!("unet grad {}", p.name), p.data, &f.f32(&format!("grad.{}", p.name)).1);
    }
    for b in net.buffers() {
        assert_close(&format!("unet running {}", b.name), b.data, &f.f32(&format!("running.{}", b.name)).1);
    }

    let trajectories: [(&str, usize, &mut dyn Optimizer); 2] =
        [("sgd", 2, &mut Sgd::new(0.05).momentum(0.9).weight_decay(0.01)), ("adam", 3, &mut Adam::new(0.01).eps(1e-3))];
    for (opt_name, steps, opt) in trajectories {
        let mut net = UNetSmall::new(0);
        net.load_safetensors(&weights).unwrap();
        for _ in 0..steps {
            net.train_step_with(&xs, &labels, &unet_loss(), &mut *opt);
        }
        for p in net.params().chain(net.buffers()) {
            assert_close(&format!("unet {opt_name} {}", p.name), p.data, &f.f32(&format!("{opt_name}.{}", p.name)).1);
        }
    }

    // One label per pixel is what a map output takes: per sample is refused, by the numbers.
    let mut net = UNetSmall::new(0);
    let before: Vec<f32> = net.flat_params().iter().chain(net.buffers().flat_map(|b| b.data.iter())).copied().collect();
    let e = net.try_train_step(&xs, &labels[..4], &mut Sgd::new(0.1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "4 labels for a batch of 4 samples of 256 pixels each: expected one label per pixel, 1024"
    );
    let e = net.try_train_step(&xs, &labels, &mut Sgd::new(0.1)).unwrap_err();
    assert!(e.to_string().starts_with("label 255 at position"), "255 is a class unless ignored: {e}");
    assert_eq!(net.step_count(), 0, "a refused step changes nothing");
    let after: Vec<f32> = net.flat_params().iter().chain(net.buffers().flat_map(|b| b.data.iter())).copied().collect();
    assert_eq!(before, after, "nor the weights or running statistics");
    assert!(UNetSmall::COUNTERS.iter().all(|c| net.counter(c) == Some(0)));
}

/// A batch norm without running statistics normalizes with the batch's own statistics in eval
/// mode too, so the options net is compared batch against batch: PyTorch's eval output of the
/// same four samples.
#[test]
fn pytorch_options_match_pytorch_in_eval_mode() {
    let mut net = Options::new(0);
    net.load_safetensors(common::fixture("options.safetensors")).unwrap();
    let f = Fixture::open("options.io.safetensors");
    let xs: Vec<[f32; Options::INPUT_LEN]> =
        f.f32("input").1.chunks_exact(Options::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
    let ys = net.forward_batch(&xs);
    assert_close("options", ys.as_flattened(), &f.f32("output").1);
    assert_eq!(Options::COUNTERS, ["1.num_batches_tracked", "9.num_batches_tracked"]);
    assert!(net.buffers().all(|b| !b.name.starts_with("5.") && !b.name.starts_with("14.")));
    assert!(net.params().all(|p| !["0.bias", "9.bias", "13.bias", "14.bias"].contains(&p.name)));
}

/// Tolerance for a deep net: three times as far as PyTorch's own float32 run is from the float64
/// reference, and never tighter than 1e-5.
fn deep_tolerance(ours: &str, torch32: &[f32], reference: &[f32]) -> f32 {
    let theirs = relative_error(torch32, reference);
    println!("{ours}: PyTorch float32 vs float64 {theirs:.2e}");
    (3.0 * theirs).max(1e-5)
}

macro_rules! torchvision_eval {
    ($test:ident, $net:ident, $name:literal) => {
        #[test]
        fn $test() {
            let mut net = $net::new(0);
            fill_seeded!(net);
            let f = Fixture::open(concat!($name, ".io.safetensors"));
            let xs: Vec<[f32; $net::INPUT_LEN]> =
                f.f32("input").1.chunks_exact($net::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
            let ys = net.forward_batch(&xs);
            let (want, want32) = (f.f32("output").1, f.f32("output32").1);
            assert_within($name, ys.as_flattened(), &want, deep_tolerance($name, &want32, &want));
            assert_eq!(net.forward(&xs[1]), ys[1], "one sample alone gives the batch's answer, bit for bit");
        }
    };
}

torchvision_eval!(torchvision_resnet18_matches_in_eval_mode, ResNet64, "resnet18");
torchvision_eval!(torchvision_mobilenet_v2_matches_in_eval_mode, MobileNet64, "mobilenet_v2");

/// The values of `data` at the fixture's sample positions.
fn sampled(data: &[f32]) -> Vec<f32> {
    sample_indices(data.len()).into_iter().map(|i| data[i]).collect()
}

#[test]
fn torchvision_resnet18_trains_like_pytorch() {
    let f = Fixture::open("resnet18.train.safetensors");
    let (xs, labels) = train_batch!(ResNet64, &f);
    // Each family of results (gradients, running statistics, the optimizers' trajectories) is
    // held to PyTorch's own largest float32 error in that family, three times over for the
    // gradients and statistics: which tensor rounding hurts most is itself a matter of
    // rounding. The trajectories' second step takes a gradient that is not continuous in the
    // weights (a ReLU or a pool's maximum switching over): PyTorch's own float32 SGD run ends
    // 2.4e-4 from its float64 one for that reason, and two float32 runs of ours that differ only
    // in the order of a convolution's sums end as far apart from each other. So the
    // trajectories are one family (both optimizers) held to five times PyTorch's error.
    let theirs = |keys: &mut dyn Iterator<Item = String>| {
        keys.map(|key| relative_error(&f.f32(&key.replacen('.', "32.", 1)).1, &f.f32(&key).1)).fold(0.0f32, f32::max)
    };
    let check = |what: &str, tensors: Vec<(String, Vec<f32>)>, theirs: f32, factor: f32| {
        let tol = (factor * theirs).max(1e-5);
        println!("resnet18 {what}: PyTorch float32 vs float64 at most {theirs:.2e}");
        for (key, got) in &tensors {
            assert_within(&format!("resnet18 {key}"), &sampled(got), &f.f32(key).1, tol);
        }
    };
    let mut net = ResNet64::new(0);
    fill_seeded!(net);
    let start = net.clone();
    let (loss, grads) = loss_and_grads!(ResNet64, ResNet64Grads, &mut net, &xs, &labels);
    assert_within(
        "resnet18 loss",
        &[loss],
        &f.f32("loss").1,
        deep_tolerance("loss", &f.f32("loss32").1, &f.f32("loss").1),
    );
    let grad_keys = || grads.params().map(|p| format!("grad.{}", p.name));
    check(
        "gradients",
        grads.params().map(|p| (format!("grad.{}", p.name), p.data.to_vec())).collect(),
        theirs(&mut grad_keys()),
        3.0,
    );
    let running_keys = || net.buffers().map(|b| format!("running.{}", b.name));
    check(
        "running statistics",
        net.buffers().map(|b| (format!("running.{}", b.name), b.data.to_vec())).collect(),
        theirs(&mut running_keys()),
        3.0,
    );
    let tensor_names: Vec<&str> = ResNet64::PARAMS.iter().chain(ResNet64::BUFFERS).map(|p| p.name).collect();
    let trajectory_error =
        theirs(&mut ["sgd", "adam"].iter().flat_map(|o| tensor_names.iter().map(move |n| format!("{o}.{n}"))));
    let trajectories: [(&str, &mut dyn Optimizer); 2] =
        [("sgd", &mut Sgd::new(0.01).momentum(0.9).weight_decay(1e-4)), ("adam", &mut Adam::new(1e-3).eps(1e-3))];
    for (opt_name, opt) in trajectories {
        let mut net = start.clone();
        for _ in 0..2 {
            net.train_step(&xs, &labels, &mut *opt);
        }
        check(
            opt_name,
            net.params().chain(net.buffers()).map(|p| (format!("{opt_name}.{}", p.name), p.data.to_vec())).collect(),
            trajectory_error,
            5.0,
        );
    }
}

#[test]
fn torchvision_state_dict_keys() {
    let names = |specs: &[cnn::ParamSpec]| specs.iter().map(|p| p.name).collect::<Vec<_>>();
    let params = names(ResNet64::PARAMS);
    assert_eq!(params.len(), 62);
    assert_eq!(&params[..3], ["conv1.weight", "bn1.weight", "bn1.bias"]);
    assert!(params.contains(&"layer2.0.downsample.0.weight") && params.contains(&"layer4.1.bn2.bias"));
    assert_eq!(&params[60..], ["fc.weight", "fc.bias"]);
    assert_eq!(ResNet64::BUFFERS.len(), 40);
    assert_eq!(ResNet64::COUNTERS.len(), 20);
    assert_eq!(ResNet64::COUNTERS[0], "bn1.num_batches_tracked");
    let m = names(MobileNet64::PARAMS);
    assert_eq!(
        &m[..4],
        ["features.0.0.weight", "features.0.1.weight", "features.0.1.bias", "features.1.conv.0.0.weight"]
    );
    assert!(m.contains(&"features.2.conv.3.bias") && m.contains(&"features.18.1.weight"));
    assert_eq!(&m[m.len() - 2..], ["classifier.1.weight", "classifier.1.bias"]);
}

/// Every layer's output from `activations` equals PyTorch's forward hooks on the same module
/// (eval mode, float64 there) within 1e-5, blocks included: a residual block's key names its
/// sum, a layer inside it `block.key`.
macro_rules! activation_parity {
    ($test:ident, $net:ident, $name:literal) => {
        activation_parity!($test, $net, $name, true);
    };
    ($test:ident, $net:ident, $name:literal, $has_blocks:expr) => {
        #[test]
        fn $test() {
            let mut net = $net::new(0);
            net.load_safetensors(common::fixture(concat!($name, ".safetensors"))).unwrap();
            let (_, x) = common::Fixture::open(concat!($name, ".io.safetensors")).f32("input");
            let acts = common::Fixture::open(concat!($name, ".acts.safetensors"));
            for (s, x) in x.chunks_exact($net::INPUT_LEN).enumerate() {
                let got = net.activations(x.try_into().unwrap());
                assert!(got.len() >= 10, "{} layers", got.len());
                let mut blocks = 0;
                for (key, t) in &got {
                    let (shape, want) = acts.f32(&format!("act.{key}"));
                    assert_eq!(&shape[1..], &t.shape[..], "{key}");
                    let per = t.data.len();
                    common::assert_close(
                        &format!("{} {key} sample {s}", $name),
                        &t.data,
                        &want[s * per..(s + 1) * per],
                    );
                    blocks += usize::from(key.chars().any(|c| c.is_ascii_alphabetic()) || key.contains('.'));
                }
                assert!(blocks > 0 || !$has_blocks, "layers inside blocks are among the keys");
                let (last_key, last) = got.last().unwrap();
                // The same numbers as `forward`, up to rounding: `forward` folds batch norms.
                let y = net.forward(x.try_into().unwrap());
                common::assert_close(&format!("the last is the output ({last_key})"), &last.data, &y);
                assert_eq!(net.activation(x.try_into().unwrap(), got[2].0).as_ref(), Some(&got[2].1));
                assert!(net.activation(x.try_into().unwrap(), "nope").is_none());
            }
        }
    };
}

activation_parity!(every_activation_matches_pytorch_hooks, Every, "every");
activation_parity!(every_other_activation_matches_pytorch_hooks, Every2, "every2");
activation_parity!(every_merge_activation_matches_pytorch_hooks, Merges, "merges");
activation_parity!(every_resampling_activation_matches_pytorch_hooks, Resample, "resample", false);
activation_parity!(every_norm_activation_matches_pytorch_hooks, Norms, "norms", false);

/// Each merge's output is read under its block's key, as a hook on the PyTorch module sees it;
/// a `_` block's join under the module it ends (`unit-1`, after its channel shuffle), once.
#[test]
fn merges_are_keyed_like_their_modules() {
    let net = Merges::new(0);
    let keys: Vec<&str> = net.activations(&[0.5; Merges::INPUT_LEN]).into_iter().map(|(k, _)| k).collect();
    for key in ["mix", "mix.a.0", "grow", "grow.conv", "se", "se.fc1", "unit-1", "unit-1.0", "unit-1.branch.2"] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    for key in ["paths", "paths.2", "ln", "block", "block.body.1", "block.layer_scale", "head.1"] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    assert_eq!(keys.iter().filter(|&&k| k == "unit-1").count(), 1);
    assert_eq!(net.param("block.layer_scale").unwrap().shape, &[12, 1, 1]);
}

/// Every key `SUMMARY` lists is answered by `activation`, blocks' (`seq`, `shortcut`) too, as
/// PyTorch's hooks give a `Sequential`'s output; a `seq`'s is its last layer's.
#[test]
fn every_summary_key_is_an_activation() {
    fn check(summary: &str, keys: &[&str]) {
        let listed: Vec<&str> = summary
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(listed.len() > 5, "{summary}");
        for key in listed {
            assert!(keys.contains(&key), "{key} of SUMMARY is not among {keys:?}");
        }
    }
    let every = Every::new(0);
    let acts = every.activations(&[0.25; Every::INPUT_LEN]);
    check(Every::SUMMARY, &acts.iter().map(|a| a.0).collect::<Vec<_>>());
    let every2 = Every2::new(0);
    check(Every2::SUMMARY, &every2.activations(&[0.25; Every2::INPUT_LEN]).iter().map(|a| a.0).collect::<Vec<_>>());
    let merges = Merges::new(0);
    check(Merges::SUMMARY, &merges.activations(&[0.25; Merges::INPUT_LEN]).iter().map(|a| a.0).collect::<Vec<_>>());
}

/// PyTorch refuses to normalize one flat sample by its own statistics ("Expected more than 1
/// value per channel"); so does a batch norm without running statistics here, by name.
#[test]
#[should_panic(expected = "needs more than 1 sample")]
fn a_flat_batch_norm_without_running_statistics_refuses_one_sample() {
    let net = Options::new(0);
    net.forward(&[0.5; Options::INPUT_LEN]);
}

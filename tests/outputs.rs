//! Networks with several named outputs (`output NAME`) and a module applied to several values
//! (`NAME: reuse`): a feature pyramid written with `let`, `from` and `output` and RetinaNet's
//! head applied to its five levels with one set of weights, against torchvision's own
//! `BackboneWithFPN` (IntermediateLayerGetter, FeaturePyramidNetwork, LastLevelP6P7) and
//! `RetinaNetHead` on the fixtures of `python3 tools/gen_layer_fixtures.py --pyramid-only`: its
//! `state_dict` loads strictly, every output matches in eval mode, and a loss over all of them
//! gives PyTorch's parameter gradients (the head's summed over its five uses) and running
//! statistics in train mode. Then the outputs struct, `OUTPUTS`, the summary and the training
//! API's refusal of a cross-entropy step.

mod common;

use cnn::prelude::*;
use common::{assert_close, Fixture};

cnn::cnn! {
    /// A small ResNet-like body with torchvision's FPN on `layer2..layer4` and P6/P7 from P5,
    /// keyed as `BackboneWithFPN` keys it.
    pub struct Pyramid {
        input(3, 40, 24)
        backbone: seq {
            body: seq {
                conv1: conv(3, 8, k=3, s=2, p=1, bias=false) bn1: frozen_batchnorm(8) relu: relu
                layer2: seq { conv(8, 12, k=3, s=2, p=1, bias=false) batchnorm(12) relu } let c3
                layer3: seq { conv(12, 16, k=3, s=2, p=1, bias=false) batchnorm(16) relu } let c4
                layer4: seq { conv(16, 20, k=3, s=2, p=1, bias=false) batchnorm(20) relu }
            }
            fpn: seq {
                // Top-down: each level's lateral 1x1 plus the coarser level's sum, upsampled
                // to its size (nearest), then a 3x3 output conv.
                inner_blocks.2.0: conv(20, 8, k=1) let i5
                layer_blocks.2.0: conv(8, 8, k=3, p=1) let p5
                from c4 inner_blocks.1.0: conv(16, 8, k=1)
                _: sum { _: identity _: seq { from i5 _: upsample(size=(5, 3), mode=nearest) } } let i4
                layer_blocks.1.0: conv(8, 8, k=3, p=1) let p4
                from c3 inner_blocks.0.0: conv(12, 8, k=1)
                _: sum { _: identity _: seq { from i4 _: upsample(size=(10, 6), mode=nearest) } }
                layer_blocks.0.0: conv(8, 8, k=3, p=1) output p3
                from p4 output p4
                from p5 output p5
                // LastLevelP6P7 on P5 (its in and out channels agree).
                extra_blocks.p6: conv(8, 8, k=3, s=2, p=1) output p6
                _: relu extra_blocks.p7: conv(8, 8, k=3, s=2, p=1) output p7
            }
        }
        // RetinaNetHead: each head built on P3 and reused on the other levels, its logits
        // permuted to channels-last: `[H, W, A * K]` is torchvision's `[H * W * A, K]`.
        from p3 head.classification_head: seq {
            conv: seq { for i in 0..4 { "{i}": seq { conv(8, 8, k=3, p=1) relu } } }
            cls_logits: conv(8, 12, k=3, p=1)
        } _: permute(0, 2, 3, 1) output cls_p3
        from p4 head.classification_head: reuse _: permute(0, 2, 3, 1) output cls_p4
        from p5 head.classification_head: reuse _: permute(0, 2, 3, 1) output cls_p5
        from p6 head.classification_head: reuse _: permute(0, 2, 3, 1) output cls_p6
        from p7 head.classification_head: reuse _: permute(0, 2, 3, 1) output cls_p7
        from p3 head.regression_head: seq {
            conv: seq { for i in 0..4 { "{i}": seq { conv(8, 8, k=3, p=1) relu } } }
            bbox_reg: conv(8, 12, k=3, p=1)
        } _: permute(0, 2, 3, 1) output box_p3
        from p4 head.regression_head: reuse _: permute(0, 2, 3, 1) output box_p4
        from p5 head.regression_head: reuse _: permute(0, 2, 3, 1) output box_p5
        from p6 head.regression_head: reuse _: permute(0, 2, 3, 1) output box_p6
        from p7 head.regression_head: reuse _: permute(0, 2, 3, 1) output box_p7
    }
}

const LEVELS: [&str; 5] = ["p3", "p4", "p5", "p6", "p7"];

/// The outputs that make torchvision's output `k` (one sample's part of it, in order): the five
/// levels, then the head's `cls_logits` and `bbox_regression`, each the levels' one after another.
fn parts(k: usize) -> std::ops::Range<usize> {
    match k {
        0..5 => k..k + 1,
        5 => 5..10,
        _ => 10..15,
    }
}

/// One sample's part of torchvision's output `k`.
fn torch_view(y: &PyramidOutputs, k: usize) -> Vec<f32> {
    parts(k).flat_map(|o| Pyramid::OUTPUTS[o].of(y.as_slice()).to_vec()).collect()
}

fn inputs(f: &Fixture) -> Vec<[f32; Pyramid::INPUT_LEN]> {
    f.f32("input").1.chunks_exact(Pyramid::INPUT_LEN).map(|c| c.try_into().unwrap()).collect()
}

#[test]
fn a_feature_pyramid_and_a_shared_head_match_torchvision_in_eval_mode() {
    let mut net = Pyramid::new(0);
    net.load_safetensors(common::fixture("pyramid.safetensors")).unwrap();
    let f = Fixture::open("pyramid.io.safetensors");
    let xs = inputs(&f);
    let ys = net.forward_batch(&xs);
    for k in 0..7 {
        let (shape, want) = f.f32(&format!("out.{k}"));
        if let Some(level) = LEVELS.get(k) {
            assert_eq!(Pyramid::OUTPUTS[k].name, *level);
            assert_eq!(&shape[1..], Pyramid::OUTPUTS[k].shape, "{level}");
        }
        let got: Vec<f32> = ys.iter().flat_map(|y| torch_view(y, k)).collect();
        assert_close(&format!("pyramid output {k}"), &got, &want);
    }
    // The fields are the flat sample's parts at `OUTPUTS`' offsets.
    assert_eq!(Pyramid::OUTPUTS[3].of(ys[1].as_slice()), &ys[1].p6);
    assert_eq!(Pyramid::OUTPUTS[14].of(ys[1].as_slice()), &ys[1].box_p7);
    for (x, y) in xs.iter().zip(&ys) {
        assert_eq!(&net.forward(x), y, "one sample alone gives the batch's answer");
    }
    // Each output is also the activation of the module that makes it; a reused module's keys
    // show its first use.
    let acts = net.activations(&xs[0]);
    let act = |key: &str| &acts.iter().find(|(k, _)| *k == key).unwrap().1;
    assert_eq!(act("backbone.fpn.layer_blocks.0.0").data, ys[0].p3.to_vec());
    assert_eq!(act("backbone.fpn.extra_blocks.p7").shape, vec![8, 1, 1]);
    assert_eq!(act("backbone.fpn.extra_blocks.p7").data, ys[0].p7.to_vec());
    assert_eq!(act("head.classification_head.cls_logits").shape, vec![12, 10, 6]);
    assert_eq!(acts.iter().filter(|(k, _)| *k == "head.classification_head.cls_logits").count(), 1);
}

#[test]
fn a_feature_pyramid_and_a_shared_head_train_like_torchvision() {
    let weights = common::fixture("pyramid.safetensors");
    let f = Fixture::open("pyramid.train.safetensors");
    let xs = inputs(&f);
    let mut net = Pyramid::new(0);
    net.load_safetensors(&weights).unwrap();
    let ys = net.forward_train(&xs).to_vec();
    // loss = sum over torchvision's outputs of mean((y - t)^2); its gradient, put back into
    // the outputs that make each of them (a level is an output and the head's input too).
    let mut grad = PyramidOutputs::zeroed_vec(xs.len());
    let mut loss = 0.0f64;
    for k in 0..7 {
        let target = f.f32(&format!("target.{k}")).1;
        let len = target.len() / xs.len();
        let count = target.len() as f32;
        for (n, (y, g)) in ys.iter().zip(grad.iter_mut()).enumerate() {
            let (y, t) = (torch_view(y, k), &target[n * len..(n + 1) * len]);
            let mut at = 0;
            for o in parts(k) {
                let spec = Pyramid::OUTPUTS[o];
                for (i, g) in g.as_mut_slice()[spec.offset..][..spec.len()].iter_mut().enumerate() {
                    let d = y[at + i] - t[at + i];
                    loss += f64::from(d * d) / f64::from(count);
                    *g = 2.0 * d / count;
                }
                at += spec.len();
            }
        }
    }
    assert_close("pyramid loss", &[loss as f32], &f.f32("loss").1);
    let mut grads = PyramidGrads::new();
    net.backward(&grad, &mut grads);
    let mut checked = 0;
    for p in grads.params() {
        assert_close(&format!("pyramid grad {}", p.name), p.data, &f.f32(&format!("grad.{}", p.name)).1);
        checked += 1;
    }
    assert_eq!(checked, Pyramid::PARAMS.len());
    assert_eq!(Pyramid::PARAMS.iter().filter(|p| p.name.starts_with("head.")).count(), 20);
    for b in net.buffers() {
        assert_close(&format!("pyramid running {}", b.name), b.data, &f.f32(&format!("running.{}", b.name)).1);
    }
    for c in Pyramid::COUNTERS {
        assert_eq!(net.counter(c), Some(f.i64(&format!("running.{c}"))[0]), "{c}");
    }

    // Bit-identical on one thread and on several.
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let mut single = Pyramid::new(0);
    single.load_safetensors(&weights).unwrap();
    let mut grads1 = PyramidGrads::new();
    one.install(|| {
        single.forward_train(&xs);
        single.backward(&grad, &mut grads1);
    });
    assert_eq!(grads1.flat(), grads.flat(), "gradients differ between 1 thread and the pool");
}

#[test]
fn the_outputs_struct_and_tables_describe_each_output() {
    let specs: Vec<(&str, &[usize], usize)> =
        Pyramid::OUTPUTS[..6].iter().map(|o| (o.name, o.shape, o.offset)).collect();
    assert_eq!(
        specs,
        [
            ("p3", &[8, 10, 6][..], 0),
            ("p4", &[8, 5, 3][..], 480),
            ("p5", &[8, 3, 2][..], 600),
            ("p6", &[8, 2, 1][..], 648),
            ("p7", &[8, 1, 1][..], 664),
            ("cls_p3", &[10, 6, 12][..], 672),
        ]
    );
    // Levels, then 3 anchors x 4 classes and 3 anchors x 4 coordinates at each of 84 cells.
    let len = 672 + 2 * 84 * 12;
    assert_eq!(Pyramid::OUTPUT_LEN, len);
    assert_eq!(Pyramid::OUTPUT_SHAPE, &[len]);
    assert_eq!(std::mem::size_of::<PyramidOutputs>(), len * 4);
    // The reuses add no parameters: the head's are counted once.
    let head: usize =
        Pyramid::PARAMS.iter().filter(|p| p.name.starts_with("head.")).map(|p| p.shape.iter().product::<usize>()).sum();
    assert_eq!(head, 2 * (4 * (8 * 8 * 9 + 8) + 12 * 8 * 9 + 12));
    assert!(Pyramid::SUMMARY.lines().any(|l| l.contains("head.classification_head: reuse")), "{}", Pyramid::SUMMARY);
    let total: usize = Pyramid::SUMMARY.lines().last().unwrap().split_whitespace().last().unwrap().parse().unwrap();
    assert_eq!(total, Pyramid::PARAM_COUNT);
    for name in LEVELS {
        assert!(
            Pyramid::SUMMARY.lines().any(|l| l.trim_start().starts_with(&format!("output {name} "))),
            "{name} in\n{}",
            Pyramid::SUMMARY
        );
    }
    // A network without named outputs has one, named "".
    cnn::cnn! {
        struct One { input(1, 4, 4) conv(1, 2, k=3) flatten }
    }
    assert_eq!(One::OUTPUTS, &[cnn::OutputSpec { name: "", shape: &[8], offset: 0 }]);
}

#[test]
fn a_cross_entropy_step_refuses_several_outputs() {
    let mut net = Pyramid::new(0);
    let xs = vec![[0.5f32; Pyramid::INPUT_LEN]; 2];
    let before = net.flat_params().to_vec();
    let err = net.try_train_step(&xs, &[0, 1], &mut Sgd::new(0.1)).unwrap_err();
    let names: Vec<&str> = Pyramid::OUTPUTS.iter().map(|o| o.name).collect();
    assert_eq!(err, TrainError::SeveralOutputs { outputs: names });
    assert!(err.to_string().contains("15 outputs (p3, p4, p5, p6, p7, cls_p3,"), "{err}");
    assert_eq!(net.flat_params(), &before[..]);
    assert_eq!(net.step_count(), 0);
}

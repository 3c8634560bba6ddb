//! Networks with several named outputs (`output NAME`): a feature pyramid written with `let`,
//! `from` and `output` against torchvision's own `BackboneWithFPN` (IntermediateLayerGetter,
//! FeaturePyramidNetwork, LastLevelP6P7) on the fixtures of
//! `python3 tools/gen_layer_fixtures.py --pyramid-only`: its `state_dict` loads strictly, every
//! output matches in eval mode, and a loss over all five outputs gives PyTorch's parameter
//! gradients and running statistics in train mode. Then the outputs struct, `OUTPUTS`, the
//! summary and the training API's refusal of a cross-entropy step.

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
                conv1: conv(3, 8, k=3, s=2, p=1, bias=false) bn1: batchnorm(8) relu: relu
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
    }
}

const NAMES: [&str; 5] = ["p3", "p4", "p5", "p6", "p7"];

/// The outputs' fields in order, as slices.
fn fields(y: &PyramidOutputs) -> [&[f32]; 5] {
    [&y.p3, &y.p4, &y.p5, &y.p6, &y.p7]
}

fn inputs(f: &Fixture) -> Vec<[f32; Pyramid::INPUT_LEN]> {
    f.f32("input").1.chunks_exact(Pyramid::INPUT_LEN).map(|c| c.try_into().unwrap()).collect()
}

/// The fixture's tensor `{prefix}.{k}` for output `k`, split per sample.
fn per_output(f: &Fixture, prefix: &str, k: usize) -> (Vec<usize>, Vec<f32>) {
    f.f32(&format!("{prefix}.{k}"))
}

#[test]
fn a_feature_pyramid_matches_torchvision_in_eval_mode() {
    let mut net = Pyramid::new(0);
    net.load_safetensors(common::fixture("pyramid.safetensors")).unwrap();
    let f = Fixture::open("pyramid.io.safetensors");
    let xs = inputs(&f);
    let ys = net.forward_batch(&xs);
    for (k, spec) in Pyramid::OUTPUTS.iter().enumerate() {
        let (shape, want) = per_output(&f, "out", k);
        assert_eq!(spec.name, NAMES[k]);
        assert_eq!(&shape[1..], spec.shape, "{}", spec.name);
        let got: Vec<f32> = ys.iter().flat_map(|y| fields(y)[k].iter().copied()).collect();
        assert_close(&format!("pyramid {}", spec.name), &got, &want);
        // The flat view of a sample holds each output at its offset.
        let flat: Vec<f32> = ys.iter().flat_map(|y| spec.of(y.as_slice()).to_vec()).collect();
        assert_eq!(flat, got);
    }
    for (x, y) in xs.iter().zip(&ys) {
        assert_eq!(&net.forward(x), y, "one sample alone gives the batch's answer");
    }
    // Each output is also the activation of the module that makes it.
    let acts = net.activations(&xs[0]);
    let act = |key: &str| &acts.iter().find(|(k, _)| *k == key).unwrap().1;
    assert_eq!(act("backbone.fpn.layer_blocks.0.0").data, ys[0].p3.to_vec());
    assert_eq!(act("backbone.fpn.extra_blocks.p7").shape, vec![8, 1, 1]);
    assert_eq!(act("backbone.fpn.extra_blocks.p7").data, ys[0].p7.to_vec());
}

#[test]
fn a_feature_pyramid_trains_like_torchvision() {
    let weights = common::fixture("pyramid.safetensors");
    let f = Fixture::open("pyramid.train.safetensors");
    let xs = inputs(&f);
    let mut net = Pyramid::new(0);
    net.load_safetensors(&weights).unwrap();
    let ys = net.forward_train(&xs).to_vec();
    // loss = sum over outputs of mean((y - t)^2); its gradient, one value per output.
    let mut grad = PyramidOutputs::zeroed_vec(xs.len());
    let mut loss = 0.0f64;
    for k in 0..NAMES.len() {
        let (_, target) = per_output(&f, "target", k);
        let len = Pyramid::OUTPUTS[k].len();
        let count = (len * xs.len()) as f32;
        for (n, (y, g)) in ys.iter().zip(grad.iter_mut()).enumerate() {
            let (y, t) = (fields(y)[k], &target[n * len..(n + 1) * len]);
            let g = &mut g.as_mut_slice()[Pyramid::OUTPUTS[k].offset..][..len];
            for i in 0..len {
                let d = y[i] - t[i];
                loss += f64::from(d * d) / f64::from(count);
                g[i] = 2.0 * d / count;
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
    let specs: Vec<(&str, &[usize], usize)> = Pyramid::OUTPUTS.iter().map(|o| (o.name, o.shape, o.offset)).collect();
    assert_eq!(
        specs,
        [
            ("p3", &[8, 10, 6][..], 0),
            ("p4", &[8, 5, 3][..], 480),
            ("p5", &[8, 3, 2][..], 600),
            ("p6", &[8, 2, 1][..], 648),
            ("p7", &[8, 1, 1][..], 664),
        ]
    );
    assert_eq!(Pyramid::OUTPUT_LEN, 672);
    assert_eq!(Pyramid::OUTPUT_SHAPE, &[672]);
    assert_eq!(std::mem::size_of::<PyramidOutputs>(), 672 * 4);
    for name in NAMES {
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
    assert_eq!(err, TrainError::SeveralOutputs { outputs: NAMES.to_vec() });
    assert!(err.to_string().contains("5 outputs (p3, p4, p5, p6, p7)"), "{err}");
    assert_eq!(net.flat_params(), &before[..]);
    assert_eq!(net.step_count(), 0);
}

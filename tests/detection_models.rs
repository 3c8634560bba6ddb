//! torchvision's detection models from `cnn::models` against torchvision on the fixtures of
//! `python3 tools/gen_detection_fixtures.py` (COCO's architectures: frozen batch norms; every
//! tensor seeded from its name on both sides, so no weights are committed; a 64x64 input the
//! transform does not resize): the same `state_dict` keys and shapes, the heads' outputs within
//! PyTorch's own float32 distance from float64, and the whole pipeline (`normalize_and_resize`,
//! the network, `AnchorGenerator`, `Postprocess`) giving torchvision's detections one to one: the
//! same labels in the same order, boxes and scores within float32's reach.

#[macro_use]
mod common;

use cnn::detect::{normalize_and_resize, resize_boxes, AnchorGenerator, Detection, LevelOutputs, Postprocess};
use cnn::prelude::*;
use common::{assert_within, relative_error, Fixture};

cnn::models::retinanet_resnet50_fpn!(pub struct RetinaNet64, input(3, 64, 64));
cnn::models::fcos_resnet50_fpn!(pub struct Fcos64, input(3, 64, 64));

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];
/// P3 .. P7 of a 64x64 input.
const LEVELS: [(usize, usize); 5] = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)];

/// One level's head outputs for a picture: class logits, box codes and (FCOS) centre-ness.
type Level<'a> = (&'a [f32], &'a [f32], Option<&'a [f32]>);

/// One picture's head outputs at each level.
type Heads<'a> = [Level<'a>; 5];

/// `$net` seeded by name, checked against the fixture of torchvision's `$name`: keys, the heads'
/// outputs, and the detections of `$post` with `$anchors`; `$heads` gives a picture's [`Heads`].
macro_rules! detector_parity {
    ($net:ident, $name:literal, $anchors:expr, $post:expr, $heads:expr) => {{
        let f = Fixture::open(concat!("zoo/", $name, ".safetensors"));
        let mut want: Vec<String> = f.text("keys").lines().map(str::to_string).collect();
        want.sort();
        assert_eq!(state_dict_text!($net), want, "{}: state_dict keys and shapes", $name);
        assert_eq!($net::PARAM_COUNT as i64, f.i64("param_count")[0]);
        let mut net = $net::new(0);
        fill_seeded!(net);
        // The transform: normalized, and kept at 64x64 (min_size = max_size = 64).
        let xs: Vec<[f32; $net::INPUT_LEN]> = f
            .f32("input")
            .1
            .chunks_exact($net::INPUT_LEN)
            .map(|image| {
                let (x, size) = normalize_and_resize(image, (64, 64), &MEAN, &STD, 64.0, 64.0).unwrap();
                assert_eq!(size, (64, 64));
                x.try_into().unwrap()
            })
            .collect();
        let ys = net.forward_batch(&xs);
        let heads: Vec<Heads<'_>> = ys.iter().map($heads).collect();
        check(&f, $name, &heads, &$anchors, &mut $post);
    }};
}

/// The heads' outputs (each level's one after another are torchvision's `cls_logits`,
/// `bbox_regression` and `bbox_ctrness`) and the detections, against the fixture.
fn check(f: &Fixture, name: &str, heads: &[Heads<'_>], generator: &AnchorGenerator, post: &mut Postprocess) {
    let cat = |pick: &dyn Fn(&Level<'_>) -> Option<Vec<f32>>| -> Vec<f32> {
        heads.iter().flat_map(|h| h.iter().filter_map(pick).flatten().collect::<Vec<f32>>()).collect()
    };
    let outputs = [
        ("cls_logits", cat(&|h| Some(h.0.to_vec()))),
        ("bbox_regression", cat(&|h| Some(h.1.to_vec()))),
        ("bbox_ctrness", cat(&|h| h.2.map(<[f32]>::to_vec))),
    ];
    for (key, got) in outputs.iter().filter(|(_, got)| !got.is_empty()) {
        let (want, want32) = (f.f32(key).1, f.f32(&format!("{key}32")).1);
        assert_within(&format!("{name} {key}"), got, &want, (3.0 * relative_error(&want32, &want)).max(1e-5));
    }
    let anchors = generator.anchors((64, 64), &LEVELS).unwrap();
    let classes = 91;
    for (i, levels) in heads.iter().enumerate() {
        let mut at = 0;
        let inputs: Vec<LevelOutputs<'_>> = levels
            .iter()
            .map(|&(cls, reg, ctr)| {
                let n = reg.len() / 4;
                at += n;
                LevelOutputs { cls_logits: cls, bbox_regression: reg, bbox_ctrness: ctr, anchors: &anchors[at - n..at] }
            })
            .collect();
        let mut d = Detection::default();
        post.detect_into(&inputs, classes, (64, 64), &mut d).unwrap();
        let boxes = resize_boxes(&d.boxes, (64, 64), (64, 64));
        let labels: Vec<i64> = d.labels.iter().map(|&l| l as i64).collect();
        assert_eq!(labels, f.i64(&format!("det{i}.labels")), "{name} image {i}: labels in order");
        let flat: Vec<f32> = boxes.iter().flatten().copied().collect();
        for (what, got) in [("boxes", &flat), ("scores", &d.scores)] {
            let (want, want32) = (f.f32(&format!("det{i}.{what}")).1, f.f32(&format!("det32{i}.{what}")).1);
            let bound = (3.0 * relative_error(&want32, &want)).max(1e-5);
            assert_within(&format!("{name} image {i} {what}"), got, &want, bound);
        }
    }
}

#[test]
fn retinanet_resnet50_fpn_matches_torchvision() {
    detector_parity!(
        RetinaNet64,
        "retinanet_resnet50_fpn",
        AnchorGenerator::retinanet(),
        Postprocess::retinanet(),
        |y| {
            [
                (&y.cls_logits_p3[..], &y.bbox_regression_p3[..], None),
                (&y.cls_logits_p4[..], &y.bbox_regression_p4[..], None),
                (&y.cls_logits_p5[..], &y.bbox_regression_p5[..], None),
                (&y.cls_logits_p6[..], &y.bbox_regression_p6[..], None),
                (&y.cls_logits_p7[..], &y.bbox_regression_p7[..], None),
            ]
        }
    );
}

#[test]
fn fcos_resnet50_fpn_matches_torchvision() {
    detector_parity!(Fcos64, "fcos_resnet50_fpn", AnchorGenerator::fcos(), Postprocess::fcos(), |y| {
        [
            (&y.cls_logits_p3[..], &y.bbox_regression_p3[..], Some(&y.bbox_ctrness_p3[..])),
            (&y.cls_logits_p4[..], &y.bbox_regression_p4[..], Some(&y.bbox_ctrness_p4[..])),
            (&y.cls_logits_p5[..], &y.bbox_regression_p5[..], Some(&y.bbox_ctrness_p5[..])),
            (&y.cls_logits_p6[..], &y.bbox_regression_p6[..], Some(&y.bbox_ctrness_p6[..])),
            (&y.cls_logits_p7[..], &y.bbox_regression_p7[..], Some(&y.bbox_ctrness_p7[..])),
        ]
    });
}

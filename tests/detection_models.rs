//! torchvision's detection models from `cnn::models` against torchvision on the fixtures of
//! `python3 tools/gen_detection_fixtures.py` (COCO's architectures: frozen batch norms; every
//! tensor seeded from its name on both sides, so no weights are committed; a 64x64 input the
//! transform does not resize): the same `state_dict` keys and shapes, the heads' outputs within
//! PyTorch's own float32 distance from float64, and the whole pipeline (`normalize_and_resize`,
//! the network, `AnchorGenerator`, `Postprocess`) giving torchvision's detections one to one: the
//! same labels in the same order, boxes and scores within float32's reach.

#[macro_use]
mod common;

use cnn::detect::{
    normalize_and_resize, resize_boxes, AnchorGenerator, DefaultBoxGenerator, Detection, LevelOutputs, Postprocess,
};
use cnn::prelude::*;
use common::{assert_within, relative_error, Fixture};

cnn::models::retinanet_resnet50_fpn!(pub struct RetinaNet64, input(3, 64, 64));
cnn::models::fcos_resnet50_fpn!(pub struct Fcos64, input(3, 64, 64));
cnn::models::ssdlite320_mobilenet_v3_large!(pub struct Ssdlite64, input(3, 64, 64));

/// The transform's normalization: ImageNet's for the ResNet detectors, `[-1, 1]` for SSDlite.
const IMAGENET: ([f32; 3], [f32; 3]) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
const HALF: ([f32; 3], [f32; 3]) = ([0.5; 3], [0.5; 3]);
/// P3 .. P7 of a 64x64 input.
const PYRAMID: [(usize, usize); 5] = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)];
/// SSDlite's six maps of a 64x64 input.
const SSD_MAPS: [(usize, usize); 6] = [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1), (1, 1)];

/// One level's head outputs for a picture: class logits, box codes and (FCOS) centre-ness.
type Level<'a> = (&'a [f32], &'a [f32], Option<&'a [f32]>);

/// One picture's head outputs at each level.
type Heads<'a> = Vec<Level<'a>>;

/// `$net` seeded by name, checked against the fixture of torchvision's `$name`: keys, the heads'
/// outputs, and the detections of `$post` with `$anchors` on maps of `$maps`, the images
/// normalized by `$norm` (mean, std); `$heads` gives a picture's [`Heads`].
macro_rules! detector_parity {
    ($net:ident, $name:literal, $norm:expr, $anchors:expr, $maps:expr, $post:expr, $heads:expr) => {{
        let (mean, std) = $norm;
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
                let (x, size) = normalize_and_resize(image, (64, 64), &mean, &std, 64.0, 64.0).unwrap();
                assert_eq!(size, (64, 64));
                x.try_into().unwrap()
            })
            .collect();
        let ys = net.forward_batch(&xs);
        let heads: Vec<Heads<'_>> = ys.iter().map($heads).collect();
        let anchors = $anchors.anchors((64, 64), &$maps).unwrap();
        check(&f, $name, &heads, &anchors, &mut $post);
    }};
}

/// The heads' outputs (each level's one after another are torchvision's `cls_logits`,
/// `bbox_regression` and `bbox_ctrness`) and the detections, against the fixture.
fn check(f: &Fixture, name: &str, heads: &[Heads<'_>], anchors: &[[f32; 4]], post: &mut Postprocess) {
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
    let (classes, size) = (91, (64, 64));
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
        post.detect_into(&inputs, classes, size, &mut d).unwrap();
        let ours = Found {
            boxes: resize_boxes(&d.boxes, size, size),
            scores: d.scores.clone(),
            labels: d.labels.iter().map(|&l| l as i64).collect(),
        };
        let (want, want32) = (Found::read(f, &format!("det{i}")), Found::read(f, &format!("det32{i}")));
        // One to one with torchvision's float64 detections, as many as its own float32 run is
        // (a tie in score may order two detections either way).
        let (n, n32) = (matched(&ours, &want), matched(&want32, &want));
        println!("{name} image {i}: {n} of {} detections matched (PyTorch float32: {n32})", want.scores.len());
        assert_eq!(ours.scores.len(), want.scores.len(), "{name} image {i}: detections");
        assert!(n >= n32 && n > 0, "{name} image {i}: {n} detections matched, PyTorch's float32 run {n32}");
    }
}

/// One image's detections.
struct Found {
    boxes: Vec<[f32; 4]>,
    scores: Vec<f32>,
    labels: Vec<i64>,
}

impl Found {
    fn read(f: &Fixture, prefix: &str) -> Self {
        let boxes = f.f32(&format!("{prefix}.boxes")).1.chunks_exact(4).map(|b| [b[0], b[1], b[2], b[3]]).collect();
        Found { boxes, scores: f.f32(&format!("{prefix}.scores")).1, labels: f.i64(&format!("{prefix}.labels")) }
    }
}

/// How many of `want`'s detections have their own in `got`: the same label, a score within
/// 1e-5 relative and a box within 1e-3 pixels.
fn matched(got: &Found, want: &Found) -> usize {
    let mut used = vec![false; got.scores.len()];
    (0..want.scores.len())
        .filter(|&i| {
            let hit = (0..got.scores.len()).find(|&j| {
                !used[j]
                    && got.labels[j] == want.labels[i]
                    && (got.scores[j] - want.scores[i]).abs() <= 1e-6 + 1e-5 * want.scores[i].abs()
                    && got.boxes[j].iter().zip(&want.boxes[i]).all(|(a, b)| (a - b).abs() <= 1e-3)
            });
            hit.inspect(|&j| used[j] = true).is_some()
        })
        .count()
}

#[test]
fn retinanet_resnet50_fpn_matches_torchvision() {
    detector_parity!(
        RetinaNet64,
        "retinanet_resnet50_fpn",
        IMAGENET,
        AnchorGenerator::retinanet(),
        PYRAMID,
        Postprocess::retinanet(),
        |y| {
            vec![
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
    detector_parity!(
        Fcos64,
        "fcos_resnet50_fpn",
        IMAGENET,
        AnchorGenerator::fcos(),
        PYRAMID,
        Postprocess::fcos(),
        |y| {
            vec![
                (&y.cls_logits_p3[..], &y.bbox_regression_p3[..], Some(&y.bbox_ctrness_p3[..])),
                (&y.cls_logits_p4[..], &y.bbox_regression_p4[..], Some(&y.bbox_ctrness_p4[..])),
                (&y.cls_logits_p5[..], &y.bbox_regression_p5[..], Some(&y.bbox_ctrness_p5[..])),
                (&y.cls_logits_p6[..], &y.bbox_regression_p6[..], Some(&y.bbox_ctrness_p6[..])),
                (&y.cls_logits_p7[..], &y.bbox_regression_p7[..], Some(&y.bbox_ctrness_p7[..])),
            ]
        }
    );
}

#[test]
fn ssdlite320_mobilenet_v3_large_matches_torchvision() {
    let boxes = DefaultBoxGenerator::new(vec![vec![2.0, 3.0]; 6], 0.2, 0.95, None, None, true).unwrap();
    detector_parity!(Ssdlite64, "ssdlite320_mobilenet_v3_large", HALF, boxes, SSD_MAPS, Postprocess::ssdlite(), |y| {
        vec![
            (&y.cls_logits_0[..], &y.bbox_regression_0[..], None),
            (&y.cls_logits_1[..], &y.bbox_regression_1[..], None),
            (&y.cls_logits_2[..], &y.bbox_regression_2[..], None),
            (&y.cls_logits_3[..], &y.bbox_regression_3[..], None),
            (&y.cls_logits_4[..], &y.bbox_regression_4[..], None),
            (&y.cls_logits_5[..], &y.bbox_regression_5[..], None),
        ]
    });
}

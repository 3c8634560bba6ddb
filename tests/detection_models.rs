//! torchvision's detection models from `cnn::models` against torchvision on the fixtures of
//! `python3 tools/gen_detection_fixtures.py` (COCO's architecture: frozen batch norms with eps 0;
//! every tensor seeded from its name on both sides, so no weights are committed; a 64x64 input
//! the transform does not resize): the same `state_dict` keys and shapes, the head's outputs
//! within PyTorch's own float32 distance from float64, and the whole pipeline
//! (`normalize_and_resize`, the network, `AnchorGenerator`, `Postprocess`) giving torchvision's
//! detections one to one: the same labels in the same order, boxes and scores within float32's
//! reach.

#[macro_use]
mod common;

use cnn::detect::{normalize_and_resize, resize_boxes, AnchorGenerator, Detection, LevelOutputs, Postprocess};
use cnn::prelude::*;
use common::{assert_within, relative_error, Fixture};

cnn::models::retinanet_resnet50_fpn!(pub struct RetinaNet64, input(3, 64, 64));

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];
const LEVELS: [(usize, usize); 5] = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)];

#[test]
fn retinanet_resnet50_fpn_matches_torchvision() {
    let f = Fixture::open("zoo/retinanet_resnet50_fpn.safetensors");
    let mut want: Vec<String> = f.text("keys").lines().map(str::to_string).collect();
    want.sort();
    assert_eq!(state_dict_text!(RetinaNet64), want, "state_dict keys and shapes");
    assert_eq!(RetinaNet64::PARAM_COUNT as i64, f.i64("param_count")[0]);
    let mut net = RetinaNet64::new(0);
    fill_seeded!(net);

    // The transform: normalized, and kept at 64x64 (min_size = max_size = 64).
    let images = f.f32("input").1;
    let xs: Vec<[f32; RetinaNet64::INPUT_LEN]> = images
        .chunks_exact(RetinaNet64::INPUT_LEN)
        .map(|image| {
            let (x, size) = normalize_and_resize(image, (64, 64), &MEAN, &STD, 64.0, 64.0).unwrap();
            assert_eq!(size, (64, 64));
            x.try_into().unwrap()
        })
        .collect();
    let ys = net.forward_batch(&xs);

    // The head: each level's outputs one after another are torchvision's `cls_logits` and
    // `bbox_regression`.
    let cls: Vec<f32> = ys
        .iter()
        .flat_map(|y| [&y.cls_logits_p3[..], &y.cls_logits_p4, &y.cls_logits_p5, &y.cls_logits_p6, &y.cls_logits_p7].concat())
        .collect();
    let reg: Vec<f32> = ys
        .iter()
        .flat_map(|y| {
            [&y.bbox_regression_p3[..], &y.bbox_regression_p4, &y.bbox_regression_p5, &y.bbox_regression_p6, &y.bbox_regression_p7]
                .concat()
        })
        .collect();
    for (name, got) in [("cls_logits", &cls), ("bbox_regression", &reg)] {
        let (want, want32) = (f.f32(name).1, f.f32(&format!("{name}32")).1);
        let err32 = relative_error(&want32, &want);
        assert_within(name, got, &want, (3.0 * err32).max(1e-5));
    }

    // The detections, as torchvision's `forward` returns them.
    let anchors = AnchorGenerator::retinanet().anchors((64, 64), &LEVELS).unwrap();
    let mut post = Postprocess::retinanet();
    for (i, y) in ys.iter().enumerate() {
        let cls = [&y.cls_logits_p3[..], &y.cls_logits_p4, &y.cls_logits_p5, &y.cls_logits_p6, &y.cls_logits_p7];
        let reg = [&y.bbox_regression_p3[..], &y.bbox_regression_p4, &y.bbox_regression_p5, &y.bbox_regression_p6, &y.bbox_regression_p7];
        let mut at = 0;
        let levels: Vec<LevelOutputs<'_>> = (0..5)
            .map(|l| {
                let n = reg[l].len() / 4;
                let level = LevelOutputs {
                    cls_logits: cls[l],
                    bbox_regression: reg[l],
                    bbox_ctrness: None,
                    anchors: &anchors[at..at + n],
                };
                at += n;
                level
            })
            .collect();
        let mut d = Detection::default();
        post.detect_into(&levels, 91, (64, 64), &mut d).unwrap();
        let boxes = resize_boxes(&d.boxes, (64, 64), (64, 64));
        let labels: Vec<i64> = d.labels.iter().map(|&l| l as i64).collect();
        assert_eq!(labels, f.i64(&format!("det{i}.labels")), "image {i}: labels in order");
        let flat: Vec<f32> = boxes.iter().flatten().copied().collect();
        let (want, want32) = (f.f32(&format!("det{i}.boxes")).1, f.f32(&format!("det32{i}.boxes")).1);
        assert_within(&format!("image {i} boxes"), &flat, &want, (3.0 * relative_error(&want32, &want)).max(1e-5));
        let (want, want32) = (f.f32(&format!("det{i}.scores")).1, f.f32(&format!("det32{i}.scores")).1);
        assert_within(&format!("image {i} scores"), &d.scores, &want, (3.0 * relative_error(&want32, &want)).max(1e-5));
    }
}

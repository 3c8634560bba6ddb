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
    normalize_and_resize, resize_boxes, AnchorGenerator, DefaultBoxGenerator, Detection, FeatureLevel, LevelOutputs,
    MultiScaleRoiAlign, Postprocess, Proposals, RegionProposals, RoiHeadsPostprocess, RpnLevel,
};
use cnn::prelude::*;
use common::{assert_within, relative_error, Fixture};

cnn::models::retinanet_resnet50_fpn!(pub struct RetinaNet64, input(3, 64, 64));
// The invocation, with COCO's class count written out.
cnn::models::retinanet_resnet50_fpn!(pub struct R, input(3, 64, 64), num_classes = 91);
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
        // One to one with torchvision's float64 detections, as many as its own float32 run is
        // (a tie in score may order two detections either way).
        assert_detections(name, i, &ours, &Found::read(f, &format!("det{i}")), &Found::read(f, &format!("det32{i}")));
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
/// 1e-5 relative and a box within 1e-3 pixels; and of the rest, how many are ties: a detection
/// of `got` left over has the same label and a score within 1e-6 relative (two regions whose
/// scores float32 cannot tell apart, of which NMS keeps either).
fn matched(got: &Found, want: &Found) -> (usize, usize) {
    let mut used = vec![false; got.scores.len()];
    let mut pair = |tie: bool| {
        (0..want.scores.len())
            .filter(|&i| {
                let hit = (0..got.scores.len()).find(|&j| {
                    let score = if tie { 1e-6 } else { 1e-5 } * want.scores[i].abs();
                    !used[j]
                        && got.labels[j] == want.labels[i]
                        && (got.scores[j] - want.scores[i]).abs() <= 1e-6 * f32::from(!tie) + score
                        && (tie || got.boxes[j].iter().zip(&want.boxes[i]).all(|(a, b)| (a - b).abs() <= 1e-3))
                });
                hit.inspect(|&j| used[j] = true).is_some()
            })
            .count()
    };
    let exact = pair(false);
    (exact, pair(true))
}

/// `ours` against torchvision's float64 detections `want` of image `i`, as closely as its own
/// float32 run `want32` is.
fn assert_detections(name: &str, i: usize, ours: &Found, want: &Found, want32: &Found) {
    let ((n, ties), (n32, ties32)) = (matched(ours, want), matched(want32, want));
    println!(
        "{name} image {i}: {n} of {} detections matched, {ties} ties (PyTorch float32: {n32}, {ties32} ties)",
        want.scores.len()
    );
    assert_eq!(ours.scores.len(), want.scores.len(), "{name} image {i}: detections");
    assert!(n + ties >= n32 + ties32 && n > 0, "{name} image {i}: {n} detections matched, PyTorch's float32 run {n32}");
}

#[test]
fn num_classes_91_is_the_default() {
    assert_eq!(R::PARAM_COUNT, RetinaNet64::PARAM_COUNT);
    assert_eq!(R::OUTPUTS, RetinaNet64::OUTPUTS);
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

cnn::models::fasterrcnn_mobilenet_v3_large_fpn!(pub struct FasterRcnn64, input(3, 64, 64));

/// The RPN's levels of a 64x64 input: `'0'`, `'1'` (features 13 and 16, both at stride 32) and
/// `'pool'`.
const RPN_MAPS: [(usize, usize); 3] = [(2, 2), (2, 2), (1, 1)];

/// `[batch_index, x1, y1, x2, y2]` rows of one image's boxes, as `MultiScaleRoIAlign` takes them.
fn rois(boxes: &[[f32; 4]]) -> Vec<[f32; 5]> {
    boxes.iter().map(|b| [0.0, b[0], b[1], b[2], b[3]]).collect()
}

/// The box head's inputs: `boxes` of one image pooled from its two maps.
fn pooled(y: &FasterRcnn64Outputs, boxes: &[[f32; 4]]) -> Vec<[f32; FasterRcnn64BoxHead::INPUT_LEN]> {
    let shape = [1, 256, 2, 2];
    let levels = [FeatureLevel { values: &y.features_0, shape }, FeatureLevel { values: &y.features_1, shape }];
    let out = MultiScaleRoiAlign::faster_rcnn().pool(&levels, (64, 64), &rois(boxes)).unwrap();
    out.chunks_exact(FasterRcnn64BoxHead::INPUT_LEN).map(|r| r.try_into().unwrap()).collect()
}

#[test]
fn fasterrcnn_mobilenet_v3_large_fpn_matches_torchvision() {
    let name = "fasterrcnn_mobilenet_v3_large_fpn";
    let f = Fixture::open("zoo/fasterrcnn_mobilenet_v3_large_fpn.safetensors");
    // torchvision's one state_dict is the two networks'.
    let mut want: Vec<String> = f.text("keys").lines().map(str::to_string).collect();
    want.sort();
    let mut ours = state_dict_text!(FasterRcnn64);
    ours.extend(state_dict_text!(FasterRcnn64BoxHead));
    ours.sort();
    assert_eq!(ours, want, "{name}: state_dict keys and shapes");
    assert_eq!((FasterRcnn64::PARAM_COUNT + FasterRcnn64BoxHead::PARAM_COUNT) as i64, f.i64("param_count")[0]);
    let (mut net, mut head) = (FasterRcnn64::new(0), FasterRcnn64BoxHead::new(0));
    fill_seeded!(net);
    fill_seeded!(head);

    // One file for both, loaded strictly: saved and loaded into other networks it gives them
    // every tensor; a file with only the first network's is refused and changes neither.
    let dir = tempfile::tempdir().unwrap();
    let (both, first) = (dir.path().join("both.safetensors"), dir.path().join("first.safetensors"));
    net.save_safetensors_with(&head, &both).unwrap();
    net.save_safetensors(&first).unwrap();
    let (mut net2, mut head2) = (FasterRcnn64::new(1), FasterRcnn64BoxHead::new(1));
    let before = (net2.flat_params().to_vec(), head2.flat_params().to_vec());
    let err = net2.load_safetensors_with(&mut head2, &first).unwrap_err();
    assert!(err.to_string().contains("missing tensors: roi_heads.box_head.fc6.weight"), "{err}");
    assert_eq!((net2.flat_params().to_vec(), head2.flat_params().to_vec()), before);
    net2.load_safetensors_with(&mut head2, &both).unwrap();
    assert_eq!(net2.flat_params(), net.flat_params());
    assert_eq!(head2.flat_params(), head.flat_params());
    assert!(net2.buffers().zip(net.buffers()).all(|(a, b)| a.data == b.data));

    let (mean, std) = IMAGENET;
    let xs: Vec<[f32; FasterRcnn64::INPUT_LEN]> = f
        .f32("input")
        .1
        .chunks_exact(FasterRcnn64::INPUT_LEN)
        .map(|image| normalize_and_resize(image, (64, 64), &mean, &std, 64.0, 64.0).unwrap().0.try_into().unwrap())
        .collect();
    let ys = net2.forward_batch(&xs);
    let levels = |y: &FasterRcnn64Outputs| -> [(Vec<f32>, Vec<f32>); 3] {
        [
            (y.objectness_0.to_vec(), y.pred_bbox_deltas_0.to_vec()),
            (y.objectness_1.to_vec(), y.pred_bbox_deltas_1.to_vec()),
            (y.objectness_pool.to_vec(), y.pred_bbox_deltas_pool.to_vec()),
        ]
    };
    let rpn: Vec<_> = ys.iter().map(levels).collect();
    for (key, pick) in [("objectness", 0), ("pred_bbox_deltas", 1)] {
        let got: Vec<f32> =
            rpn.iter().flat_map(|l| l.iter().flat_map(|o| if pick == 0 { &o.0 } else { &o.1 }).copied()).collect();
        let (want, want32) = (f.f32(key).1, f.f32(&format!("{key}32")).1);
        assert_within(&format!("{name} {key}"), &got, &want, (3.0 * relative_error(&want32, &want)).max(1e-5));
    }

    // The box head on torchvision's float64 proposals.
    let (mut logits, mut regression) = (Vec::new(), Vec::new());
    for (i, y) in ys.iter().enumerate() {
        let boxes: Vec<[f32; 4]> =
            f.f32(&format!("proposals{i}")).1.chunks_exact(4).map(|b| [b[0], b[1], b[2], b[3]]).collect();
        for out in head2.forward_batch(&pooled(y, &boxes)) {
            logits.extend_from_slice(&out.class_logits);
            regression.extend_from_slice(&out.box_regression);
        }
    }
    for (key, got) in [("class_logits", logits), ("box_regression", regression)] {
        let (want, want32) = (f.f32(key).1, f.f32(&format!("{key}32")).1);
        assert_within(&format!("{name} {key}"), &got, &want, (3.0 * relative_error(&want32, &want)).max(1e-5));
    }

    // The whole pipeline: anchors, proposals, pooling, box head, post-processing.
    let anchors = AnchorGenerator::new(vec![vec![32.0, 64.0, 128.0, 256.0, 512.0]; 3], vec![vec![0.5, 1.0, 2.0]; 3])
        .unwrap()
        .anchors((64, 64), &RPN_MAPS)
        .unwrap();
    let mut rpn_post = RegionProposals::new(1000, 1000, 0.7, 0.05, 1e-3);
    let mut roi_post = RoiHeadsPostprocess::new(0.012, 0.5, 100);
    for (i, (y, levels)) in ys.iter().zip(&rpn).enumerate() {
        let mut at = 0;
        let inputs: Vec<RpnLevel<'_>> = levels
            .iter()
            .map(|(objectness, deltas)| {
                at += objectness.len();
                RpnLevel { objectness, bbox_deltas: deltas, anchors: &anchors[at - objectness.len()..at] }
            })
            .collect();
        let mut proposals = Proposals::default();
        rpn_post.proposals_into(&inputs, (64, 64), &mut proposals).unwrap();
        let want: Vec<f32> = f.f32(&format!("proposals{i}")).1;
        let want32: Vec<f32> = f.f32(&format!("proposals32{i}")).1;
        let got: Vec<f32> = proposals.boxes.iter().flatten().copied().collect();
        assert_eq!(got.len(), want.len(), "{name} image {i}: proposals");
        assert_within(
            &format!("{name} image {i} proposals"),
            &got,
            &want,
            (3.0 * relative_error(&want32, &want)).max(1e-5),
        );

        let outs = head2.forward_batch(&pooled(y, &proposals.boxes));
        let logits: Vec<f32> = outs.iter().flat_map(|o| o.class_logits).collect();
        let regression: Vec<f32> = outs.iter().flat_map(|o| o.box_regression).collect();
        let mut d = Detection::default();
        roi_post.detect_into(&logits, &regression, &proposals.boxes, 91, (64, 64), &mut d).unwrap();
        let ours = Found {
            boxes: resize_boxes(&d.boxes, (64, 64), (64, 64)),
            scores: d.scores.clone(),
            labels: d.labels.iter().map(|&l| l as i64).collect(),
        };
        assert_detections(name, i, &ours, &Found::read(&f, &format!("det{i}")), &Found::read(&f, &format!("det32{i}")));
    }
}

//! `cnn::detect` against torchvision.ops on the fixtures of `tools/gen_detect_fixtures.py`
//! (random boxes with tied scores, identical boxes, nested and touching boxes, degenerate boxes,
//! one box, none), `BoxCoder` and `Matcher` as torchvision's detection models use them, the
//! detection losses and their gradients against PyTorch's float64 autograd, COCO's mAP
//! (`cnn::metrics::MeanAveragePrecision`) against pycocotools (`tools/gen_map_fixtures.py`), and
//! the errors on bad input.

mod common;

use cnn::detect::{
    box_area, box_convert, box_iou, generalized_box_iou, generalized_box_iou_loss, nms, normalize_and_resize,
    resize_boxes, resized_size, roi_align, roi_align_backward, sigmoid_focal_loss, smooth_l1_loss, try_batched_nms,
    try_nms, AnchorGenerator, BoxCoder, BoxFormat, BoxLinearCoder, DefaultBoxGenerator, DetectError, Detection,
    FeatureLevel, LevelOutputs, Match, Matcher, MultiScaleRoiAlign, Postprocess, Proposals, RegionProposals, RoiAlign,
    RoiHeadsPostprocess, RpnLevel,
};
use cnn::metrics::{MapError, MeanAveragePrecision};
use common::assert_within;
use common::Fixture;

const CASES: [&str; 7] = ["random", "crowded", "ties", "nested", "degenerate", "single", "empty"];
const THRESHOLDS: [&str; 3] = ["0.3", "0.5", "0.7"];

struct Case {
    boxes: Vec<[f32; 4]>,
    scores: Vec<f32>,
    classes: Vec<usize>,
}

fn boxes_of(values: &[f32]) -> Vec<[f32; 4]> {
    values.chunks_exact(4).map(|b| [b[0], b[1], b[2], b[3]]).collect()
}

fn case(f: &Fixture, name: &str) -> Case {
    Case {
        boxes: boxes_of(&f.f32(&format!("{name}.boxes")).1),
        scores: f.f32(&format!("{name}.scores")).1,
        classes: f.i64(&format!("{name}.classes")).into_iter().map(|c| c as usize).collect(),
    }
}

fn indices(f: &Fixture, key: &str) -> Vec<usize> {
    f.i64(key).into_iter().map(|i| i as usize).collect()
}

/// Equal, or both NaN (two boxes of no area), or within a float32 rounding.
fn same(got: f32, want: f32) -> bool {
    (got.is_nan() && want.is_nan()) || (got - want).abs() <= 1e-6 * want.abs().max(1.0)
}

#[test]
fn nms_keeps_what_torchvision_keeps_in_its_order() {
    let f = Fixture::open("detect/ops.safetensors");
    for name in CASES {
        let c = case(&f, name);
        for t in THRESHOLDS {
            let threshold: f32 = t.parse().unwrap();
            let want = indices(&f, &format!("{name}.nms.{t}"));
            assert_eq!(nms(&c.boxes, &c.scores, threshold), want, "{name} nms at {t}");
            let want = indices(&f, &format!("{name}.batched.{t}"));
            let got = try_batched_nms(&c.boxes, &c.scores, &c.classes, threshold).unwrap();
            assert_eq!(got, want, "{name} batched_nms at {t}");
        }
    }
}

#[test]
fn ious_areas_and_formats_are_torchvisions() {
    let f = Fixture::open("detect/ops.safetensors");
    for name in CASES {
        let c = case(&f, name);
        let n = c.boxes.len();
        for (key, got) in
            [("iou", box_iou(&c.boxes, &c.boxes).unwrap()), ("giou", generalized_box_iou(&c.boxes, &c.boxes).unwrap())]
        {
            let want = f.f32(&format!("{name}.{key}")).1;
            assert_eq!(got.len(), n, "{name} {key} rows");
            for (i, row) in got.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    assert!(same(v, want[i * n + j]), "{name} {key}[{i}][{j}]: {v} vs {}", want[i * n + j]);
                }
            }
        }
        let area = box_area(&c.boxes).unwrap();
        assert!(area.iter().zip(&f.f32(&format!("{name}.area")).1).all(|(a, b)| same(*a, *b)), "{name} area");
        let formats = [("xyxy", BoxFormat::Xyxy), ("xywh", BoxFormat::Xywh), ("cxcywh", BoxFormat::Cxcywh)];
        for (a, fa) in formats {
            for (b, fb) in formats {
                if a == b {
                    continue;
                }
                // The same four numbers read in format `a`, as the fixture's `box_convert` did.
                let ours = box_convert(&c.boxes, fa, fb).unwrap();
                let want = boxes_of(&f.f32(&format!("{name}.{a}.{b}")).1);
                assert_eq!(ours.len(), want.len(), "{name} {a}->{b}");
                for (g, w) in ours.iter().zip(&want) {
                    assert!(g.iter().zip(w).all(|(g, w)| same(*g, *w)), "{name} {a}->{b}: {g:?} vs {w:?}");
                }
            }
        }
    }
}

#[test]
fn box_coder_encodes_and_decodes_as_torchvision() {
    let f = Fixture::open("detect/ops.safetensors");
    let boxes = boxes_of(&f.f32("coder.boxes").1);
    let references = boxes_of(&f.f32("coder.references").1);
    let codes = boxes_of(&f.f32("coder.codes").1);
    for (key, weights) in [("1.1.1.1", [1.0, 1.0, 1.0, 1.0]), ("10.10.5.5", [10.0, 10.0, 5.0, 5.0])] {
        let coder = BoxCoder::new(weights);
        for (what, got) in [
            ("encode", coder.encode(&boxes, &references).unwrap()),
            ("decode", coder.decode(&codes, &references).unwrap()),
        ] {
            let want = boxes_of(&f.f32(&format!("coder.{key}.{what}")).1);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let scale = w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                assert!(
                    g.iter().zip(w).all(|(g, w)| (g - w).abs() <= 2e-6 * scale),
                    "{key} {what}[{i}]: {g:?} vs {w:?}"
                );
            }
        }
    }
    let linear = BoxLinearCoder { normalize_by_size: true };
    let got = linear.encode(&boxes, &references).unwrap();
    assert_within("linear encode", got.as_flattened(), &f.f32("coder.linear.encode").1, 1e-6);
    let got = linear.decode(&codes, &references).unwrap();
    assert_within("linear decode", got.as_flattened(), &f.f32("coder.linear.decode").1, 1e-6);
}

#[test]
fn matcher_assigns_as_torchvision() {
    let f = Fixture::open("detect/ops.safetensors");
    let (shape, values) = f.f32("matcher.quality");
    let quality: Vec<Vec<f32>> = values.chunks_exact(shape[1]).map(<[f32]>::to_vec).collect();
    for (high, low, allow) in [("0.5", "0.4", "false"), ("0.5", "0.4", "true"), ("0.7", "0.3", "true")] {
        let matcher = Matcher {
            high_threshold: high.parse().unwrap(),
            low_threshold: low.parse().unwrap(),
            allow_low_quality_matches: allow == "true",
        };
        let got: Vec<i64> = matcher
            .assign(&quality)
            .unwrap()
            .into_iter()
            .map(|m| match m {
                Match::Gt(i) => i as i64,
                Match::BelowLow => -1,
                Match::Between => -2,
            })
            .collect();
        assert_eq!(got, f.i64(&format!("matcher.{high}.{low}.{allow}")), "Matcher({high}, {low}, {allow})");
    }
    let matcher = Matcher { high_threshold: 0.5, low_threshold: 0.4, allow_low_quality_matches: true };
    assert_eq!(matcher.assign(&[]), Err(DetectError::Empty { what: "ground-truth boxes" }));
    assert_eq!(matcher.assign(&[vec![]]), Err(DetectError::Empty { what: "predictions" }));
    assert_eq!(matcher.assign(&[vec![0.1, f32::NAN]]), Err(DetectError::NanQuality { gt: 0, prediction: 1 }));
}

#[test]
fn anchors_are_torchvisions() {
    let f = Fixture::open("detect/ops.safetensors");
    // RetinaNet's: (x, int(x * 2^(1/3)), int(x * 2^(2/3))) for x in 32..512, ratios 0.5, 1, 2.
    let sizes: Vec<Vec<f32>> = [32.0f64, 64.0, 128.0, 256.0, 512.0]
        .iter()
        .map(|&x| vec![x as f32, (x * 2f64.powf(1.0 / 3.0)).floor() as f32, (x * 2f64.powf(2.0 / 3.0)).floor() as f32])
        .collect();
    let retina = AnchorGenerator::new(sizes, vec![vec![0.5, 1.0, 2.0]; 5]).unwrap();
    assert_eq!(retina, AnchorGenerator::retinanet());
    assert_eq!(retina.num_anchors_per_location(), vec![9; 5]);
    let got = retina.anchors((64, 80), &[(8, 10), (4, 5), (2, 3), (1, 2), (1, 1)]).unwrap();
    assert_eq!(got, boxes_of(&f.f32("anchors.retinanet").1));
    let odd = AnchorGenerator::new(vec![vec![20.0, 45.0]], vec![vec![0.3, 1.7]]).unwrap();
    assert_eq!(odd.anchors((64, 80), &[(3, 3)]).unwrap(), boxes_of(&f.f32("anchors.odd").1));
    assert_eq!(
        odd.anchors((64, 80), &[(3, 3), (1, 1)]),
        Err(DetectError::Length { what: "feature_sizes", expected: 1, found: 2 })
    );
    assert_eq!(
        odd.anchors((64, 80), &[(65, 3)]),
        Err(DetectError::FeatureSize { level: 0, size: (65, 3), image: (64, 80) })
    );
    assert_eq!(
        AnchorGenerator::new(vec![vec![0.0]], vec![vec![1.0]]),
        Err(DetectError::AnchorValue { level: 0, value: 0.0 })
    );
    // SSD's default boxes: SSDlite320's and SSD300's.
    let lite = DefaultBoxGenerator::new(vec![vec![2.0, 3.0]; 6], 0.2, 0.95, None, None, true).unwrap();
    let got = lite.anchors((320, 320), &[(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]).unwrap();
    assert_within("ssdlite default boxes", got.as_flattened(), &f.f32("anchors.ssdlite").1, 1e-6);
    let ratios = vec![vec![2.0], vec![2.0, 3.0], vec![2.0, 3.0], vec![2.0, 3.0], vec![2.0], vec![2.0]];
    let scales = vec![0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05];
    let steps = vec![8.0, 16.0, 32.0, 64.0, 100.0, 300.0];
    let ssd300 = DefaultBoxGenerator::new(ratios, 0.15, 0.9, Some(scales), Some(steps), false).unwrap();
    assert_eq!(ssd300.num_anchors_per_location(), vec![4, 6, 6, 6, 4, 4]);
    let got = ssd300.anchors((300, 300), &[(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]).unwrap();
    assert_within("ssd300 default boxes", got.as_flattened(), &f.f32("anchors.ssd300").1, 1e-6);
    assert_eq!(
        DefaultBoxGenerator::new(vec![vec![2.0, -1.0]], 0.2, 0.9, None, None, true),
        Err(DetectError::DefaultBoxValue { value: -1.0 })
    );
}

#[test]
fn retinanet_fcos_and_ssd_postprocessing_are_torchvisions() {
    let f = Fixture::open("detect/ops.safetensors");
    // Per level: logits, codes, anchors.
    type Level = (Vec<f32>, Vec<f32>, Vec<[f32; 4]>);
    let data: Vec<Level> = (0..2)
        .map(|l| {
            let anchors = boxes_of(&f.f32(&format!("post.{l}.anchors")).1);
            (f.f32(&format!("post.{l}.logits")).1, f.f32(&format!("post.{l}.codes")).1, anchors)
        })
        .collect();
    let levels: Vec<LevelOutputs<'_>> = data
        .iter()
        .map(|(logits, codes, anchors)| LevelOutputs {
            cls_logits: logits,
            bbox_regression: codes,
            bbox_ctrness: None,
            anchors,
        })
        .collect();
    let mut post = Postprocess::retinanet();
    (post.detections_per_img, post.topk_candidates) = (15, 20);
    let mut out = Detection::default();
    // Twice: the second call reuses the buffers and gives the same.
    for _ in 0..2 {
        post.detect_into(&levels, 5, (64, 80), &mut out).unwrap();
        let labels: Vec<usize> = f.i64("post.labels").into_iter().map(|l| l as usize).collect();
        assert_eq!(out.labels, labels);
        assert_within("post scores", &out.scores, &f.f32("post.scores").1, 1e-6);
        assert_within("post boxes", out.boxes.as_flattened(), &f.f32("post.boxes").1, 1e-6);
    }
    let bad = LevelOutputs { cls_logits: &data[0].0[1..], ..levels[0] };
    assert!(matches!(
        post.detect_into(&[bad], 5, (64, 80), &mut out),
        Err(DetectError::Length { what: "cls_logits", .. })
    ));
    // FCOS: centre-ness and the linear coder.
    let ctrness: Vec<Vec<f32>> = (0..2).map(|l| f.f32(&format!("post.{l}.ctrness")).1).collect();
    let levels: Vec<LevelOutputs<'_>> =
        levels.iter().zip(&ctrness).map(|(l, c)| LevelOutputs { bbox_ctrness: Some(c), ..*l }).collect();
    let mut post = Postprocess::fcos();
    (post.detections_per_img, post.topk_candidates) = (12, 25);
    post.detect_into(&levels, 5, (64, 80), &mut out).unwrap();
    let labels: Vec<usize> = f.i64("post.fcos.labels").into_iter().map(|l| l as usize).collect();
    assert_eq!(out.labels, labels);
    assert_within("fcos scores", &out.scores, &f.f32("post.fcos.scores").1, 1e-6);
    assert_within("fcos boxes", out.boxes.as_flattened(), &f.f32("post.fcos.boxes").1, 1e-6);
    // SSD: softmax over 4 classes (0 the background), top-k per class over both levels.
    let ssd_logits: Vec<Vec<f32>> = (0..2).map(|l| f.f32(&format!("post.{l}.ssd_logits")).1).collect();
    let levels: Vec<LevelOutputs<'_>> = levels
        .iter()
        .zip(&ssd_logits)
        .map(|(l, lg)| LevelOutputs { cls_logits: lg, bbox_ctrness: None, ..*l })
        .collect();
    let mut post = Postprocess::ssd();
    (post.score_thresh, post.detections_per_img, post.topk_candidates) = (0.2, 10, 8);
    post.detect_into(&levels, 4, (64, 80), &mut out).unwrap();
    let labels: Vec<usize> = f.i64("post.ssd.labels").into_iter().map(|l| l as usize).collect();
    assert_eq!(out.labels, labels);
    assert_within("ssd scores", &out.scores, &f.f32("post.ssd.scores").1, 1e-6);
    assert_within("ssd boxes", out.boxes.as_flattened(), &f.f32("post.ssd.boxes").1, 1e-6);
}

#[test]
fn the_image_transform_is_torchvisions() {
    let f = Fixture::open("detect/ops.safetensors");
    let (shape, image) = f.f32("transform.image");
    let size = f.i64("transform.size");
    let want_size = (size[0] as usize, size[1] as usize);
    assert_eq!(resized_size((shape[1], shape[2]), 64.0, 100.0), want_size);
    let mean = [0.485, 0.456, 0.406];
    let std = [0.229, 0.224, 0.225];
    let (got, got_size) = normalize_and_resize(&image, (shape[1], shape[2]), &mean, &std, 64.0, 100.0).unwrap();
    assert_eq!(got_size, want_size);
    assert_within("normalized and resized image", &got, &f.f32("transform.out").1, 1e-6);
    let back = resize_boxes(&boxes_of(&f.f32("transform.boxes").1), want_size, (shape[1], shape[2]));
    assert_within("boxes mapped back", back.as_flattened(), &f.f32("transform.back").1, 1e-6);
    assert_eq!(
        normalize_and_resize(&image[1..], (shape[1], shape[2]), &mean, &std, 64.0, 100.0),
        Err(DetectError::Length { what: "image", expected: image.len(), found: image.len() - 1 })
    );
}

#[test]
fn multiscale_roi_align_is_torchvisions() {
    let f = Fixture::open("detect/ops.safetensors");
    let feats: Vec<(Vec<usize>, Vec<f32>)> = (0..3).map(|k| f.f32(&format!("msroi.{k}"))).collect();
    let levels: Vec<FeatureLevel<'_>> =
        feats.iter().map(|(s, v)| FeatureLevel { values: v, shape: [s[0], s[1], s[2], s[3]] }).collect();
    let boxes: Vec<[f32; 5]> = f.f32("msroi.boxes").1.chunks_exact(5).map(|b| [b[0], b[1], b[2], b[3], b[4]]).collect();
    let pooler =
        MultiScaleRoiAlign { output_size: (3, 3), sampling_ratio: 2, canonical_scale: 32.0, canonical_level: 4.0 };
    let got = pooler.pool(&levels, (64, 80), &boxes).unwrap();
    assert_within("multi-scale roi_align", &got, &f.f32("msroi.out").1, 1e-6);
}

#[test]
fn roi_align_samples_as_torchvision() {
    let f = Fixture::open("detect/ops.safetensors");
    let (shape, input) = f.f32("roi.input");
    let boxes: Vec<[f32; 5]> = f.f32("roi.boxes").1.chunks_exact(5).map(|b| [b[0], b[1], b[2], b[3], b[4]]).collect();
    let shape = [shape[0], shape[1], shape[2], shape[3]];
    for (s, r, a) in [("1.0", "2", "true"), ("0.5", "0", "false"), ("0.5", "0", "true"), ("0.25", "3", "false")] {
        let roi = RoiAlign {
            output_size: (3, 2),
            spatial_scale: s.parse().unwrap(),
            sampling_ratio: r.parse().unwrap(),
            aligned: a == "true",
        };
        let got = roi_align(&input, shape, &boxes, roi).unwrap();
        assert_within(&format!("roi_align {s} {r} {a}"), &got, &f.f32(&format!("roi.{s}.{r}.{a}")).1, 1e-6);
        // The input's gradient, against autograd's (float64): added onto what is there.
        let dy = f.f32(&format!("roi.{s}.{r}.{a}.grad_output")).1;
        let want = f.f32(&format!("roi.{s}.{r}.{a}.grad_input")).1;
        let mut dx = vec![1.0; input.len()];
        roi_align_backward(&dy, shape, &boxes, roi, &mut dx).unwrap();
        let dx: Vec<f32> = dx.iter().map(|v| v - 1.0).collect();
        assert_within(&format!("roi_align backward {s} {r} {a}"), &dx, &want, 1e-6);
        assert!(want.iter().any(|&v| v != 0.0) && want.contains(&0.0), "regions reach some pixels, not all");
    }
    let roi = RoiAlign { output_size: (3, 2), spatial_scale: 1.0, sampling_ratio: 2, aligned: true };
    assert!(matches!(
        roi_align_backward(&[0.0; 5], shape, &boxes, roi, &mut vec![0.0; input.len()]),
        Err(DetectError::Length { what: "grad_output", .. })
    ));
    let roi = RoiAlign { output_size: (3, 2), spatial_scale: 1.0, sampling_ratio: 0, aligned: false };
    assert_eq!(
        roi_align(&input, shape, &[[2.0, 0.0, 0.0, 1.0, 1.0]], roi),
        Err(DetectError::BatchIndex { index: 0, value: 2.0, batch: 2 })
    );
    assert!(matches!(roi_align(&input[1..], shape, &boxes, roi), Err(DetectError::Length { what: "input", .. })));
}

#[test]
fn mean_average_precision_is_pycocotools() {
    let f = Fixture::open("detect/map.safetensors");
    for case in ["mixed", "perfect", "none"] {
        let mut map = MeanAveragePrecision::new();
        for i in 0..f.i64(&format!("{case}.images"))[0] {
            let key = |k: &str| format!("{case}.{i}.{k}");
            let labels = |k: &str| f.i64(&key(k)).into_iter().map(|l| l as usize).collect::<Vec<_>>();
            map.update(
                &boxes_of(&f.f32(&key("boxes")).1),
                &f.f32(&key("scores")).1,
                &labels("labels"),
                &boxes_of(&f.f32(&key("gt_boxes")).1),
                &labels("gt_labels"),
            )
            .unwrap();
        }
        let s = map.compute();
        let want = f.f64(&format!("{case}.stats"));
        for (name, got, want) in [("map", s.map, want[0]), ("map_50", s.map_50, want[1]), ("map_75", s.map_75, want[2])]
        {
            assert!((got - want).abs() <= 1e-12, "{case} {name}: {got} vs pycocotools {want}");
        }
    }
    let mut map = MeanAveragePrecision::new();
    assert_eq!(
        map.update(&[[0.0, 0.0, 1.0, 1.0]], &[0.5, 0.4], &[0], &[], &[]),
        Err(MapError::Length { what: "scores", expected: 1, found: 2 })
    );
    assert!(map.is_empty());
}

/// A loss and its gradient against the fixture's (PyTorch float64, with autograd).
fn check_loss(f: &Fixture, key: &str, loss: f32, grad: &[f32]) {
    let want = f.f32(&format!("{key}.loss")).1[0];
    assert!((loss - want).abs() <= 1e-6 * want.abs().max(1.0), "{key} loss {loss} vs {want}");
    assert_within(&format!("{key} grad"), grad, &f.f32(&format!("{key}.grad")).1, 1e-6);
}

#[test]
fn losses_and_gradients_are_pytorchs() {
    let f = Fixture::open("detect/ops.safetensors");
    let (inputs, targets) = (f.f32("focal.inputs").1, f.f32("focal.targets").1);
    let mut grad = vec![0.0; inputs.len()];
    for (a, g) in [("0.25", "2.0"), ("-1.0", "0.0"), ("0.5", "1.5")] {
        let loss = sigmoid_focal_loss(&inputs, &targets, a.parse().unwrap(), g.parse().unwrap(), &mut grad).unwrap();
        check_loss(&f, &format!("focal.{a}.{g}"), loss, &grad);
    }
    let (input, target) = (f.f32("smooth_l1.input").1, f.f32("smooth_l1.target").1);
    for beta in ["0.1111111", "1.0", "0.0"] {
        let loss = smooth_l1_loss(&input, &target, beta.parse().unwrap(), &mut grad[..input.len()]).unwrap();
        check_loss(&f, &format!("smooth_l1.{beta}"), loss, &grad[..input.len()]);
    }
    let (boxes1, boxes2) = (boxes_of(&f.f32("giou.boxes1").1), boxes_of(&f.f32("giou.boxes2").1));
    let mut box_grad = vec![[0.0; 4]; boxes1.len()];
    let loss = generalized_box_iou_loss(&boxes1, &boxes2, 1e-7, &mut box_grad).unwrap();
    check_loss(&f, "giou", loss, box_grad.as_flattened());
    assert_eq!(
        smooth_l1_loss(&input, &target[1..], 1.0, &mut grad[..input.len()]),
        Err(DetectError::Length { what: "target", expected: input.len(), found: input.len() - 1 })
    );
}

#[test]
fn bad_input_is_a_named_error() {
    let boxes = [[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 4.0, 9.0]];
    let err = try_nms(&boxes, &[0.5, 0.4], 0.5).unwrap_err();
    assert_eq!(err, DetectError::Inverted { what: "boxes", index: 1, value: [5.0, 5.0, 4.0, 9.0] });
    assert!(err.to_string().contains("boxes[1] = [5.0, 5.0, 4.0, 9.0]"), "{err}");
    let nan = [[0.0, f32::NAN, 1.0, 1.0]];
    assert!(matches!(try_nms(&nan, &[0.5], 0.5), Err(DetectError::NotFinite { index: 0, .. })));
    assert!(matches!(box_iou(&boxes[..1], &nan), Err(DetectError::NotFinite { what: "boxes2", index: 0, .. })));
    assert_eq!(
        try_nms(&boxes[..1], &[0.5, 0.4], 0.5),
        Err(DetectError::Length { what: "scores", expected: 1, found: 2 })
    );
    assert_eq!(
        try_batched_nms(&boxes[..1], &[0.5], &[0, 1], 0.5),
        Err(DetectError::Length { what: "classes", expected: 1, found: 2 })
    );
    assert_eq!(try_nms(&boxes[..1], &[f32::NAN], 0.5), Err(DetectError::NanScore { index: 0 }));
    assert_eq!(try_nms(&boxes[..1], &[0.5], f32::NAN), Err(DetectError::NanThreshold));
    // Other formats are not checked for order: `[x, y, w, h]` with w < x is fine.
    assert!(box_convert(&[[5.0, 5.0, 1.0, 1.0]], BoxFormat::Xywh, BoxFormat::Xyxy).is_ok());
    let panic = std::panic::catch_unwind(|| nms(&boxes, &[0.5, 0.4], 0.5)).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.starts_with("nms: boxes[1]"), "{message}");
}

#[test]
fn faster_rcnn_post_processing_is_torchvisions() {
    let f = Fixture::open("detect/ops.safetensors");
    // The RPN's proposals from three levels: top 30 per level, NMS 0.7 per level, best 40.
    let anchors = boxes_of(&f.f32("rpn.anchors").1);
    let (objectness, deltas) = (f.f32("rpn.objectness").1, f.f32("rpn.deltas").1);
    let mut at = 0;
    let levels: Vec<RpnLevel<'_>> = f
        .i64("rpn.counts")
        .iter()
        .map(|&n| {
            let (a, b) = (at, at + n as usize);
            at = b;
            RpnLevel { objectness: &objectness[a..b], bbox_deltas: &deltas[4 * a..4 * b], anchors: &anchors[a..b] }
        })
        .collect();
    let mut rpn = RegionProposals::new(30, 40, 0.7, 0.05, 1e-3);
    let mut proposals = Proposals::default();
    rpn.proposals_into(&levels, (60, 80), &mut proposals).unwrap();
    let want = boxes_of(&f.f32("rpn.boxes").1);
    assert_eq!(proposals.boxes.len(), want.len());
    assert_within("rpn boxes", proposals.boxes.as_flattened(), want.as_flattened(), 1e-6);
    assert_within("rpn scores", &proposals.scores, &f.f32("rpn.scores").1, 1e-6);
    // A warm call reuses its buffers and gives the same.
    let again = proposals.clone();
    rpn.proposals_into(&levels, (60, 80), &mut proposals).unwrap();
    assert_eq!(proposals, again);

    // The box head's detections: softmax, a box per class, NMS 0.5 per class.
    let props = boxes_of(&f.f32("roi_heads.proposals").1);
    let (logits, regression) = (f.f32("roi_heads.logits").1, f.f32("roi_heads.regression").1);
    let mut heads = RoiHeadsPostprocess::faster_rcnn();
    let mut d = Detection::default();
    heads.detect_into(&logits, &regression, &props, 6, (60, 80), &mut d).unwrap();
    let labels: Vec<i64> = d.labels.iter().map(|&l| l as i64).collect();
    assert_eq!(labels, f.i64("roi_heads.labels"));
    assert_within("roi_heads boxes", d.boxes.as_flattened(), &f.f32("roi_heads.boxes").1, 1e-6);
    assert_within("roi_heads scores", &d.scores, &f.f32("roi_heads.scores").1, 1e-6);
    assert_eq!(
        heads.detect_into(&logits[1..], &regression, &props, 6, (60, 80), &mut d),
        Err(DetectError::Length { what: "class_logits", expected: 150, found: 149 })
    );
}

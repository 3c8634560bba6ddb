//! torchvision's detection models' networks (`torchvision.models.detection`), as their COCO
//! weights build them. `ssdlite320_mobilenet_v3_large`: the reduced-tail MobileNetV3-Large
//! split at its C4 expansion, four extra blocks, and a prediction block per level.
//! `retinanet_resnet50_fpn` and `fcos_resnet50_fpn`: a ResNet-50 body with
//! `FrozenBatchNorm2d` (eps 0 for RetinaNet, as `overwrite_eps(model, 0.0)` sets for its
//! `COCO_V1`), torchvision's FPN on `layer2..layer4` with `LastLevelP6P7` from P5, and the head
//! applied to every level with one set of weights (`reuse`). `fasterrcnn_mobilenet_v3_large_fpn`:
//! two networks, MobileNetV3-Large with `FrozenBatchNorm2d`, an FPN with `LastLevelMaxPool` and
//! the RPN head on its three maps, then the RoI box head on one pooled region. Their keys are
//! torchvision's (`backbone.body.layer1.0.conv1.weight`, `backbone.fpn.inner_blocks.0.0.weight`,
//! `head.classification_head.conv.0.0.weight`, `rpn.head.conv.0.0.weight`, ...), so the COCO
//! `state_dict`s load as they are.
//!
//! The networks end where torchvision's heads do: their outputs are each level's class logits
//! and box regression (and FCOS's centre-ness), `cls_logits_p3 .. cls_logits_p7`,
//! `bbox_regression_p3 .. _p7` (`bbox_ctrness_p3 .. _p7`), each `[H, W, A * K]` (channels-last),
//! which is the `[H * W * A, K]` of torchvision's heads after their `view`/`permute`/`reshape`.
//! The image transform (normalisation and resize) before it and the anchors and
//! post-processing after it are `cnn::detect`'s (`normalize_and_resize`, `AnchorGenerator`,
//! `Postprocess::retinanet`, `RegionProposals`, `MultiScaleRoiAlign`, `RoiHeadsPostprocess`).

use super::{make_divisible, mobilenet_v3, resnet};

/// Output length of a stride-2 convolution or pooling with "half" padding: what each stage of
/// the ResNet and each extra level does to a side.
fn halve(len: usize) -> usize {
    (len - 1) / 2 + 1
}

const LEVELS: [&str; 5] = ["p3", "p4", "p5", "p6", "p7"];

/// The ResNet-50 body with frozen batch norms of `eps`, naming C3 and C4 (`let c3`, `let c4`).
fn body(eps: &str) -> (String, String) {
    let norm = format!("frozen_batchnorm(64, eps={eps})");
    let blocks = resnet::blocks(resnet::Block::Bottleneck, 1, 64, "frozen_batchnorm", &format!(", eps={eps}"));
    let items = format!(
        "conv1: conv(3, 64, k=7, s=2, p=3, bias=false) bn1: {norm} relu: relu maxpool: maxpool(3, 2, p=1)
        layer1: layer(64, 64, 3, 1)
        layer2: layer(256, 128, 4, 2) let c3
        layer3: layer(512, 256, 6, 2) let c4
        layer4: layer(1024, 512, 3, 2)"
    );
    (blocks, items)
}

/// torchvision's `FeaturePyramidNetwork([512, 1024, 2048], 256)` over C3, C4 and C5 (the value
/// before it), with `LastLevelP6P7(256, 256)`: names P3 .. P7. `sizes` are C3's and C4's maps,
/// which the top-down path's nearest upsampling takes.
fn fpn(c3: (usize, usize), c4: (usize, usize)) -> String {
    let ((h3, w3), (h4, w4)) = (c3, c4);
    format!(
        "inner_blocks.2.0: conv(2048, 256, k=1) let i5
        layer_blocks.2.0: conv(256, 256, k=3, p=1) let p5
        from c4 inner_blocks.1.0: conv(1024, 256, k=1)
        _: sum {{ _: identity _: seq {{ from i5 _: upsample(size=({h4}, {w4}), mode=nearest) }} }} let i4
        layer_blocks.1.0: conv(256, 256, k=3, p=1) let p4
        from c3 inner_blocks.0.0: conv(512, 256, k=1)
        _: sum {{ _: identity _: seq {{ from i4 _: upsample(size=({h3}, {w3}), mode=nearest) }} }}
        layer_blocks.0.0: conv(256, 256, k=3, p=1) let p3
        from p5 extra_blocks.p6: conv(256, 256, k=3, s=2, p=1) let p6
        _: relu extra_blocks.p7: conv(256, 256, k=3, s=2, p=1) let p7"
    )
}

/// `RetinaNetHead(256, 9, n)`: a classification and a regression head, each four 3x3
/// convolutions with ReLU (`Conv2dNormActivation` without a norm) and a 3x3 predictor, built on
/// P3 and reused on P4 .. P7, their outputs channels-last.
fn retinanet_head(n: usize) -> String {
    let mut out = String::new();
    for (head, predictor, width, output) in [
        ("classification_head", "cls_logits", 9 * n, "cls_logits"),
        ("regression_head", "bbox_reg", 9 * 4, "bbox_regression"),
    ] {
        for (k, level) in LEVELS.iter().enumerate() {
            let module = if k == 0 {
                format!(
                    "seq {{
                        conv: seq {{ for i in 0..4 {{ \"{{i}}\": seq {{ conv(256, 256, k=3, p=1) relu }} }} }}
                        {predictor}: conv(256, {width}, k=3, p=1)
                    }}"
                )
            } else {
                "reuse".to_string()
            };
            out += &format!("from {level} head.{head}: {module} _: permute(0, 2, 3, 1) output {output}_{level}\n");
        }
    }
    out
}

/// `FCOSHead(256, 1, n)`: a classification head (four 3x3 convolutions, each with
/// `GroupNorm(32, 256)` and ReLU, then the class logits) and a regression head (the same tower,
/// then the box distances through a ReLU and the centre-ness, both from the tower's output),
/// built on P3 and reused on P4 .. P7, their outputs channels-last.
fn fcos_head(n: usize) -> String {
    let tower = "seq { for _ in 0..4 { conv(256, 256, k=3, p=1) groupnorm(32, 256) relu } }";
    let mut cls = String::new();
    let mut towers = String::new();
    let mut reg = String::new();
    let mut ctr = String::new();
    for (k, level) in LEVELS.iter().enumerate() {
        let [tower, logits, bbox, ctrness] = if k == 0 {
            [
                tower.to_string(),
                format!("conv(256, {n}, k=3, p=1)"),
                "conv(256, 4, k=3, p=1)".to_string(),
                "conv(256, 1, k=3, p=1)".to_string(),
            ]
        } else {
            ["reuse"; 4].map(String::from)
        };
        cls += &format!(
            "from {level} head.classification_head.conv: {tower}
            head.classification_head.cls_logits: {logits} _: permute(0, 2, 3, 1) output cls_logits_{level}\n"
        );
        towers += &format!("from {level} head.regression_head.conv: {tower} let r{level}\n");
        reg += &format!(
            "from r{level} head.regression_head.bbox_reg: {bbox} _: relu _: permute(0, 2, 3, 1) output bbox_regression_{level}\n"
        );
        ctr += &format!(
            "from r{level} head.regression_head.bbox_ctrness: {ctrness} _: permute(0, 2, 3, 1) output bbox_ctrness_{level}\n"
        );
    }
    format!("{cls}{towers}{reg}{ctr}")
}

/// The backbone with its FPN and a head, for `(h, w)` inputs: the blocks and the items.
fn fpn_detector(eps: &str, head: String, (h, w): (usize, usize)) -> (String, String) {
    let (blocks, body) = body(eps);
    // conv1, the max pool and layer2 halve the map to C3; layer3 to C4.
    let c3 = (halve(halve(halve(h))), halve(halve(halve(w))));
    let c4 = (halve(c3.0), halve(c3.1));
    let items = format!(
        "backbone: seq {{
            body: seq {{ {body} }}
            fpn: seq {{ {} }}
        }}
        {head}",
        fpn(c3, c4)
    );
    (blocks, items)
}

/// `ssdlite320_mobilenet_v3_large(weights="COCO_V1")`'s network for `n` classes on `(h, w)`
/// inputs (torchvision's is 320x320): `SSDLiteFeatureExtractorMobileNet` over
/// `mobilenet_v3_large(reduced_tail=True)` with batch norms of eps 0.001 and momentum 0.03 (its
/// `features.0` the backbone up to C4's expansion layer, `features.1` the rest, then four
/// `_extra_block`s), and `SSDLiteHead`: per level a depthwise 3x3 (batch norm, ReLU6) and a 1x1
/// predictor, six default boxes a location. Its outputs: `cls_logits_0 .. _5` and
/// `bbox_regression_0 .. _5`, channels-last.
pub fn ssdlite320_mobilenet_v3_large(n: usize, _size: (usize, usize)) -> (String, String) {
    let blocks = mobilenet_v3::blocks(&mobilenet_v3::batchnorm(0.03));
    let features = mobilenet_v3::large_features(2, 1);
    // C4 (features 13, strided: no residual) split after its expansion layer.
    const C4: usize = 13;
    let (exp, squeeze) = (672, make_divisible(672.0 / 4.0, 8));
    let before: String = features[..C4].join("\n");
    let after: String = features[C4 + 1..].join("\n");
    let extra: String = [(480, 512), (512, 256), (256, 256), (256, 128)]
        .iter()
        .enumerate()
        .map(|(i, &(cin, cout))| {
            let mid = cout / 2;
            format!(
                "{i}: seq {{ conv_bn_act({cin}, {mid}, 1, 1, 1, 2) conv_bn_act({mid}, {mid}, 3, 2, {mid}, 2) conv_bn_act({mid}, {cout}, 1, 1, 1, 2) }} let f{}\n",
                i + 2
            )
        })
        .collect();
    let mut head = String::new();
    for (name, width, output) in
        [("classification_head", 6 * n, "cls_logits"), ("regression_head", 6 * 4, "bbox_regression")]
    {
        for (i, c) in [672, 480, 512, 256, 256, 128].into_iter().enumerate() {
            head += &format!(
                "from f{i} head.{name}.module_list.{i}: seq {{ 0: conv_bn_act({c}, {c}, 3, 1, {c}, 2) 1: conv({c}, {width}, k=1) }} _: permute(0, 2, 3, 1) output {output}_{i}\n"
            );
        }
    }
    let items = format!(
        "backbone: seq {{
            features: seq {{
                0: seq {{ {before} 13: conv_bn_act(112, {exp}, 1, 1, 1, 1) }} let f0
                1: seq {{
                    0: seq {{ 1: conv_bn_act({exp}, {exp}, 5, 2, {exp}, 1) 2: squeeze_excitation({exp}, {squeeze}) 3: conv_bn_act({exp}, 80, 1, 1, 1, -1) }}
                    {after}
                }} let f1
            }}
            extra: seq {{ {extra} }}
        }}
        {head}"
    );
    (blocks, items)
}

/// `retinanet_resnet50_fpn(weights="COCO_V1")`'s network for `n` classes on `(h, w)` inputs.
pub fn retinanet_resnet50_fpn(n: usize, size: (usize, usize)) -> (String, String) {
    fpn_detector("0.0", retinanet_head(n), size)
}

/// `fcos_resnet50_fpn(weights="COCO_V1")`'s network for `n` classes on `(h, w)` inputs.
pub fn fcos_resnet50_fpn(n: usize, size: (usize, usize)) -> (String, String) {
    fpn_detector("1e-5", fcos_head(n), size)
}

/// `fasterrcnn_mobilenet_v3_large_fpn(weights="COCO_V1")`'s first network on `(h, w)` inputs:
/// `mobilenet_v3_large` with `FrozenBatchNorm2d` (eps 1e-5), its `features` as
/// `backbone.body`; torchvision's FPN (`_mobilenet_extractor`: 256 channels over features 13
/// and 16, the last two stages, with `LastLevelMaxPool`), whose maps `'0'`, `'1'` and `'pool'`
/// the RPN head (`RPNHead(256, 15)`: a 3x3 convolution with ReLU, then 1x1 objectness and box
/// deltas) is applied to with one set of weights. Its outputs: the maps the box head pools
/// from (`features_0`, `features_1`, `[256, H/32, W/32]`), and each level's `objectness_*`
/// (`[H, W, 15]`) and `pred_bbox_deltas_*` (`[H, W, 60]`), channels-last: torchvision's
/// `[H * W * A]` and `[H * W * A, 4]` after `concat_box_prediction_layers`. The box head is the
/// second network ([`fasterrcnn_box_head`]).
pub fn fasterrcnn_mobilenet_v3_large_fpn(_n: usize, _size: (usize, usize)) -> (String, String) {
    let blocks = mobilenet_v3::blocks("frozen_batchnorm(cout)");
    let features: String = mobilenet_v3::large_features(1, 1)
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{i}: {f}\n{}", if i == 13 { "let c4\n" } else { "" }))
        .collect();
    // Features 13 (C4, the last strided block) and 16 are both at stride 32, so the top-down
    // path's nearest interpolation to C4's size keeps the map as it is: a plain sum.
    let mut rpn = String::new();
    for (k, level) in ["0", "1", "pool"].iter().enumerate() {
        let [conv, logits, deltas] = if k == 0 {
            [
                "seq { 0: seq { conv(256, 256, k=3, p=1) relu } }".to_string(),
                "conv(256, 15, k=1)".to_string(),
                "conv(256, 60, k=1)".to_string(),
            ]
        } else {
            ["reuse"; 3].map(String::from)
        };
        rpn += &format!(
            "from p{level} rpn.head.conv: {conv} let r{level}
            rpn.head.cls_logits: {logits} _: permute(0, 2, 3, 1) output objectness_{level}
            from r{level} rpn.head.bbox_pred: {deltas} _: permute(0, 2, 3, 1) output pred_bbox_deltas_{level}\n"
        );
    }
    let items = format!(
        "backbone: seq {{
            body: seq {{ {features} }}
            fpn: seq {{
                inner_blocks.1.0: conv(960, 256, k=1) let i1
                layer_blocks.1.0: conv(256, 256, k=3, p=1) let p1
                from c4 inner_blocks.0.0: conv(160, 256, k=1)
                _: sum {{ _: identity _: seq {{ from i1 _: identity }} }}
                layer_blocks.0.0: conv(256, 256, k=3, p=1) let p0
            }}
        }}
        from p1 _: maxpool(1, 2) let ppool
        from p0 output features_0
        from p1 output features_1
        {rpn}"
    );
    (blocks, items)
}

/// `fasterrcnn_mobilenet_v3_large_fpn`'s second network for `n` classes: its RoI heads'
/// `TwoMLPHead(256 * 7 * 7, 1024)` and `FastRCNNPredictor(1024, n)` on one region pooled by
/// `MultiScaleRoIAlign` (`[256, 7, 7]`), ending in the region's `class_logits` (`[n]`) and
/// `box_regression` (`[n * 4]`).
pub fn fasterrcnn_box_head(n: usize) -> super::Companion {
    let items = format!(
        "_: flatten
        roi_heads.box_head.fc6: linear(12544, 1024) _: relu
        roi_heads.box_head.fc7: linear(1024, 1024) _: relu let x
        roi_heads.box_predictor.cls_score: linear(1024, {n}) output class_logits
        from x roi_heads.box_predictor.bbox_pred: linear(1024, {}) output box_regression",
        4 * n
    );
    super::Companion { suffix: "BoxHead", input: (256, 7, 7), items }
}

//! torchvision's classification families, semantic segmentation and detection models, each a macro that
//! defines the network for an input size: `cnn::models::NAME!(VIS struct Ident, input(3, H, W))`, optionally `, num_classes = N`,
//! is torchvision's `NAME(weights=None, num_classes=N)` with its module names, so its
//! `state_dict` loads with no renames (`tools/torchvision_weights.py` writes and reads such
//! files). GoogLeNet and Inception v3 are built as with `aux_logits=False,
//! transform_input=False`. Being macros, a program compiles only the networks it names.
//!
//! ```
//! use cnn::Network;
//!
//! cnn::models::resnet18!(
//!     /// ResNet-18 for 64x64 images, 10 classes.
//!     pub struct SmallResNet, input(3, 64, 64), num_classes = 10
//! );
//! assert_eq!(SmallResNet::PARAM_COUNT, 11_181_642);
//! assert_eq!(SmallResNet::OUTPUT_SHAPE, &[10]);
//! ```
//!
//! | macro | torchvision | parameters (1000 classes) |
//! |---|---|---|
//! | `alexnet!` | `alexnet()` | 61,100,840 |
//! | `vgg11_bn!` | `vgg11_bn()` | 132,868,840 |
//! | `resnet18!`, `resnet34!`, `resnet50!`, `resnet152!` | `resnet18()`, ... | 11,689,512, 21,797,672, 25,557,032, 60,192,808 |
//! | `resnext50_32x4d!`, `wide_resnet50_2!` | `resnext50_32x4d()`, `wide_resnet50_2()` | 25,028,904, 68,883,240 |
//! | `mobilenet_v2!`, `mobilenet_v3_small!` | `mobilenet_v2()`, `mobilenet_v3_small()` | 3,504,872, 2,542,856 |
//! | `efficientnet_b0!` | `efficientnet_b0()` | 5,288,548 |
//! | `regnet_x_400mf!`, `regnet_y_400mf!` | `regnet_x_400mf()`, `regnet_y_400mf()` | 5,495,976, 4,344,144 |
//! | `mnasnet0_5!` | `mnasnet0_5()` | 2,218,512 |
//! | `shufflenet_v2_x0_5!` | `shufflenet_v2_x0_5()` | 1,366,792 |
//! | `squeezenet1_1!` | `squeezenet1_1()` | 1,235,496 |
//! | `densenet121!`, `densenet169!` | `densenet121()`, `densenet169()` | 7,978,856, 14,149,480 |
//! | `googlenet!` | `googlenet(aux_logits=False)` | 6,624,904 |
//! | `inception_v3!` | `inception_v3(aux_logits=False)` | 23,834,568 |
//! | `convnext_tiny!` | `convnext_tiny()` | 28,589,128 |
//!
//! The segmentation models are built as with `aux_loss=False` and default to 21 classes (Pascal
//! VOC's, as torchvision's); their output is the `"out"` map, `[num_classes, H, W]`, after the
//! final bilinear interpolation to the input's size, and `train_step` takes one label per pixel.
//! LR-ASPP's head reads a feature from inside the backbone: it is written as a `sum` whose
//! second branch runs the rest of the backbone, with `_` names and dotted item names that keep
//! torchvision's keys (see the DSL that `cnn-macros/src/models/segmentation.rs` writes).
//!
//! | macro | torchvision (`models.segmentation`) | parameters (21 classes) |
//! |---|---|---|
//! | `fcn_resnet50!` | `fcn_resnet50(aux_loss=False)` | 32,957,013 |
//! | `deeplabv3_resnet50!` | `deeplabv3_resnet50(aux_loss=False)` | 39,638,869 |
//! | `deeplabv3_mobilenet_v3_large!` | `deeplabv3_mobilenet_v3_large(aux_loss=False)` | 11,025,477 |
//! | `lraspp_mobilenet_v3_large!` | `lraspp_mobilenet_v3_large()` | 3,221,538 |
//!
//! ```
//! use cnn::Network;
//!
//! cnn::models::lraspp_mobilenet_v3_large!(pub struct LrAspp, input(3, 64, 64), num_classes = 3);
//! assert_eq!(LrAspp::OUTPUT_SHAPE, &[3, 64, 64]);
//! ```
//!
//! The detection models are the networks of torchvision's detectors as their COCO weights build
//! them (the ResNets with `FrozenBatchNorm2d`, eps 0 where `overwrite_eps` sets it; SSDlite's
//! reduced-tail MobileNetV3), default to COCO's 91 classes, and end where torchvision's heads do: several named outputs, each level's class
//! logits and box regression, channels-last (`[H, W, A * K]`, torchvision's `[H * W * A, K]`).
//! The transform before (`cnn::detect::normalize_and_resize`), the anchors
//! (`cnn::detect::AnchorGenerator`) and the post-processing after
//! (`cnn::detect::Postprocess`) are `cnn::detect`'s; `tests/detection_models.rs` runs the whole
//! pipeline and gets torchvision's detections.
//!
//! | macro | torchvision (`models.detection`) | parameters (91 classes) | outputs |
//! |---|---|---|---|
//! | `retinanet_resnet50_fpn!` | `retinanet_resnet50_fpn(weights="COCO_V1")` | 34,014,999 | `cls_logits_p3` .. `_p7`, `bbox_regression_p3` .. `_p7` |
//! | `fcos_resnet50_fpn!` | `fcos_resnet50_fpn(weights="COCO_V1")` | 32,269,600 | `cls_logits_p3` .. `_p7`, `bbox_regression_p3` .. `_p7`, `bbox_ctrness_p3` .. `_p7` |
//! | `ssdlite320_mobilenet_v3_large!` | `ssdlite320_mobilenet_v3_large(weights="COCO_V1")` (torchvision's input is 320x320) | 3,440,060 | `cls_logits_0` .. `_5`, `bbox_regression_0` .. `_5` |
//! | `fasterrcnn_mobilenet_v3_large_fpn!` | `fasterrcnn_mobilenet_v3_large_fpn(weights="COCO_V1")`: backbone, FPN, RPN head | 5,024,299 | `features_0`, `features_1`, `objectness_0` / `_1` / `_pool`, `pred_bbox_deltas_0` / `_1` / `_pool` |
//! | (its second network, `NameBoxHead`) | its RoI heads' `box_head` and `box_predictor`, on `[256, 7, 7]` | 14,362,055 | `class_logits`, `box_regression` |
//!
//! Faster R-CNN is two networks with work of another kind between them, so
//! `fasterrcnn_mobilenet_v3_large_fpn!(pub struct Net, ...)` writes `Net` (MobileNetV3-Large
//! with `FrozenBatchNorm2d`, the FPN on its last two stages with `LastLevelMaxPool`, the RPN
//! head on the three maps) and `NetBoxHead` (`TwoMLPHead` and `FastRCNNPredictor` on one
//! pooled region). torchvision's one `state_dict` loads into both with
//! `net.load_safetensors_with(&mut box_head, path)`, strictly over the two. Between them:
//! `AnchorGenerator::new` (sizes 32 .. 512 on each of the three levels, ratios 0.5, 1, 2),
//! `RegionProposals` (`score_thresh` 0.05 for this model), `MultiScaleRoiAlign::faster_rcnn`
//! on `features_0` and `features_1`, and after the box head `RoiHeadsPostprocess::faster_rcnn`.
//!
//! ```
//! use cnn::detect::{AnchorGenerator, Detection, LevelOutputs, Postprocess};
//! use cnn::Network;
//!
//! cnn::models::retinanet_resnet50_fpn!(pub struct RetinaNet, input(3, 64, 64), num_classes = 3);
//! let net = RetinaNet::new(0);
//! let y = net.forward(&[0.0; 3 * 64 * 64]);
//! assert_eq!(y.cls_logits_p3.len(), 8 * 8 * 9 * 3);     // P3: stride 8, 9 anchors, 3 classes
//! let anchors = AnchorGenerator::retinanet().anchors((64, 64), &[(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]).unwrap();
//! let cls = [&y.cls_logits_p3[..], &y.cls_logits_p4, &y.cls_logits_p5, &y.cls_logits_p6, &y.cls_logits_p7];
//! let reg = [&y.bbox_regression_p3[..], &y.bbox_regression_p4, &y.bbox_regression_p5, &y.bbox_regression_p6, &y.bbox_regression_p7];
//! let mut at = 0;
//! let levels: Vec<LevelOutputs<'_>> = (0..5)
//!     .map(|l| {
//!         let n = reg[l].len() / 4;
//!         at += n;
//!         LevelOutputs { cls_logits: cls[l], bbox_regression: reg[l], bbox_ctrness: None, anchors: &anchors[at - n..at] }
//!     })
//!     .collect();
//! let mut found = Detection::default();
//! Postprocess::retinanet().detect_into(&levels, 3, (64, 64), &mut found).unwrap();
//! assert!(found.boxes.len() <= 300);
//! ```

pub use cnn_macros::{
    alexnet, convnext_tiny, densenet121, densenet169, efficientnet_b0, googlenet, inception_v3, mnasnet0_5,
    mobilenet_v2, mobilenet_v3_small, regnet_x_400mf, regnet_y_400mf, resnet152, resnet18, resnet34, resnet50,
    resnext50_32x4d, shufflenet_v2_x0_5, squeezenet1_1, vgg11_bn, wide_resnet50_2,
};
pub use cnn_macros::{deeplabv3_mobilenet_v3_large, deeplabv3_resnet50, fcn_resnet50, lraspp_mobilenet_v3_large};
pub use cnn_macros::{
    fasterrcnn_mobilenet_v3_large_fpn, fcos_resnet50_fpn, retinanet_resnet50_fpn, ssdlite320_mobilenet_v3_large,
};

//! torchvision's semantic segmentation models (`torchvision.models.segmentation`, with
//! `aux_loss=False`): `fcn_resnet50`, `deeplabv3_resnet50`, `deeplabv3_mobilenet_v3_large` and
//! `lraspp_mobilenet_v3_large`, with their keys (`backbone.layer4.2.conv3.weight`,
//! `classifier.0.convs.4.1.weight`, ...) and the final bilinear interpolation to the input size.
//!
//! The backbones are the dilated ResNet-50 (output stride 8) and MobileNetV3-Large (output
//! stride 16) of [`super::resnet`] and [`super::mobilenet_v3`]. The sizes torchvision's
//! `forward` reads at run time (`x.shape[-2:]` for the pooled ASPP branch, the low-level feature's
//! size in LR-ASPP, the input's for the last interpolation) are computed here from the input
//! size, as the DSL takes sizes as numbers.
//!
//! LR-ASPP reads a low-level feature from inside the backbone: the DSL has no named values, so the
//! backbone is split where that feature is taken, and what comes after it is the second branch of
//! a `sum` whose first branch is the low-level classifier. Both the `sum` and the branch are
//! named `_` (no key segment), and the items inside are named with dotted paths
//! (`backbone.5: ...`, `classifier.cbr: seq { ... }`), so every key is torchvision's.

use super::mobilenet_v3;
use super::resnet;

/// Output length of a stride-2 convolution or pooling with "half" padding (`(k - 1) / 2`, odd
/// `k`): what every downsampling step of these backbones does to a side.
fn halve(len: usize) -> usize {
    (len - 1) / 2 + 1
}

/// The dilated ResNet-50's blocks and its `backbone` item, and the side of its output map.
fn resnet50_backbone((h, w): (usize, usize)) -> (String, String, (usize, usize)) {
    let blocks = resnet::blocks(resnet::Block::Bottleneck, 1, 64, "batchnorm", "");
    let backbone = format!("backbone: seq {{ {} }}", resnet::features([3, 4, 6, 3], 4, true));
    // conv1, maxpool and layer2 halve the map; layer3 and layer4 are dilated instead.
    let side = |l: usize| halve(halve(halve(l)));
    (blocks, backbone, (side(h), side(w)))
}

/// The side of MobileNetV3-Large's dilated features' output after feature `last` (the stem and
/// features 2, 4 and 7 halve the map; feature 13 is dilated instead).
fn mobilenet_side(len: usize, last: usize) -> usize {
    [0, 2, 4, 7].iter().filter(|&&i| i <= last).fold(len, |l, _| halve(l))
}

/// `FCNHead(in_channels, num_classes)`.
fn fcn_head(c: usize, n: usize) -> String {
    let inter = c / 4;
    format!(
        "classifier: seq {{
            conv({c}, {inter}, k=3, p=1, bias=false) batchnorm({inter}) relu dropout(0.1) conv({inter}, {n}, k=1)
        }}"
    )
}

/// `DeepLabHead(in_channels, num_classes)`: ASPP with rates 12, 24, 36 and its pooled branch
/// brought back to the feature map's `size`, then a 3x3 convolution and the classifier.
fn deeplab_head(c: usize, n: usize, (fh, fw): (usize, usize)) -> String {
    let rates: String = [12, 24, 36]
        .iter()
        .map(|r| format!("seq {{ conv({c}, 256, k=3, p={r}, d={r}, bias=false) batchnorm(256) relu }}\n"))
        .collect();
    format!(
        "classifier: seq {{
            seq {{
                convs: cat {{
                    seq {{ conv({c}, 256, k=1, bias=false) batchnorm(256) relu }}
                    {rates}
                    seq {{
                        adaptive_avgpool(1) conv({c}, 256, k=1, bias=false) batchnorm(256) relu
                        upsample(size=({fh}, {fw}), mode=bilinear)
                    }}
                }}
                project: seq {{ conv(1280, 256, k=1, bias=false) batchnorm(256) relu dropout(0.5) }}
            }}
            conv(256, 256, k=3, p=1, bias=false) batchnorm(256) relu conv(256, {n}, k=1)
        }}"
    )
}

/// The interpolation of the logits back to the input's size.
fn to_input((h, w): (usize, usize)) -> String {
    format!("upsample(size=({h}, {w}), mode=bilinear)")
}

/// `fcn_resnet50(aux_loss=False)`.
pub fn fcn_resnet50(n: usize, input: (usize, usize)) -> (String, String) {
    let (blocks, backbone, _) = resnet50_backbone(input);
    (blocks, format!("{backbone}\n{}\n{}", fcn_head(2048, n), to_input(input)))
}

/// `deeplabv3_resnet50(aux_loss=False)`.
pub fn deeplabv3_resnet50(n: usize, input: (usize, usize)) -> (String, String) {
    let (blocks, backbone, feature) = resnet50_backbone(input);
    (blocks, format!("{backbone}\n{}\n{}", deeplab_head(2048, n, feature), to_input(input)))
}

/// `deeplabv3_mobilenet_v3_large(aux_loss=False)`.
pub fn deeplabv3_mobilenet_v3_large(n: usize, (h, w): (usize, usize)) -> (String, String) {
    let features = mobilenet_v3::large_dilated_features().join("\n");
    let feature = (mobilenet_side(h, 16), mobilenet_side(w, 16));
    let items = format!("backbone: seq {{ {features} }}\n{}\n{}", deeplab_head(960, n, feature), to_input((h, w)));
    (mobilenet_v3::blocks(&mobilenet_v3::batchnorm(0.01)), items)
}

/// `lraspp_mobilenet_v3_large()`: the low-level feature is feature 4's output (output stride
/// 8, 40 channels), the high-level one feature 16's (960 channels); the head is
/// `low_classifier(low) + high_classifier(interpolate(cbr(high) * scale(high)))`.
pub fn lraspp_mobilenet_v3_large(n: usize, (h, w): (usize, usize)) -> (String, String) {
    const LOW: usize = 4;
    let features = mobilenet_v3::large_dilated_features();
    let named = |range: std::ops::Range<usize>| -> String {
        range.map(|i| format!("backbone.{i}: {}\n", features[i])).collect()
    };
    let low = (mobilenet_side(h, LOW), mobilenet_side(w, LOW));
    let items = format!(
        "{before}
        _: sum {{
            classifier.low_classifier: conv(40, {n}, k=1)
            _: seq {{
                {after}
                _: mul {{
                    classifier.cbr: seq {{ conv(960, 128, k=1, bias=false) batchnorm(128) relu }}
                    classifier.scale: seq {{ adaptive_avgpool(1) conv(960, 128, k=1, bias=false) sigmoid }}
                }}
                upsample(size=({lh}, {lw}), mode=bilinear)
                classifier.high_classifier: conv(128, {n}, k=1)
            }}
        }}
        {last}",
        before = named(0..LOW + 1),
        after = named(LOW + 1..features.len()),
        lh = low.0,
        lw = low.1,
        last = to_input((h, w)),
    );
    (mobilenet_v3::blocks(&mobilenet_v3::batchnorm(0.01)), items)
}

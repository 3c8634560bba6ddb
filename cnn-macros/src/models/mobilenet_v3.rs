//! `torchvision.models.mobilenet_v3_small`, and the dilated `mobilenet_v3_large` features of
//! the segmentation models and the reduced-tail `mobilenet_v3_large` of SSDlite, written as
//! torchvision's `mobilenetv3.py` is: the inverted residual
//! once (expand, depthwise, optional squeeze-and-excitation, project; ReLU or hard-swish), the
//! features a use per row of its table; batch norm `eps=0.001` and the model's momentum.

use super::make_divisible;

/// MobileNetV3's own batch norm on `cout` channels: eps 0.001 and `momentum` (torchvision's
/// classifier and segmentation models: 0.01; SSDlite: 0.03).
pub fn batchnorm(momentum: f64) -> String {
    format!("batchnorm(cout, eps=0.001, momentum={momentum})")
}

/// The blocks of MobileNetV3: `Conv2dNormActivation`, `SqueezeExcitation` and
/// `InvertedResidual` (its stride 1 where dilated, as torchvision's), their norm layer `norm`
/// on `cout` channels ([`batchnorm`], or Faster R-CNN's `frozen_batchnorm(cout)`).
pub fn blocks(norm: &str) -> String {
    format!(
        "
        /// `Conv2dNormActivation`: hard-swish if `hs` is 1, ReLU if 0, ReLU6 if 2, none if -1.
        block conv_bn_act(cin, cout, k, s, g, hs, d = 1) {{
            conv(cin, cout, k=k, s=s, p=(k - 1) / 2 * d, d=d, g=g, bias=false) {norm}
            if hs == 1 {{ hardswish }} else if hs == 0 {{ relu }} else if hs == 2 {{ relu6 }}
        }}

        /// `SqueezeExcitation` with ReLU and hard-sigmoid.
        block squeeze_excitation(c, squeeze) {{
            _: gate {{
                avgpool: adaptive_avgpool(1) fc1: conv(c, squeeze, k=1) activation: relu
                fc2: conv(squeeze, c, k=1) scale_activation: hardsigmoid
            }}
        }}

        /// `InvertedResidual.block`; `squeeze` 0 for none.
        block inverted_layers(cin, k, exp, cout, squeeze, hs, s, d) {{
            if exp != cin {{ conv_bn_act(cin, exp, 1, 1, 1, hs) }}
            conv_bn_act(exp, exp, k, s, exp, hs, d)
            if squeeze > 0 {{ squeeze_excitation(exp, squeeze) }}
            conv_bn_act(exp, cout, 1, 1, 1, -1)
        }}

        /// `InvertedResidual`: a residual where the shape is kept; a dilated block strides 1.
        block inverted_residual(cin, k, exp, cout, squeeze, hs, s, d = 1) {{
            if s == 1 && cin == cout {{
                _: residual {{ block: inverted_layers(cin, k, exp, cout, squeeze, hs, s, d) }}
            }} else if d > 1 {{
                block: inverted_layers(cin, k, exp, cout, squeeze, hs, 1, d)
            }} else {{
                block: inverted_layers(cin, k, exp, cout, squeeze, hs, s, d)
            }}
        }}"
    )
}

/// MobileNetV3-Small: its blocks, and the items of the network.
pub fn mobilenet_v3_small(n: usize) -> (String, String) {
    let blocks = blocks(&batchnorm(0.01));
    // (input, kernel, expanded, output, squeeze-and-excitation, hard-swish, stride)
    let table = [
        (16, 3, 16, 16, true, 0, 2),
        (16, 3, 72, 24, false, 0, 2),
        (24, 3, 88, 24, false, 0, 1),
        (24, 5, 96, 40, true, 1, 2),
        (40, 5, 240, 40, true, 1, 1),
        (40, 5, 240, 40, true, 1, 1),
        (40, 5, 120, 48, true, 1, 1),
        (48, 5, 144, 48, true, 1, 1),
        (48, 5, 288, 96, true, 1, 2),
        (96, 5, 576, 96, true, 1, 1),
        (96, 5, 576, 96, true, 1, 1),
    ];
    let mut features = String::from("conv_bn_act(3, 16, 3, 2, 1, 1)\n");
    for (cin, k, exp, cout, se, hs, s) in table {
        let squeeze = if se { make_divisible(exp as f64 / 4.0, 8) } else { 0 };
        features += &format!("inverted_residual({cin}, {k}, {exp}, {cout}, {squeeze}, {hs}, {s})\n");
    }
    let items = format!(
        "features: seq {{ {features} conv_bn_act(96, 576, 1, 1, 1, 1) }}
        avgpool: adaptive_avgpool(1) _: flatten
        classifier: seq {{ linear(576, 1024) hardswish dropout(0.2) linear(1024, {n}) }}"
    );
    (blocks, items)
}

/// The `features` of `mobilenet_v3_large(dilated=True)`, as the segmentation models use them:
/// one item per module (`features.0` to `features.16`), in order; the last three inverted residuals dilated 2 (the first of them no longer strided).
pub fn large_dilated_features() -> Vec<String> {
    large_features(1, 2)
}

/// The `features` of `mobilenet_v3_large(reduced_tail=..., dilated=...)`: the last stage's
/// channels divided by `divider` (2 with `reduced_tail`), its inverted residuals dilated by
/// `dilation` (the first of them no longer strided when dilated); one item per module.
pub fn large_features(divider: usize, dilation: usize) -> Vec<String> {
    let (c5, e5) = (160 / divider, 960 / divider);
    // (input, kernel, expanded, output, squeeze-and-excitation, hard-swish, stride, dilation)
    let table = [
        (16, 3, 16, 16, false, 0, 1, 1),
        (16, 3, 64, 24, false, 0, 2, 1),
        (24, 3, 72, 24, false, 0, 1, 1),
        (24, 5, 72, 40, true, 0, 2, 1),
        (40, 5, 120, 40, true, 0, 1, 1),
        (40, 5, 120, 40, true, 0, 1, 1),
        (40, 3, 240, 80, false, 1, 2, 1),
        (80, 3, 200, 80, false, 1, 1, 1),
        (80, 3, 184, 80, false, 1, 1, 1),
        (80, 3, 184, 80, false, 1, 1, 1),
        (80, 3, 480, 112, true, 1, 1, 1),
        (112, 3, 672, 112, true, 1, 1, 1),
        (112, 5, 672, c5, true, 1, 2, dilation),
        (c5, 5, e5, c5, true, 1, 1, dilation),
        (c5, 5, e5, c5, true, 1, 1, dilation),
    ];
    let mut features = vec!["conv_bn_act(3, 16, 3, 2, 1, 1)".to_string()];
    for (cin, k, exp, cout, se, hs, s, d) in table {
        let squeeze = if se { make_divisible(exp as f64 / 4.0, 8) } else { 0 };
        features.push(format!("inverted_residual({cin}, {k}, {exp}, {cout}, {squeeze}, {hs}, {s}, {d})"));
    }
    features.push(format!("conv_bn_act({c5}, {}, 1, 1, 1, 1)", 6 * c5));
    features
}

//! `torchvision.models.mobilenet_v3_small`, written as torchvision's `mobilenetv3.py` is: the
//! inverted residual once (expand, depthwise, optional squeeze-and-excitation, project; ReLU or
//! hard-swish), the features a use per row of its table; batch norm `eps=0.001, momentum=0.01`.

use super::make_divisible;

/// MobileNetV3-Small: its blocks, and the items of the network.
pub fn mobilenet_v3_small(n: usize) -> (String, String) {
    let blocks = "
        /// `Conv2dNormActivation`: hard-swish if `hs` is 1, ReLU if 0, none if -1.
        block conv_bn_act(cin, cout, k, s, g, hs) {
            conv(cin, cout, k=k, s=s, p=(k - 1) / 2, g=g, bias=false) batchnorm(cout, eps=0.001, momentum=0.01)
            if hs == 1 { hardswish } else if hs == 0 { relu }
        }

        /// `SqueezeExcitation` with ReLU and hard-sigmoid.
        block squeeze_excitation(c, squeeze) {
            _: gate {
                avgpool: adaptive_avgpool(1) fc1: conv(c, squeeze, k=1) activation: relu
                fc2: conv(squeeze, c, k=1) scale_activation: hardsigmoid
            }
        }

        /// `InvertedResidual.block`; `squeeze` 0 for none.
        block inverted_layers(cin, k, exp, cout, squeeze, hs, s) {
            if exp != cin { conv_bn_act(cin, exp, 1, 1, 1, hs) }
            conv_bn_act(exp, exp, k, s, exp, hs)
            if squeeze > 0 { squeeze_excitation(exp, squeeze) }
            conv_bn_act(exp, cout, 1, 1, 1, -1)
        }

        /// `InvertedResidual`: a residual where the shape is kept.
        block inverted_residual(cin, k, exp, cout, squeeze, hs, s) {
            if s == 1 && cin == cout {
                _: residual { block: inverted_layers(cin, k, exp, cout, squeeze, hs, s) }
            } else {
                block: inverted_layers(cin, k, exp, cout, squeeze, hs, s)
            }
        }"
    .to_string();
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

//! `torchvision.models.mobilenet_v2`, written as torchvision's `mobilenetv2.py` is: the
//! inverted residual block once, the features one use per row of the `(t, c, n, s)` table.

use super::make_divisible;

/// MobileNetV2 (width 1.0): its blocks, and the items of the network.
pub fn mobilenet_v2(n: usize) -> (String, String) {
    let blocks = "
        /// `Conv2dNormActivation` with ReLU6.
        block conv_bn_relu6(cin, cout, k, s, g) {
            conv(cin, cout, k=k, s=s, p=(k - 1) / 2, g=g, bias=false) batchnorm(cout) relu6
        }

        /// `InvertedResidual.conv`: expand (unless `t` is 1), depthwise, project.
        block inverted_layers(cin, cout, s, hidden) {
            if hidden != cin { conv_bn_relu6(cin, hidden, 1, 1, 1) }
            conv_bn_relu6(hidden, hidden, 3, s, hidden)
            conv(hidden, cout, k=1, bias=false) batchnorm(cout)
        }

        /// `InvertedResidual`: a residual connection where the shape is kept.
        block inverted_residual(cin, cout, s, t) {
            if s == 1 && cin == cout {
                _: residual { conv: inverted_layers(cin, cout, s, cin * t) }
            } else {
                conv: inverted_layers(cin, cout, s, cin * t)
            }
        }"
    .to_string();
    let table =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];
    let mut c = make_divisible(32.0, 8);
    let mut features = format!("conv_bn_relu6(3, {c}, 3, 2, 1)\n");
    for (t, channels, repeats, s) in table {
        let cout = make_divisible(channels as f64, 8);
        features += &format!(
            "inverted_residual({c}, {cout}, {s}, {t}) for _ in 1..{repeats} {{ inverted_residual({cout}, {cout}, 1, {t}) }}\n"
        );
        c = cout;
    }
    let items = format!(
        "features: seq {{
            {features}
            conv_bn_relu6({c}, 1280, 1, 1, 1)
        }}
        _: adaptive_avgpool(1) _: flatten classifier: seq {{ dropout(0.2) linear(1280, {n}) }}"
    );
    (blocks, items)
}

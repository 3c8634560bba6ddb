//! `torchvision.models.efficientnet_b0`, written as torchvision's `efficientnet.py` is:
//! `MBConv` once (expand, depthwise, squeeze-and-excitation, project; a residual with stochastic
//! depth where the shape is kept), the stages a loop each, stochastic depth rising linearly to
//! 0.2 over all blocks.

/// EfficientNet-B0: its blocks, and the items of the network.
pub fn efficientnet_b0(n: usize) -> (String, String) {
    let blocks = "
        /// `Conv2dNormActivation` with SiLU.
        block conv_bn_silu(cin, cout, k, s = 1, g = 1) {
            conv(cin, cout, k=k, s=s, p=(k - 1) / 2, g=g, bias=false) batchnorm(cout) silu
        }

        /// `SqueezeExcitation` with SiLU.
        block squeeze_excitation(c, squeeze) {
            _: gate {
                avgpool: adaptive_avgpool(1) fc1: conv(c, squeeze, k=1) activation: silu
                fc2: conv(squeeze, c, k=1) scale_activation: sigmoid
            }
        }

        /// `MBConv.block`: expand (unless the ratio is 1), depthwise, squeeze, project.
        block mb_layers(cin, cout, k, s, exp) {
            if exp != cin { conv_bn_silu(cin, exp, 1) }
            conv_bn_silu(exp, exp, k, s, exp)
            squeeze_excitation(exp, cin / 4)
            seq { conv(exp, cout, k=1, bias=false) batchnorm(cout) }
        }

        /// `MBConv` with expansion `t` and stochastic depth probability `p`.
        block mb_conv(cin, cout, k, s, t, p) {
            if s == 1 && cin == cout {
                _: residual {
                    block: mb_layers(cin, cout, k, s, cin * t)
                    stochastic_depth: stochastic_depth(p, mode=row)
                }
            } else {
                block: mb_layers(cin, cout, k, s, cin * t)
            }
        }

        /// A stage of `layers` blocks, the first of them block `first` of `total`.
        block stage(t, k, s, cin, cout, layers, first, total) {
            mb_conv(cin, cout, k, s, t, 0.2 * first / total)
            for i in 1..layers { mb_conv(cout, cout, k, 1, t, 0.2 * (first + i) / total) }
        }"
    .to_string();
    // (expand ratio, kernel, stride, input, output, layers)
    let table = [
        (1, 3, 1, 32, 16, 1),
        (6, 3, 2, 16, 24, 2),
        (6, 5, 2, 24, 40, 2),
        (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3),
        (6, 5, 2, 112, 192, 4),
        (6, 3, 1, 192, 320, 1),
    ];
    let total: usize = table.iter().map(|t| t.5).sum();
    let mut features = String::from("conv_bn_silu(3, 32, 3, 2)\n");
    let mut first = 0;
    for (t, k, s, cin, cout, layers) in table {
        features += &format!("stage({t}, {k}, {s}, {cin}, {cout}, {layers}, {first}, {total})\n");
        first += layers;
    }
    let items = format!(
        "features: seq {{ {features} conv_bn_silu(320, 1280, 1) }}
        avgpool: adaptive_avgpool(1) _: flatten classifier: seq {{ dropout(0.2) linear(1280, {n}) }}"
    );
    (blocks, items)
}

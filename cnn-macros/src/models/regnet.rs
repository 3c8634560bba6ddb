//! `torchvision.models.regnet_x_400mf` and `regnet_y_400mf`, written as torchvision's
//! `regnet.py` is: `ResBottleneckBlock` once (Y with squeeze-and-excitation), each stage a loop
//! of blocks named `block{i}-{j}`. The stage tables are what torchvision's
//! `BlockParams.from_init_params` computes for these two models.

/// (width, depth, group width) per stage; the bottleneck multiplier is 1 and every stage's
/// first block has stride 2. `se_ratio` squeezes each block's input width.
fn regnet(stem: usize, stages: &[(usize, usize, usize)], se_ratio: Option<f64>, n: usize) -> (String, String) {
    let blocks = "
        /// `Conv2dNormActivation` with ReLU.
        block conv_bn_relu(cin, cout, k, s = 1, g = 1) {
            conv(cin, cout, k=k, s=s, p=(k - 1) / 2, g=g, bias=false) batchnorm(cout) relu
        }

        /// `ResBottleneckBlock` (multiplier 1); `squeeze` 0 for no squeeze-and-excitation.
        block res_bottleneck(cin, width, s, g, squeeze) {
            _: residual {
                f: seq {
                    a: conv_bn_relu(cin, width, 1) b: conv_bn_relu(width, width, 3, s, g)
                    if squeeze > 0 {
                        se: gate {
                            avgpool: adaptive_avgpool(1) fc1: conv(width, squeeze, k=1) activation: relu
                            fc2: conv(squeeze, width, k=1) scale_activation: sigmoid
                        }
                    }
                    c: seq { conv(width, width, k=1, bias=false) batchnorm(width) }
                }
            } if cin != width || s != 1 {
                proj: shortcut { conv(cin, width, k=1, s=s, bias=false) batchnorm(width) }
            }
            activation: relu
        }

        /// `AnyStage` number `i`: the first block at stride 2 from `cin`, the others at `width`.
        block stage(i, cin, width, depth, g, squeeze_first, squeeze) {
            \"block{i}-0\": res_bottleneck(cin, width, 2, g, squeeze_first)
            for j in 1..depth { \"block{i}-{j}\": res_bottleneck(width, width, 1, g, squeeze) }
        }"
    .to_string();
    let squeeze = |c: usize| se_ratio.map_or(0, |r| (r * c as f64).round() as usize);
    let mut trunk = String::new();
    let mut cin = stem;
    for (i, &(width, depth, group_width)) in stages.iter().enumerate() {
        let stage = i + 1;
        let (first, rest) = (squeeze(cin), squeeze(width));
        trunk += &format!(
            "block{stage}: stage({stage}, {cin}, {width}, {depth}, {}, {first}, {rest})\n",
            width / group_width
        );
        cin = width;
    }
    let items = format!(
        "stem: conv_bn_relu(3, {stem}, 3, 2)
        trunk_output: seq {{ {trunk} }}
        avgpool: adaptive_avgpool(1) _: flatten fc: linear({cin}, {n})"
    );
    (blocks, items)
}

pub fn regnet_x_400mf(n: usize) -> (String, String) {
    regnet(32, &[(32, 1, 16), (64, 2, 16), (160, 7, 16), (400, 12, 16)], None, n)
}

pub fn regnet_y_400mf(n: usize) -> (String, String) {
    regnet(32, &[(48, 1, 8), (104, 3, 8), (208, 6, 8), (440, 6, 8)], Some(0.25), n)
}

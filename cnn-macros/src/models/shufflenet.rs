//! `torchvision.models.shufflenet_v2_x0_5` (any channel table), written as torchvision's
//! `shufflenetv2.py` is: `InvertedResidual` once (stride 2: two branches joined; stride 1: the
//! channels split, one half through `branch2`; then a channel shuffle), each stage a loop.

/// ShuffleNetV2 with `channels` (stem, three stages, last conv): its blocks, and the items.
pub fn shufflenet_v2(channels: [usize; 5], n: usize) -> (String, String) {
    let blocks = "
        /// `branch2`: 1x1, depthwise 3x3 with stride `s`, 1x1.
        block branch2(cin, c, s) {
            conv(cin, c, k=1, bias=false) batchnorm(c) relu
            conv(c, c, k=3, s=s, p=1, g=c, bias=false) batchnorm(c)
            conv(c, c, k=1, bias=false) batchnorm(c) relu
        }

        /// `InvertedResidual`: `cout` channels out, at stride `s` (1 or 2).
        block inverted_residual(cin, cout, s) {
            if s == 1 {
                _: split { identity branch2: branch2(cout / 2, cout / 2, 1) }
            } else {
                _: cat {
                    branch1: seq {
                        conv(cin, cin, k=3, s=s, p=1, g=cin, bias=false) batchnorm(cin)
                        conv(cin, cout / 2, k=1, bias=false) batchnorm(cout / 2) relu
                    }
                    branch2: branch2(cin, cout / 2, s)
                }
            }
            _: channel_shuffle(2)
        }

        block stage(cin, cout, repeats) {
            inverted_residual(cin, cout, 2)
            for _ in 1..repeats { inverted_residual(cout, cout, 1) }
        }"
    .to_string();
    let [c0, c1, c2, c3, last] = channels;
    let items = format!(
        "conv1: seq {{ conv(3, {c0}, k=3, s=2, p=1, bias=false) batchnorm({c0}) relu }} maxpool: maxpool(3, 2, p=1)
        stage2: stage({c0}, {c1}, 4) stage3: stage({c1}, {c2}, 8) stage4: stage({c2}, {c3}, 4)
        conv5: seq {{ conv({c3}, {last}, k=1, bias=false) batchnorm({last}) relu }}
        _: global_avgpool _: flatten fc: linear({last}, {n})"
    );
    (blocks, items)
}

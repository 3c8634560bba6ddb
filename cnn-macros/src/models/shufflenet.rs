//! `torchvision.models.shufflenet_v2_x0_5` (any channel table): units that split the channels
//! (stride 1) or run two branches (stride 2), join them and shuffle.

/// `depthwise conv, bn, 1x1 conv, bn, relu`, or the other branch's `1x1, bn, relu, depthwise,
/// bn, 1x1, bn, relu`.
fn branch2(cin: usize, c: usize, s: usize) -> String {
    format!(
        "branch2: seq {{
            conv({cin}, {c}, k=1, bias=false) batchnorm({c}) relu
            conv({c}, {c}, k=3, s={s}, p=1, g={c}, bias=false) batchnorm({c})
            conv({c}, {c}, k=1, bias=false) batchnorm({c}) relu
        }}"
    )
}

pub fn shufflenet_v2(channels: [usize; 5], n: usize) -> String {
    let mut out = format!(
        "conv1: seq {{ conv(3, {0}, k=3, s=2, p=1, bias=false) batchnorm({0}) relu }} maxpool: maxpool(3, 2, p=1)\n",
        channels[0]
    );
    let mut cin = channels[0];
    for (i, repeats) in [4, 8, 4].into_iter().enumerate() {
        let cout = channels[i + 1];
        let c = cout / 2;
        let mut stage = format!(
            "seq {{ _: cat {{
                branch1: seq {{
                    conv({cin}, {cin}, k=3, s=2, p=1, g={cin}, bias=false) batchnorm({cin})
                    conv({cin}, {c}, k=1, bias=false) batchnorm({c}) relu
                }}
                {b2}
            }} _: channel_shuffle(2) }}\n",
            b2 = branch2(cin, c, 2)
        );
        for _ in 1..repeats {
            stage += &format!("seq {{ _: split {{ identity {} }} _: channel_shuffle(2) }}\n", branch2(c, c, 1));
        }
        out += &format!("stage{}: seq {{ {stage} }}\n", i + 2);
        cin = cout;
    }
    let last = channels[4];
    out + &format!(
        "conv5: seq {{ conv({cin}, {last}, k=1, bias=false) batchnorm({last}) relu }}
         _: global_avgpool _: flatten fc: linear({last}, {n})"
    )
}

//! `torchvision.models.mobilenet_v3_small`: inverted residual blocks with squeeze-and-excitation
//! and hard-swish, batch norm with `eps=0.001, momentum=0.01`.

use super::{conv_bn_act, make_divisible, squeeze_excitation};

const BN: &str = ", eps=0.001, momentum=0.01";

pub fn mobilenet_v3_small(n: usize) -> String {
    // (input, kernel, expanded, output, squeeze-and-excitation, hard-swish, stride)
    let table = [
        (16, 3, 16, 16, true, false, 2),
        (16, 3, 72, 24, false, false, 2),
        (24, 3, 88, 24, false, false, 1),
        (24, 5, 96, 40, true, true, 2),
        (40, 5, 240, 40, true, true, 1),
        (40, 5, 240, 40, true, true, 1),
        (40, 5, 120, 48, true, true, 1),
        (48, 5, 144, 48, true, true, 1),
        (48, 5, 288, 96, true, true, 2),
        (96, 5, 576, 96, true, true, 1),
        (96, 5, 576, 96, true, true, 1),
    ];
    let mut out = String::from("features: seq {\n");
    out += &conv_bn_act(None, 3, 16, 3, 2, 1, BN, Some("hardswish"));
    for (cin, k, exp, cout, se, hs, s) in table {
        let act = if hs { "hardswish" } else { "relu" };
        let mut block = String::new();
        if exp != cin {
            block += &conv_bn_act(None, cin, exp, 1, 1, 1, BN, Some(act));
        }
        block += &conv_bn_act(None, exp, exp, k, s, exp, BN, Some(act));
        if se {
            block += &squeeze_excitation(None, exp, make_divisible(exp as f64 / 4.0, 8), "relu", "hardsigmoid");
        }
        block += &conv_bn_act(None, exp, cout, 1, 1, 1, BN, None);
        let kind = if s == 1 && cin == cout { "residual" } else { "seq" };
        out += &format!("{kind} {{ block: seq {{ {block} }} }}\n");
    }
    out += &conv_bn_act(None, 96, 576, 1, 1, 1, BN, Some("hardswish"));
    out += "}\n";
    out + &format!(
        "avgpool: adaptive_avgpool(1) _: flatten
         classifier: seq {{ linear(576, 1024) hardswish dropout(0.2) linear(1024, {n}) }}"
    )
}

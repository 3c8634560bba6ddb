//! `torchvision.models.efficientnet_b0`: MBConv stages with squeeze-and-excitation and
//! stochastic depth rising linearly to 0.2.

use super::{conv_bn_act, squeeze_excitation};

const BN: &str = "";

pub fn efficientnet_b0(n: usize) -> String {
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
    let mut out = String::from("features: seq {\n");
    out += &conv_bn_act(None, 3, 32, 3, 2, 1, BN, Some("silu"));
    let mut id = 0;
    for (t, k, stride, cin0, cout, layers) in table {
        let mut stage = String::new();
        for i in 0..layers {
            let (cin, s) = if i == 0 { (cin0, stride) } else { (cout, 1) };
            let exp = cin * t;
            let mut block = String::new();
            if exp != cin {
                block += &conv_bn_act(None, cin, exp, 1, 1, 1, BN, Some("silu"));
            }
            block += &conv_bn_act(None, exp, exp, k, s, exp, BN, Some("silu"));
            block += &squeeze_excitation(None, exp, (cin / 4).max(1), "silu", "sigmoid");
            block += &conv_bn_act(None, exp, cout, 1, 1, 1, BN, None);
            let p = 0.2 * id as f64 / total as f64;
            stage += &if s == 1 && cin == cout {
                format!("residual {{ block: seq {{ {block} }} stochastic_depth: stochastic_depth({p:?}, mode=row) }}\n")
            } else {
                format!("seq {{ block: seq {{ {block} }} }}\n")
            };
            id += 1;
        }
        out += &format!("seq {{ {stage} }}\n");
    }
    out += &conv_bn_act(None, 320, 1280, 1, 1, 1, BN, Some("silu"));
    out += "}\n";
    out + &format!("avgpool: adaptive_avgpool(1) _: flatten classifier: seq {{ dropout(0.2) linear(1280, {n}) }}")
}

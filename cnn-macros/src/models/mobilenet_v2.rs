//! `torchvision.models.mobilenet_v2`: inverted residual blocks from the `(t, c, n, s)` table.

use super::make_divisible;

pub fn mobilenet_v2(n: usize) -> String {
    let table =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];
    let mut c = make_divisible(32.0, 8);
    let mut out =
        format!("features: seq {{\n seq {{ conv(3, {c}, k=3, s=2, p=1, bias=false) batchnorm({c}) relu6 }}\n");
    for (t, channels, repeats, stride) in table {
        let cout = make_divisible(channels as f64, 8);
        for i in 0..repeats {
            let s = if i == 0 { stride } else { 1 };
            let hidden = c * t;
            let mut layers = String::new();
            if t != 1 {
                layers += &format!("seq {{ conv({c}, {hidden}, k=1, bias=false) batchnorm({hidden}) relu6 }}\n");
            }
            layers += &format!(
                "seq {{ conv({hidden}, {hidden}, k=3, s={s}, p=1, g={hidden}, bias=false) batchnorm({hidden}) relu6 }}
                 conv({hidden}, {cout}, k=1, bias=false) batchnorm({cout})"
            );
            let kind = if s == 1 && c == cout { "residual" } else { "seq" };
            out += &format!("{kind} {{ conv: seq {{ {layers} }} }}\n");
            c = cout;
        }
    }
    out += &format!("seq {{ conv({c}, 1280, k=1, bias=false) batchnorm(1280) relu6 }}\n}}\n");
    out + &format!("_: adaptive_avgpool(1) _: flatten classifier: seq {{ dropout(0.2) linear(1280, {n}) }}")
}

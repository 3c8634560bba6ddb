//! `torchvision.models.mnasnet0_5` (any `alpha`): depths scaled by `alpha` and rounded as
//! torchvision's `_round_to_multiple_of`, batch norm momentum `1 - 0.9997`.

const BN: &str = ", momentum=0.0003";

/// `_round_to_multiple_of(val, 8, 0.9)`.
fn round_to_multiple_of(val: f64) -> usize {
    let new = 8usize.max((val + 4.0) as usize / 8 * 8);
    if new as f64 >= 0.9 * val {
        new
    } else {
        new + 8
    }
}

pub fn mnasnet(alpha: f64, n: usize) -> String {
    let d: Vec<usize> =
        [32, 16, 24, 40, 80, 96, 192, 320].iter().map(|&v| round_to_multiple_of(v as f64 * alpha)).collect();
    let mut out = format!(
        "layers: seq {{
            conv(3, {0}, k=3, s=2, p=1, bias=false) batchnorm({0}{BN}) relu
            conv({0}, {0}, k=3, p=1, g={0}, bias=false) batchnorm({0}{BN}) relu
            conv({0}, {1}, k=1, bias=false) batchnorm({1}{BN})\n",
        d[0], d[1]
    );
    // (kernel, stride, expansion, repeats) of each stack.
    let stacks = [(3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1)];
    for (i, (k, stride, t, repeats)) in stacks.into_iter().enumerate() {
        let (mut cin, cout) = (d[i + 1], d[i + 2]);
        let mut stack = String::new();
        for r in 0..repeats {
            let s = if r == 0 { stride } else { 1 };
            let mid = cin * t;
            let body = format!(
                "layers: seq {{
                    conv({cin}, {mid}, k=1, bias=false) batchnorm({mid}{BN}) relu
                    conv({mid}, {mid}, k={k}, s={s}, p={p}, g={mid}, bias=false) batchnorm({mid}{BN}) relu
                    conv({mid}, {cout}, k=1, bias=false) batchnorm({cout}{BN})
                }}",
                p = k / 2
            );
            let kind = if cin == cout && s == 1 { "residual" } else { "seq" };
            stack += &format!("{kind} {{ {body} }}\n");
            cin = cout;
        }
        out += &format!("seq {{ {stack} }}\n");
    }
    out += &format!("conv({}, 1280, k=1, bias=false) batchnorm(1280{BN}) relu\n}}\n", d[7]);
    out + &format!("_: global_avgpool _: flatten classifier: seq {{ dropout(0.2) linear(1280, {n}) }}")
}

//! `torchvision.models.mnasnet0_5` (any `alpha`), written as torchvision's `mnasnet.py` is:
//! `_InvertedResidual` once, each stack a loop, depths scaled by `alpha` and rounded as
//! `_round_to_multiple_of`, batch norm momentum `1 - 0.9997`.

/// `_round_to_multiple_of(val, 8, 0.9)`.
fn round_to_multiple_of(val: f64) -> usize {
    let new = 8usize.max((val + 4.0) as usize / 8 * 8);
    if new as f64 >= 0.9 * val {
        new
    } else {
        new + 8
    }
}

/// MNASNet with depth multiplier `alpha`: its blocks, and the items of the network.
pub fn mnasnet(alpha: f64, n: usize) -> (String, String) {
    let blocks = "
        /// `_InvertedResidual.layers`: expand, depthwise `k`x`k` with stride `s`, project.
        block inverted_layers(cin, cout, k, s, mid) {
            conv(cin, mid, k=1, bias=false) batchnorm(mid, momentum=0.0003) relu
            conv(mid, mid, k=k, s=s, p=k / 2, g=mid, bias=false) batchnorm(mid, momentum=0.0003) relu
            conv(mid, cout, k=1, bias=false) batchnorm(cout, momentum=0.0003)
        }

        /// `_InvertedResidual` with expansion `t`: a residual where the shape is kept.
        block inverted_residual(cin, cout, k, s, t) {
            if cin == cout && s == 1 {
                _: residual { layers: inverted_layers(cin, cout, k, s, cin * t) }
            } else {
                layers: inverted_layers(cin, cout, k, s, cin * t)
            }
        }

        /// `_stack`: the first block changes width and stride, the others keep them.
        block stack(cin, cout, k, s, t, repeats) {
            inverted_residual(cin, cout, k, s, t)
            for _ in 1..repeats { inverted_residual(cout, cout, k, 1, t) }
        }"
    .to_string();
    let d: Vec<usize> =
        [32, 16, 24, 40, 80, 96, 192, 320].iter().map(|&v| round_to_multiple_of(v as f64 * alpha)).collect();
    // The stem is a flat run of modules in `layers`, as torchvision's.
    let bn = ", momentum=0.0003";
    let mut layers = format!(
        "conv(3, {0}, k=3, s=2, p=1, bias=false) batchnorm({0}{bn}) relu
        conv({0}, {0}, k=3, p=1, g={0}, bias=false) batchnorm({0}{bn}) relu
        conv({0}, {1}, k=1, bias=false) batchnorm({1}{bn})\n",
        d[0], d[1]
    );
    // (kernel, stride, expansion, repeats) of each stack.
    let stacks = [(3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1)];
    for (i, (k, s, t, repeats)) in stacks.into_iter().enumerate() {
        layers += &format!("stack({}, {}, {k}, {s}, {t}, {repeats})\n", d[i + 1], d[i + 2]);
    }
    let items = format!(
        "layers: seq {{ {layers} conv({}, 1280, k=1, bias=false) batchnorm(1280{bn}) relu }}
        _: global_avgpool _: flatten classifier: seq {{ dropout(0.2) linear(1280, {n}) }}",
        d[7]
    );
    (blocks, items)
}

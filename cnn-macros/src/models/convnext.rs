//! `torchvision.models.convnext_tiny` (any stage table), written as torchvision's
//! `convnext.py` is: `CNBlock` once (depthwise 7x7, then layer norm and two per-pixel linear
//! layers on the channels-last value, a learned layer scale and stochastic depth rising linearly
//! to 0.1 over all blocks), each stage a loop, stages joined by layer norm and a 2x2 stride-2
//! convolution.

/// ConvNeXt with `(dim, depth)` stages: its blocks, and the items of the network.
pub fn convnext(stages: [(usize, usize); 4], n: usize) -> (String, String) {
    let blocks = "
        /// `CNBlock`, with stochastic depth probability `p`.
        block cn_block(dim, p) {
            _: residual {
                block: seq {
                    conv(dim, dim, k=7, p=3, g=dim) permute(0, 2, 3, 1) layernorm(dim, eps=1e-6)
                    linear(dim, 4 * dim) gelu linear(4 * dim, dim) permute(0, 3, 1, 2)
                }
                layer_scale: scale(dim, init=1e-6)
                stochastic_depth: stochastic_depth(p, mode=row)
            }
        }

        /// A stage of `depth` blocks, the first of them block `first` of `total`.
        block stage(dim, depth, first, total) {
            for i in 0..depth { cn_block(dim, 0.1 * (first + i) / (total - 1.0)) }
        }"
    .to_string();
    let total: usize = stages.iter().map(|s| s.1).sum();
    let c0 = stages[0].0;
    let mut features = format!("seq {{ conv(3, {c0}, k=4, s=4) layernorm2d({c0}, eps=1e-6) }}\n");
    let mut first = 0;
    for (i, &(dim, depth)) in stages.iter().enumerate() {
        features += &format!("stage({dim}, {depth}, {first}, {total})\n");
        if let Some(&(next, _)) = stages.get(i + 1) {
            features += &format!("seq {{ layernorm2d({dim}, eps=1e-6) conv({dim}, {next}, k=2, s=2) }}\n");
        }
        first += depth;
    }
    let last = stages[3].0;
    let items = format!(
        "features: seq {{ {features} }}
        avgpool: adaptive_avgpool(1)
        classifier: seq {{ layernorm2d({last}, eps=1e-6) flatten linear({last}, {n}) }}"
    );
    (blocks, items)
}

//! `torchvision.models.convnext_tiny` (any stage table): ConvNeXt blocks (depthwise 7x7, then
//! layer norm and two per-pixel linear layers on the channels-last value, a learned layer scale
//! and stochastic depth rising linearly to 0.1), stages joined by layer norm and a 2x2 stride-2
//! convolution.

pub fn convnext(stages: [(usize, usize); 4], n: usize) -> String {
    let total: usize = stages.iter().map(|s| s.1).sum();
    let c0 = stages[0].0;
    let mut out = format!("features: seq {{\n seq {{ conv(3, {c0}, k=4, s=4) layernorm2d({c0}, eps=1e-6) }}\n");
    let mut id = 0;
    for (i, &(dim, depth)) in stages.iter().enumerate() {
        let mut stage = String::new();
        for _ in 0..depth {
            let p = 0.1 * id as f64 / (total as f64 - 1.0);
            stage += &format!(
                "residual {{
                    block: seq {{
                        conv({dim}, {dim}, k=7, p=3, g={dim}) permute(0, 2, 3, 1) layernorm({dim}, eps=1e-6)
                        linear({dim}, {h}) gelu linear({h}, {dim}) permute(0, 3, 1, 2)
                    }}
                    layer_scale: scale({dim}, init=1e-6)
                    stochastic_depth: stochastic_depth({p:?}, mode=row)
                }}\n",
                h = 4 * dim
            );
            id += 1;
        }
        out += &format!("seq {{ {stage} }}\n");
        if let Some(&(next, _)) = stages.get(i + 1) {
            out += &format!("seq {{ layernorm2d({dim}, eps=1e-6) conv({dim}, {next}, k=2, s=2) }}\n");
        }
    }
    let last = stages[3].0;
    out += "}\n";
    out + &format!(
        "avgpool: adaptive_avgpool(1)
         classifier: seq {{ layernorm2d({last}, eps=1e-6) flatten linear({last}, {n}) }}"
    )
}

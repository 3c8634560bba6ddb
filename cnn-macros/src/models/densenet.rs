//! `torchvision.models.densenet121` (any growth rate and block table): dense layers that join
//! their input with what they compute, and transitions that halve the channels and the map.

pub fn densenet(growth: usize, blocks: [usize; 4], init: usize, n: usize) -> String {
    let bottleneck = 4 * growth;
    let mut out = format!(
        "features: seq {{
            conv0: conv(3, {init}, k=7, s=2, p=3, bias=false) norm0: batchnorm({init}) relu0: relu
            pool0: maxpool(3, 2, p=1)\n"
    );
    let mut c = init;
    for (i, &layers) in blocks.iter().enumerate() {
        let mut block = String::new();
        for j in 0..layers {
            block += &format!(
                "denselayer{}: dense {{
                    norm1: batchnorm({c}) relu1: relu conv1: conv({c}, {bottleneck}, k=1, bias=false)
                    norm2: batchnorm({bottleneck}) relu2: relu conv2: conv({bottleneck}, {growth}, k=3, p=1, bias=false)
                }}\n",
                j + 1
            );
            c += growth;
        }
        out += &format!("denseblock{}: seq {{ {block} }}\n", i + 1);
        if i + 1 < blocks.len() {
            out += &format!(
                "transition{}: seq {{ norm: batchnorm({c}) relu: relu conv: conv({c}, {h}, k=1, bias=false) pool: avgpool(2, 2) }}\n",
                i + 1,
                h = c / 2
            );
            c /= 2;
        }
    }
    out += &format!("norm5: batchnorm({c})\n}}\n");
    out + &format!("_: relu _: adaptive_avgpool(1) _: flatten classifier: linear({c}, {n})")
}

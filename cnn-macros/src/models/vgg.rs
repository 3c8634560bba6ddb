//! `torchvision.models.vgg11_bn`: configuration "A" with batch norm.

pub fn vgg11_bn(n: usize) -> String {
    let cfg: [Option<usize>; 13] = [
        Some(64),
        None,
        Some(128),
        None,
        Some(256),
        Some(256),
        None,
        Some(512),
        Some(512),
        None,
        Some(512),
        Some(512),
        None,
    ];
    let mut features = String::new();
    let mut c = 3;
    for v in cfg {
        match v {
            Some(v) => {
                features += &format!("conv({c}, {v}, k=3, p=1) batchnorm({v}) relu\n");
                c = v;
            }
            None => features += "maxpool(2, 2)\n",
        }
    }
    format!(
        "features: seq {{ {features} }}
        avgpool: adaptive_avgpool(7) _: flatten
        classifier: seq {{
            linear(25088, 4096) relu dropout(0.5)
            linear(4096, 4096) relu dropout(0.5)
            linear(4096, {n})
        }}"
    )
}

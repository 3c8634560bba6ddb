//! `torchvision.models.resnet18`, `resnet34`, `resnet50`, `resnext50_32x4d` and
//! `wide_resnet50_2`: `BasicBlock` or `Bottleneck` stages with torchvision's `downsample`.

#[derive(Clone, Copy, PartialEq)]
pub enum Block {
    Basic,
    Bottleneck,
}

/// ResNet with `layers` blocks per stage, `groups` and `width_per_group` as torchvision's.
pub fn resnet(block: Block, layers: [usize; 4], groups: usize, width_per_group: usize, n: usize) -> String {
    let expansion = if block == Block::Basic { 1 } else { 4 };
    let mut out = String::from(
        "conv1: conv(3, 64, k=7, s=2, p=3, bias=false) bn1: batchnorm(64) relu: relu maxpool: maxpool(3, 2, p=1)\n",
    );
    let mut inplanes = 64;
    for (stage, &blocks) in layers.iter().enumerate() {
        let planes = 64 << stage;
        let stride = if stage == 0 { 1 } else { 2 };
        for b in 0..blocks {
            let s = if b == 0 { stride } else { 1 };
            let key = format!("layer{}.{b}", stage + 1);
            let body = match block {
                Block::Basic => format!(
                    "conv1: conv({inplanes}, {planes}, k=3, s={s}, p=1, bias=false) bn1: batchnorm({planes}) _: relu
                     conv2: conv({planes}, {planes}, k=3, p=1, bias=false) bn2: batchnorm({planes})"
                ),
                Block::Bottleneck => {
                    let width = planes * width_per_group / 64 * groups;
                    let cout = planes * 4;
                    format!(
                        "conv1: conv({inplanes}, {width}, k=1, bias=false) bn1: batchnorm({width}) _: relu
                         conv2: conv({width}, {width}, k=3, s={s}, p=1, g={groups}, bias=false) bn2: batchnorm({width}) _: relu
                         conv3: conv({width}, {cout}, k=1, bias=false) bn3: batchnorm({cout})"
                    )
                }
            };
            let cout = planes * expansion;
            let shortcut = if s != 1 || inplanes != cout {
                format!("downsample: shortcut {{ conv({inplanes}, {cout}, k=1, s={s}, bias=false) batchnorm({cout}) }}")
            } else {
                String::new()
            };
            out += &format!("{key}: seq {{ _: residual {{ {body} }} {shortcut} _: relu }}\n");
            inplanes = cout;
        }
    }
    out + &format!("avgpool: adaptive_avgpool(1) _: flatten fc: linear({inplanes}, {n})")
}

//! `torchvision.models.resnet18`, `resnet34`, `resnet50`, `resnet152`, `resnext50_32x4d` and
//! `wide_resnet50_2`: `BasicBlock` or `Bottleneck` stages with torchvision's `downsample`,
//! written as torchvision's `resnet.py` is: each block once, each stage a loop.

#[derive(Clone, Copy, PartialEq)]
pub enum Block {
    Basic,
    Bottleneck,
}

/// ResNet with `layers` blocks per stage, `groups` and `width_per_group` as torchvision's: its
/// blocks, and the items of the network.
pub fn resnet(block: Block, layers: [usize; 4], groups: usize, width_per_group: usize, n: usize) -> (String, String) {
    let expansion = match block {
        Block::Basic => 1,
        Block::Bottleneck => 4,
    };
    let items = format!(
        "{}
            avgpool: adaptive_avgpool(1) _: flatten fc: linear(512 * {expansion}, {n})",
        features(layers, expansion, false)
    );
    (blocks(block, groups, width_per_group, "batchnorm", ""), items)
}

/// The blocks of a ResNet (`basic_block`, `bottleneck`, `layer`, `dilated_layer`), their norm
/// layers `norm(C ARGS)`: `batchnorm` with no more arguments as torchvision's classifiers build
/// them, `frozen_batchnorm` with `, eps=0.0` as its detection backbones load their weights.
pub fn blocks(block: Block, groups: usize, width_per_group: usize, norm: &str, args: &str) -> String {
    let (name, expansion) = match block {
        Block::Basic => ("basic_block", 1),
        Block::Bottleneck => ("bottleneck", 4),
    };
    let bn = |c: &str| format!("{norm}({c}{args})");
    let (planes, width, wide) = (bn("planes"), bn("width"), bn("planes * 4"));
    format!(
        "block basic_block(inplanes, planes, s) {{
            _: residual {{
                conv1: conv(inplanes, planes, k=3, s=s, p=1, bias=false) bn1: {planes} _: relu
                conv2: conv(planes, planes, k=3, p=1, bias=false) bn2: {planes}
            }} if s != 1 || inplanes != planes {{
                downsample: shortcut {{ conv(inplanes, planes, k=1, s=s, bias=false) {planes} }}
            }}
            _: relu
        }}

        block bottleneck(inplanes, planes, s, d = 1, width = planes * {width_per_group} / 64 * {groups}) {{
            _: residual {{
                conv1: conv(inplanes, width, k=1, bias=false) bn1: {width} _: relu
                conv2: conv(width, width, k=3, s=s, p=d, d=d, g={groups}, bias=false) bn2: {width} _: relu
                conv3: conv(width, planes * 4, k=1, bias=false) bn3: {wide}
            }} if s != 1 || inplanes != planes * 4 {{
                downsample: shortcut {{ conv(inplanes, planes * 4, k=1, s=s, bias=false) {wide} }}
            }}
            _: relu
        }}

        /// `_make_layer`: the first block changes the width and stride, the rest keep them.
        block layer(inplanes, planes, blocks, s) {{
            {name}(inplanes, planes, s)
            for _ in 1..blocks {{ {name}(planes * {expansion}, planes, 1) }}
        }}

        /// `_make_layer(dilate=True)`: the stride becomes a dilation; the first block keeps the
        /// dilation before it.
        block dilated_layer(inplanes, planes, blocks, before, d) {{
            {name}(inplanes, planes, 1, before)
            for _ in 1..blocks {{ {name}(planes * {expansion}, planes, 1, d) }}
        }}"
    )
}

/// The stem and the four stages; with `dilated`, the last two with dilation 2 and 4 in place of
/// their strides (`replace_stride_with_dilation=[False, True, True]`, the segmentation
/// backbones' output stride 8).
pub fn features(layers: [usize; 4], expansion: usize, dilated: bool) -> String {
    let [l1, l2, l3, l4] = layers;
    let (layer3, layer4) = if dilated {
        (
            format!("dilated_layer(128 * {expansion}, 256, {l3}, 1, 2)"),
            format!("dilated_layer(256 * {expansion}, 512, {l4}, 2, 4)"),
        )
    } else {
        (format!("layer(128 * {expansion}, 256, {l3}, 2)"), format!("layer(256 * {expansion}, 512, {l4}, 2)"))
    };
    format!(
        "conv1: conv(3, 64, k=7, s=2, p=3, bias=false) bn1: batchnorm(64) relu: relu maxpool: maxpool(3, 2, p=1)
            layer1: layer(64, 64, {l1}, 1)
            layer2: layer(64 * {expansion}, 128, {l2}, 2)
            layer3: {layer3}
            layer4: {layer4}"
    )
}

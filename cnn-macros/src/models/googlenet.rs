//! `torchvision.models.googlenet(aux_logits=False, transform_input=False)`: Inception modules
//! of four branches joined along the channels, `BasicConv2d` with batch norm `eps=0.001`.

/// `BasicConv2d`: `NAME: seq { conv: conv bn: batchnorm _: relu }`.
pub fn basic_conv(name: &str, cin: usize, cout: usize, k: &str, s: usize, p: &str) -> String {
    format!("{name}: seq {{ conv: conv({cin}, {cout}, k={k}, s={s}, p={p}, bias=false) bn: batchnorm({cout}, eps=0.001) _: relu }}\n")
}

#[allow(clippy::too_many_arguments)]
fn inception(name: &str, cin: usize, c1: usize, c3r: usize, c3: usize, c5r: usize, c5: usize, pool: usize) -> String {
    format!(
        "{name}: cat {{
            {b1}
            branch2: seq {{ {b2a} {b2b} }}
            branch3: seq {{ {b3a} {b3b} }}
            branch4: seq {{ maxpool(3, 1, p=1, ceil_mode=true) {b4} }}
        }}\n",
        b1 = basic_conv("branch1", cin, c1, "1", 1, "0"),
        b2a = basic_conv("0", cin, c3r, "1", 1, "0"),
        b2b = basic_conv("1", c3r, c3, "3", 1, "1"),
        b3a = basic_conv("0", cin, c5r, "1", 1, "0"),
        b3b = basic_conv("1", c5r, c5, "3", 1, "1"),
        b4 = basic_conv("1", cin, pool, "1", 1, "0"),
    )
}

pub fn googlenet(n: usize) -> String {
    let pool = "maxpool(3, 2, ceil_mode=true)";
    [
        basic_conv("conv1", 3, 64, "7", 2, "3"),
        format!("maxpool1: {pool}\n"),
        basic_conv("conv2", 64, 64, "1", 1, "0"),
        basic_conv("conv3", 64, 192, "3", 1, "1"),
        format!("maxpool2: {pool}\n"),
        inception("inception3a", 192, 64, 96, 128, 16, 32, 32),
        inception("inception3b", 256, 128, 128, 192, 32, 96, 64),
        format!("maxpool3: {pool}\n"),
        inception("inception4a", 480, 192, 96, 208, 16, 48, 64),
        inception("inception4b", 512, 160, 112, 224, 24, 64, 64),
        inception("inception4c", 512, 128, 128, 256, 24, 64, 64),
        inception("inception4d", 512, 112, 144, 288, 32, 64, 64),
        inception("inception4e", 528, 256, 160, 320, 32, 128, 128),
        "maxpool4: maxpool(2, 2, ceil_mode=true)\n".to_string(),
        inception("inception5a", 832, 256, 160, 320, 32, 128, 128),
        inception("inception5b", 832, 384, 192, 384, 48, 128, 128),
        format!("avgpool: adaptive_avgpool(1) _: flatten dropout: dropout(0.2) fc: linear(1024, {n})"),
    ]
    .concat()
}

//! `torchvision.models.googlenet(aux_logits=False, transform_input=False)`, written as
//! torchvision's `googlenet.py` is: `BasicConv2d` (batch norm `eps=0.001`) and the four-branch
//! `Inception` module once each, the network a use per row of its table.

/// torchvision's `BasicConv2d`, shared with Inception v3.
pub const BASIC_CONV: &str = "
    /// `BasicConv2d`: a convolution without bias, batch norm (eps 0.001) and ReLU.
    block basic_conv(cin, cout, k, s = 1, p = 0) {
        conv: conv(cin, cout, k=k, s=s, p=p, bias=false) bn: batchnorm(cout, eps=0.001) _: relu
    }";

/// GoogLeNet: its blocks, and the items of the network.
pub fn googlenet(n: usize) -> (String, String) {
    let blocks = format!(
        "{BASIC_CONV}

        /// `Inception`: four branches on one input, joined along the channels.
        block inception(cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) {{
            _: cat {{
                branch1: basic_conv(cin, ch1x1, 1)
                branch2: seq {{ basic_conv(cin, ch3x3red, 1) basic_conv(ch3x3red, ch3x3, 3, p=1) }}
                branch3: seq {{ basic_conv(cin, ch5x5red, 1) basic_conv(ch5x5red, ch5x5, 3, p=1) }}
                branch4: seq {{ maxpool(3, 1, p=1, ceil_mode=true) basic_conv(cin, pool_proj, 1) }}
            }}
        }}"
    );
    let items = format!(
        "conv1: basic_conv(3, 64, 7, s=2, p=3) maxpool1: maxpool(3, 2, ceil_mode=true)
        conv2: basic_conv(64, 64, 1) conv3: basic_conv(64, 192, 3, p=1) maxpool2: maxpool(3, 2, ceil_mode=true)
        inception3a: inception(192, 64, 96, 128, 16, 32, 32)
        inception3b: inception(256, 128, 128, 192, 32, 96, 64)
        maxpool3: maxpool(3, 2, ceil_mode=true)
        inception4a: inception(480, 192, 96, 208, 16, 48, 64)
        inception4b: inception(512, 160, 112, 224, 24, 64, 64)
        inception4c: inception(512, 128, 128, 256, 24, 64, 64)
        inception4d: inception(512, 112, 144, 288, 32, 64, 64)
        inception4e: inception(528, 256, 160, 320, 32, 128, 128)
        maxpool4: maxpool(2, 2, ceil_mode=true)
        inception5a: inception(832, 256, 160, 320, 32, 128, 128)
        inception5b: inception(832, 384, 192, 384, 48, 128, 128)
        avgpool: adaptive_avgpool(1) _: flatten dropout: dropout(0.2) fc: linear(1024, {n})"
    );
    (blocks, items)
}

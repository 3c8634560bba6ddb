// Written by tools/torch2cnn.py tools/torch2cnn_examples/tiny_fpn.py:TinyFpn() --input 3,15,19 --name TinyFpn
use cnn::prelude::*;

cnn! {
    /// Converted by `tools/torch2cnn.py` from `tools/torch2cnn_examples/tiny_fpn.py:TinyFpn()`.
    pub struct TinyFpn {
        input(3, 15, 19)
        stem: seq { conv(3, 8, k=3, s=2, p=1, bias=false) batchnorm(8) relu }
        stage2: seq { conv(8, 16, k=3, s=2, p=1, bias=false) batchnorm(16) relu }
        let stage2
        stage3: seq { conv(16, 32, k=3, s=2, p=1, bias=false) batchnorm(32) relu }
        inner_blocks.1: conv(32, 12, k=1) let inner_blocks_1 layer_blocks.1: conv(12, 12, k=3, p=1)
        let layer_blocks_1 from stage2 inner_blocks.0: conv(16, 12, k=1) let inner_blocks_0
        from inner_blocks_1 upsample(size=(4, 5), mode=nearest)
        _: sum { from inner_blocks_0 _: identity }
        layer_blocks.0: conv(12, 12, k=3, p=1) let layer_blocks_0 from layer_blocks_1 maxpool(1, 2)
        let max_pool2d from layer_blocks_0 output p3 from layer_blocks_1 output p4 from max_pool2d
        output out_pool
    }
}

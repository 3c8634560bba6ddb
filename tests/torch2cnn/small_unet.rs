// Written by tools/torch2cnn.py tools/torch2cnn_examples/small_unet.py:SmallUNet() --input 3,15,19 --name SmallUNet
use cnn::prelude::*;

cnn! {
    block double_conv(cin, cout) {
        conv: seq {
            conv(cin, cout, k=3, p=1, bias=false) batchnorm(cout) relu conv(cout, cout, k=3, p=1, bias=false) batchnorm(cout)
            relu
        }
    }

    /// Converted by `tools/torch2cnn.py` from `tools/torch2cnn_examples/small_unet.py:SmallUNet()`.
    pub struct SmallUNet {
        input(3, 15, 19)
        stem: conv(3, 8, k=3, p=1, padding_mode=reflect) relu enc1: double_conv(8, 8)
        _: dense {
            _: maxpool(2) enc2: double_conv(8, 16) up.up: conv_transpose(16, 8, k=2, s=2)
            _: replicationpad(0, 1, 0, 1)
        }
        up.conv: double_conv(16, 8)
        _: mul {
            cbr: seq { conv(8, 8, k=1, bias=false) batchnorm(8) relu }
            scale: seq { adaptive_avgpool(1) conv(8, 8, k=1) sigmoid }
        }
        upsample(scale_factor=0.5, mode=bilinear)
        head: seq { conv(8, 12, k=3, p=1) pixel_shuffle(2) }
    }
}

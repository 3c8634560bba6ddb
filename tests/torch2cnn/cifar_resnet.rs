// Written by tools/torch2cnn.py tools/torch2cnn_examples/cifar_resnet.py:CifarResNet() --input 3,32,32 --name CifarResNet
use cnn::prelude::*;

cnn! {
    block basic_block(cin) {
        _: residual {
            conv1: conv(cin, cin, k=3, p=1, bias=false) bn1: batchnorm(cin) _: relu
            conv2: conv(cin, cin, k=3, p=1, bias=false) bn2: batchnorm(cin)
        }
        relu
    }

    block basic_block_2(cin) {
        _: residual {
            conv1: conv(cin, cin * 2, k=3, s=2, p=1, bias=false) bn1: batchnorm(cin * 2) _: relu
            conv2: conv(cin * 2, cin * 2, k=3, p=1, bias=false) bn2: batchnorm(cin * 2)
        }
        shortcut: shortcut { conv(cin, cin * 2, k=1, s=2, bias=false) batchnorm(cin * 2) }
        relu
    }

    /// Converted by `tools/torch2cnn.py` from `tools/torch2cnn_examples/cifar_resnet.py:CifarResNet()`.
    pub struct CifarResNet {
        input(3, 32, 32)
        conv1: conv(3, 8, k=3, p=1, bias=false) bn1: batchnorm(8) relu
        layer1: seq { basic_block(8) basic_block(8) }
        layer2: seq { basic_block_2(8) basic_block(16) }
        layer3: seq { basic_block_2(16) basic_block(32) }
        avgpool(8) flatten linear: linear(32, 10)
    }
}

// Written by tools/torch2cnn.py tools/torch2cnn_examples/gated_cat.py:GatedNet() --input 3,32,32 --name GatedNet
use cnn::prelude::*;

cnn! {
    block attention(cin) {
        _: gate { _: global_avgpool squeeze: conv(cin, cin / 4, k=1) _: relu excite: conv(cin / 4, cin, k=1) _: sigmoid }
    }

    block mixed(cin, cout) {
        _: cat {
            _: seq { b1: conv(cin, cin / 2, k=1) _: relu }
            _: seq {
                b3: seq { conv(cin, cout, k=1) relu conv(cout, cout * 2, k=3, p=1) }
                _: relu
            }
            _: seq { _: maxpool(3, 1, p=1) bp: conv(cin, 8, k=1) _: relu }
        }
    }

    /// Converted by `tools/torch2cnn.py` from `tools/torch2cnn_examples/gated_cat.py:GatedNet()`.
    pub struct GatedNet {
        input(3, 32, 32)
        stem: seq { conv(3, 16, k=3, s=2, p=1) batchnorm(16) relu }
        mixed1: mixed(16, 8) att1: attention(32) maxpool(2) mixed2: mixed(32, 12) att2: attention(48)
        global_avgpool flatten head: linear(48, 5)
    }
}

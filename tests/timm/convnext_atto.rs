// Written by tools/torch2cnn.py timm.create_model('convnext_atto', pretrained=False) --input 3,32,32 --name ConvnextAtto
use cnn::prelude::*;

cnn! {
    block gelu_block() {
        gelu
    }

    block mlp(cin) {
        fc1: conv(cin, cin * 4, k=1) act: gelu_block() drop1: dropout(0.0) fc2: conv(cin * 4, cin, k=1)
        drop2: dropout(0.0)
    }

    block conv_ne_xt_block(cin) {
        _: residual {
            conv_dw: conv(cin, cin, k=7, p=3, g=cin) norm: layernorm2d(cin) mlp: mlp(cin)
            gamma: scale(cin, init=1e-6, flat=true)
        }
    }

    block conv_ne_xt_stage(c) {
        downsample: seq { layernorm2d(c) conv(c, c * 2, k=2, s=2) }
        blocks: seq { conv_ne_xt_block(c * 2) conv_ne_xt_block(c * 2) }
    }

    /// Converted by `tools/torch2cnn.py` from `timm.create_model('convnext_atto', pretrained=False)`.
    pub struct ConvnextAtto {
        input(3, 32, 32)
        stem: seq { conv(3, 40, k=4, s=4) layernorm2d(40) }
        stages: seq {
            seq { blocks: seq { conv_ne_xt_block(40) conv_ne_xt_block(40) } }
            conv_ne_xt_stage(40)
            seq {
                downsample: seq { layernorm2d(80) conv(80, 160, k=2, s=2) }
                blocks: seq {
                    conv_ne_xt_block(160) conv_ne_xt_block(160) conv_ne_xt_block(160) conv_ne_xt_block(160)
                    conv_ne_xt_block(160) conv_ne_xt_block(160)
                }
            }
            conv_ne_xt_stage(160)
        }
        head: seq {
            global_pool: seq { pool: adaptive_avgpool(1) }
            norm: layernorm2d(320) flatten: flatten drop: dropout(0.0) fc: linear(320, 1000)
        }
    }
}

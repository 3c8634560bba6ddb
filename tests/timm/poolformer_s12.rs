// Written by tools/torch2cnn.py timm.create_model('poolformer_s12', pretrained=False) --input 3,32,32 --name PoolformerS12
use cnn::prelude::*;

cnn! {
    block scale_block(c) {
        scale: scale(c, init=1e-5, flat=true)
    }

    block mlp(cin) {
        fc1: conv(cin, cin * 4, k=1) act: gelu drop1: dropout(0.0) fc2: conv(cin * 4, cin, k=1) drop2: dropout(0.0)
    }

    block downsampling(cin, cout) {
        conv: conv(cin, cout, k=3, s=2, p=1)
    }

    block pooling() {
        _: sub { pool: avgpool(3, 1, p=1, count_include_pad=false) _: identity }
    }

    block meta_former_block(c) {
        _: residual { norm1: groupnorm(1, c) token_mixer: pooling() layer_scale1: scale_block(c) }
        _: residual { norm2: groupnorm(1, c) mlp: mlp(c) layer_scale2: scale_block(c) }
    }

    block meta_former_stage(cin, cout) {
        downsample: downsampling(cin, cout)
        blocks: seq { meta_former_block(cout) meta_former_block(cout) }
    }

    /// Converted by `tools/torch2cnn.py` from `timm.create_model('poolformer_s12', pretrained=False)`.
    pub struct PoolformerS12 {
        input(3, 32, 32)
        stem: seq { conv: conv(3, 64, k=7, s=4, p=2) }
        stages: seq {
            seq { blocks: seq { meta_former_block(64) meta_former_block(64) } }
            meta_former_stage(64, 128)
            seq {
                downsample: downsampling(128, 320)
                blocks: seq {
                    meta_former_block(320) meta_former_block(320) meta_former_block(320)
                    meta_former_block(320) meta_former_block(320) meta_former_block(320)
                }
            }
            meta_former_stage(320, 512)
        }
        head.global_pool: seq { pool: adaptive_avgpool(1) }
        head.norm: layernorm2d(512) head.flatten: flatten head.drop: dropout(0.0) head.fc: linear(512, 1000)
    }
}

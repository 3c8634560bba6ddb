// Written by tools/torch2cnn.py timm.create_model('eca_nfnet_l0', pretrained=False) --input 3,32,32 --name EcaNfnetL0
use cnn::prelude::*;

cnn! {
    block sigmoid_block() {
        sigmoid
    }

    block eca_module(size) {
        _: gate {
            _: global_avgpool _: flatten _: view(1, size) conv: conv1d(1, 1, k=5, p=2, bias=false)
            gate: sigmoid_block() _: view(size, 1, 1)
        }
    }

    block norm_free_block(by, cin, cout) {
        act1: silu scale(by=by)
        _: residual {
            conv1: conv(cin, cout, k=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act2: silu
            conv2: conv(cout, cout, k=3, s=2, p=1, g=cout / 64, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act2b: silu
            conv2b: conv(cout, cout, k=3, p=1, g=cout / 64, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act3: silu
            conv3: conv(cout, cout * 4, k=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) attn_last: eca_module(cout * 4)
            _: scale(by=2.0) _: scale(by=0.2)
        }
        downsample: shortcut {
            pool: avgpool(2, ceil_mode=true, count_include_pad=false)
            conv: conv(cin, cout * 4, k=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293)
        }
    }

    block norm_free_block_2(by, cin) {
        _: residual {
            act1: silu _: scale(by=by)
            conv1: conv(cin, cin / 4, k=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act2: silu
            conv2: conv(cin / 4, cin / 4, k=3, p=1, g=cin / 256, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act2b: silu
            conv2b: conv(cin / 4, cin / 4, k=3, p=1, g=cin / 256, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act3: silu
            conv3: conv(cin / 4, cin, k=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) attn_last: eca_module(cin)
            _: scale(by=2.0) _: scale(by=0.2)
        }
    }

    /// Converted by `tools/torch2cnn.py` from `timm.create_model('eca_nfnet_l0', pretrained=False)`.
    pub struct EcaNfnetL0 {
        input(3, 32, 32)
        stem: seq {
            conv1: conv(3, 16, k=3, s=2, p=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act2: silu
            conv2: conv(16, 32, k=3, p=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act3: silu
            conv3: conv(32, 64, k=3, p=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act4: silu
            conv4: conv(64, 128, k=3, s=2, p=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293)
        }
        stages: seq {
            seq {
                seq {
                    act1: silu
                    _: residual {
                        conv1: conv(128, 64, k=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act2: silu
                        conv2: conv(64, 64, k=3, p=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act2b: silu
                        conv2b: conv(64, 64, k=3, p=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) act3: silu
                        conv3: conv(64, 256, k=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293)
                        attn_last: eca_module(256) _: scale(by=2.0) _: scale(by=0.2)
                    }
                    downsample: shortcut {
                        conv: conv(128, 256, k=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293)
                    }
                }
            }
            seq { norm_free_block(0.980580676, 256, 128) norm_free_block_2(0.980580676, 512) }
            seq {
                norm_free_block(0.962250449, 512, 384) norm_free_block_2(0.980580676, 1536)
                norm_free_block_2(0.962250449, 1536) norm_free_block_2(0.944911183, 1536)
                norm_free_block_2(0.928476691, 1536) norm_free_block_2(0.912870929, 1536)
            }
            seq {
                norm_free_block(0.89802651, 1536, 384) norm_free_block_2(0.980580676, 1536)
                norm_free_block_2(0.962250449, 1536)
            }
        }
        final_conv: conv(1536, 2304, k=1, ws=true, ws_eps=1e-5, ws_gamma=1.7881293) final_act: silu
        head: seq {
            global_pool: seq { pool: adaptive_avgpool(1) flatten: flatten }
            drop: dropout(0.0) fc: linear(2304, 1000)
        }
    }
}

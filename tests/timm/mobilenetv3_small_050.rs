// Written by tools/torch2cnn.py timm.create_model('mobilenetv3_small_050', pretrained=False) --input 3,32,32 --name Mobilenetv3Small050
use cnn::prelude::*;

cnn! {
    block batch_norm_act2d(c) {
        _: batchnorm(c) act: hardswish
    }

    block batch_norm_act2d_2(c) {
        _: batchnorm(c) act: relu
    }

    block squeeze_excite(cin, cout) {
        _: gate {
            _: global_avgpool conv_reduce: conv(cin, cout, k=1) act1: relu conv_expand: conv(cout, cin, k=1)
            gate: hardsigmoid
        }
    }

    block inverted_residual(cin, cout, cout2, cout3) {
        conv_pw: conv(cin, cout, k=1, bias=false) bn1: batch_norm_act2d(cout)
        conv_dw: conv(cout, cout, k=5, s=2, p=2, g=cout, bias=false) bn2: batch_norm_act2d(cout)
        se: squeeze_excite(cout, cout2) conv_pwl: conv(cout, cout3, k=1, bias=false) bn3: batchnorm(cout3)
    }

    block inverted_residual_2(cin, cout, cout2) {
        _: residual {
            conv_pw: conv(cin, cout, k=1, bias=false) bn1: batch_norm_act2d(cout)
            conv_dw: conv(cout, cout, k=5, p=2, g=cout, bias=false) bn2: batch_norm_act2d(cout)
            se: squeeze_excite(cout, cout2) conv_pwl: conv(cout, cin, k=1, bias=false) bn3: batchnorm(cin)
        }
    }

    /// Converted by `tools/torch2cnn.py` from `timm.create_model('mobilenetv3_small_050', pretrained=False)`.
    pub struct Mobilenetv3Small050 {
        input(3, 32, 32)
        conv_stem: conv(3, 16, k=3, s=2, p=1, bias=false) bn1: batch_norm_act2d(16)
        blocks: seq {
            seq {
                seq {
                    conv_dw: conv(16, 16, k=3, s=2, p=1, g=16, bias=false) bn1: batch_norm_act2d_2(16)
                    se: squeeze_excite(16, 8) conv_pw: conv(16, 8, k=1, bias=false) bn2: batchnorm(8)
                }
            }
            seq {
                seq {
                    conv_pw: conv(8, 40, k=1, bias=false) bn1: batch_norm_act2d_2(40)
                    conv_dw: conv(40, 40, k=3, s=2, p=1, g=40, bias=false) bn2: batch_norm_act2d_2(40)
                    conv_pwl: conv(40, 16, k=1, bias=false) bn3: batchnorm(16)
                }
                residual {
                    conv_pw: conv(16, 56, k=1, bias=false) bn1: batch_norm_act2d_2(56)
                    conv_dw: conv(56, 56, k=3, p=1, g=56, bias=false) bn2: batch_norm_act2d_2(56)
                    conv_pwl: conv(56, 16, k=1, bias=false) bn3: batchnorm(16)
                }
            }
            seq {
                inverted_residual(16, 64, 16, 24) inverted_residual_2(24, 144, 40)
                inverted_residual_2(24, 144, 40)
            }
            seq { inverted_residual_2(24, 72, 24) inverted_residual_2(24, 72, 24) }
            seq {
                inverted_residual(24, 144, 40, 48) inverted_residual_2(48, 288, 72)
                inverted_residual_2(48, 288, 72)
            }
            seq { seq { conv: conv(48, 288, k=1, bias=false) bn1: batch_norm_act2d(288) } }
        }
        global_pool: seq { pool: adaptive_avgpool(1) }
        conv_head: conv(288, 1024, k=1) act2: hardswish flatten: flatten classifier: linear(1024, 1000)
    }
}

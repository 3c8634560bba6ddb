// Written by tools/torch2cnn.py timm.create_model('rexnet_100', pretrained=False) --input 3,32,32 --name Rexnet100
use cnn::prelude::*;

cnn! {
    block batch_norm_act2d(c) {
        _: batchnorm(c) act: silu
    }

    block conv_norm_act(cin) {
        conv: conv(cin, cin, k=3, p=1, g=cin, bias=false) bn: batchnorm(cin)
    }

    block conv_norm_act_2(cin, cout) {
        conv: conv(cin, cout, k=1, bias=false) bn: batchnorm(cout)
    }

    block conv_norm_act_4(cin) {
        conv: conv(cin, cin, k=3, s=2, p=1, g=cin, bias=false) bn: batchnorm(cin)
    }

    block sigmoid_block() {
        sigmoid
    }

    block conv_norm_act_3(cin, cout) {
        conv: conv(cin, cout, k=1, bias=false) bn: batch_norm_act2d(cout)
    }

    block se_module(cin, cout) {
        _: gate {
            _: global_avgpool fc1: conv(cin, cout, k=1) bn: batchnorm(cout) act: relu fc2: conv(cout, cin, k=1)
            gate: sigmoid_block()
        }
    }

    block linear_bottleneck(cin, cout, cout2) {
        conv_exp: conv_norm_act_3(cin, cin * 6) conv_dw: conv_norm_act_4(cin * 6) se: se_module(cin * 6, cout)
        act_dw: relu6 conv_pwl: conv_norm_act_2(cin * 6, cout2)
    }

    block linear_bottleneck_2(cin, cout, cout2, len) {
        let input_2 conv_exp: conv_norm_act_3(cin, cin * 6) conv_dw: conv_norm_act(cin * 6) se: se_module(cin * 6, cout)
        act_dw: relu6 conv_pwl: conv_norm_act_2(cin * 6, cout2) let conv_pwl narrow(1, 0, cin)
        _: sum { _: identity from input_2 }
        let add from conv_pwl narrow(1, cin, len)
        _: cat { from add _: identity }
    }

    /// Converted by `tools/torch2cnn.py` from `timm.create_model('rexnet_100', pretrained=False)`.
    pub struct Rexnet100 {
        input(3, 32, 32)
        stem: seq { conv: conv(3, 32, k=3, s=2, p=1, bias=false) bn: batch_norm_act2d(32) }
        features: seq {
            seq { conv_dw: conv_norm_act(32) act_dw: relu6 conv_pwl: conv_norm_act_2(32, 16) }
            seq {
                conv_exp: conv_norm_act_3(16, 96) conv_dw: conv_norm_act_4(96) act_dw: relu6
                conv_pwl: conv_norm_act_2(96, 27)
            }
            seq {
                let input_2 conv_exp: conv_norm_act_3(27, 162) conv_dw: conv_norm_act(162) act_dw: relu6
                conv_pwl: conv_norm_act_2(162, 38) let conv_pwl narrow(1, 0, 27)
                _: sum { _: identity from input_2 }
                let add from conv_pwl narrow(1, 27, 11)
                _: cat { from add _: identity }
            }
            linear_bottleneck(38, 19, 50) linear_bottleneck_2(50, 25, 61, 11) linear_bottleneck(61, 30, 72)
            linear_bottleneck_2(72, 36, 84, 12) linear_bottleneck_2(84, 42, 95, 11)
            linear_bottleneck_2(95, 47, 106, 11) linear_bottleneck_2(106, 53, 117, 11)
            linear_bottleneck_2(117, 58, 128, 11) linear_bottleneck(128, 64, 140)
            linear_bottleneck_2(140, 70, 151, 11) linear_bottleneck_2(151, 75, 162, 11)
            linear_bottleneck_2(162, 81, 174, 12) linear_bottleneck_2(174, 87, 185, 11)
            conv_norm_act_3(185, 1280)
        }
        head: seq {
            global_pool: seq { pool: adaptive_avgpool(1) flatten: flatten }
            drop: dropout(0.2) fc: linear(1280, 1000)
        }
    }
}

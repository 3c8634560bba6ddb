// Written by tools/torch2cnn.py timm.create_model('ghostnet_050', pretrained=False) --input 3,32,32 --name Ghostnet050
use cnn::prelude::*;

cnn! {
    block squeeze_excite(cin, cout) {
        _: gate {
            _: global_avgpool conv_reduce: conv(cin, cout, k=1) act1: relu conv_expand: conv(cout, cin, k=1)
            gate: hardsigmoid
        }
    }

    block ghost_module(cin, cout) {
        primary_conv: seq { conv(cin, cout, k=1, bias=false) batchnorm(cout) relu }
        _: dense { cheap_operation: seq { conv(cout, cout, k=3, p=1, g=cout, bias=false) batchnorm(cout) relu } }
        narrow(1, 0, cout * 2)
    }

    block ghost_module_2(cin, cout) {
        primary_conv: seq { conv(cin, cout, k=1, bias=false) batchnorm(cout) identity }
        _: dense { cheap_operation: seq { conv(cout, cout, k=3, p=1, g=cout, bias=false) batchnorm(cout) identity } }
        narrow(1, 0, cout * 2)
    }

    block ghost_bottleneck(cin, cout) {
        _: residual { ghost1: ghost_module(cin, cout) ghost2: ghost_module_2(cout * 2, cin / 2) }
    }

    block ghost_bottleneck_2(cin, cout, cout2) {
        _: residual {
            ghost1: ghost_module(cin, cout) conv_dw: conv(cout * 2, cout * 2, k=3, s=2, p=1, g=cout * 2, bias=false)
            bn_dw: batchnorm(cout * 2) ghost2: ghost_module_2(cout * 2, cout2)
        }
        shortcut: shortcut {
            conv(cin, cin, k=3, s=2, p=1, g=cin, bias=false) batchnorm(cin) conv(cin, cout2 * 2, k=1, bias=false)
            batchnorm(cout2 * 2)
        }
    }

    block ghost_bottleneck_3(cin, cout, cout2, cout3) {
        _: residual {
            ghost1: ghost_module(cin, cout) conv_dw: conv(cout * 2, cout * 2, k=5, s=2, p=2, g=cout * 2, bias=false)
            bn_dw: batchnorm(cout * 2) se: squeeze_excite(cout * 2, cout2) ghost2: ghost_module_2(cout * 2, cout3)
        }
        shortcut: shortcut {
            conv(cin, cin, k=5, s=2, p=2, g=cin, bias=false) batchnorm(cin) conv(cin, cout3 * 2, k=1, bias=false)
            batchnorm(cout3 * 2)
        }
    }

    block ghost_bottleneck_4(cin, cout, cout2) {
        _: residual {
            ghost1: ghost_module(cin, cout) se: squeeze_excite(cout * 2, cout2) ghost2: ghost_module_2(cout * 2, cin / 2)
        }
    }

    /// Converted by `tools/torch2cnn.py` from `timm.create_model('ghostnet_050', pretrained=False)`.
    pub struct Ghostnet050 {
        input(3, 32, 32)
        conv_stem: conv(3, 8, k=3, s=2, p=1, bias=false) bn1: batchnorm(8) act1: relu
        blocks: seq {
            seq { ghost_bottleneck(8, 4) }
            seq { ghost_bottleneck_2(8, 12, 6) }
            seq { ghost_bottleneck(12, 18) }
            seq { ghost_bottleneck_3(12, 18, 12, 10) }
            seq { ghost_bottleneck_4(20, 30, 16) }
            seq { ghost_bottleneck_2(20, 60, 20) }
            seq {
                ghost_bottleneck(40, 50) ghost_bottleneck(40, 46) ghost_bottleneck(40, 46)
                seq {
                    _: residual {
                        ghost1: ghost_module(40, 120) se: squeeze_excite(240, 60)
                        ghost2: ghost_module_2(240, 28)
                    }
                    shortcut: shortcut {
                        conv(40, 40, k=3, p=1, g=40, bias=false) batchnorm(40) conv(40, 56, k=1, bias=false)
                        batchnorm(56)
                    }
                }
                ghost_bottleneck_4(56, 168, 84)
            }
            seq { ghost_bottleneck_3(56, 168, 84, 40) }
            seq {
                ghost_bottleneck(80, 240) ghost_bottleneck_4(80, 240, 120) ghost_bottleneck(80, 240)
                ghost_bottleneck_4(80, 240, 120)
            }
            seq {
                seq {
                    conv: conv(80, 480, k=1, bias=false)
                    bn1: seq { _: batchnorm(480) act: relu }
                }
            }
        }
        global_pool: seq { pool: adaptive_avgpool(1) }
        conv_head: conv(480, 1280, k=1) act2: relu flatten: flatten dropout(0.2)
        classifier: linear(1280, 1000)
    }
}

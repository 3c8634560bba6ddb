//! `torchvision.models.inception_v3(aux_logits=False, transform_input=False)`, written as
//! torchvision's `inception.py` is: `BasicConv2d` and the modules `InceptionA` to `InceptionE`
//! once each (their branches are sibling modules, `branch5x5_1` then `branch5x5_2`, chained in
//! unnamed sequences), the network a use of each.

use super::googlenet::BASIC_CONV;

const BLOCKS: &str = "
    block inception_a(cin, pool_features) {
        _: cat {
            branch1x1: basic_conv(cin, 64, 1)
            _: seq { branch5x5_1: basic_conv(cin, 48, 1) branch5x5_2: basic_conv(48, 64, 5, p=2) }
            _: seq {
                branch3x3dbl_1: basic_conv(cin, 64, 1) branch3x3dbl_2: basic_conv(64, 96, 3, p=1)
                branch3x3dbl_3: basic_conv(96, 96, 3, p=1)
            }
            _: seq { _: avgpool(3, 1, p=1) branch_pool: basic_conv(cin, pool_features, 1) }
        }
    }

    block inception_b(cin) {
        _: cat {
            branch3x3: basic_conv(cin, 384, 3, s=2)
            _: seq {
                branch3x3dbl_1: basic_conv(cin, 64, 1) branch3x3dbl_2: basic_conv(64, 96, 3, p=1)
                branch3x3dbl_3: basic_conv(96, 96, 3, s=2)
            }
            _: maxpool(3, 2)
        }
    }

    block inception_c(cin, c7) {
        _: cat {
            branch1x1: basic_conv(cin, 192, 1)
            _: seq {
                branch7x7_1: basic_conv(cin, c7, 1) branch7x7_2: basic_conv(c7, c7, (1, 7), p=(0, 3))
                branch7x7_3: basic_conv(c7, 192, (7, 1), p=(3, 0))
            }
            _: seq {
                branch7x7dbl_1: basic_conv(cin, c7, 1) branch7x7dbl_2: basic_conv(c7, c7, (7, 1), p=(3, 0))
                branch7x7dbl_3: basic_conv(c7, c7, (1, 7), p=(0, 3)) branch7x7dbl_4: basic_conv(c7, c7, (7, 1), p=(3, 0))
                branch7x7dbl_5: basic_conv(c7, 192, (1, 7), p=(0, 3))
            }
            _: seq { _: avgpool(3, 1, p=1) branch_pool: basic_conv(cin, 192, 1) }
        }
    }

    block inception_d(cin) {
        _: cat {
            _: seq { branch3x3_1: basic_conv(cin, 192, 1) branch3x3_2: basic_conv(192, 320, 3, s=2) }
            _: seq {
                branch7x7x3_1: basic_conv(cin, 192, 1) branch7x7x3_2: basic_conv(192, 192, (1, 7), p=(0, 3))
                branch7x7x3_3: basic_conv(192, 192, (7, 1), p=(3, 0)) branch7x7x3_4: basic_conv(192, 192, 3, s=2)
            }
            _: maxpool(3, 2)
        }
    }

    block inception_e(cin) {
        _: cat {
            branch1x1: basic_conv(cin, 320, 1)
            _: seq {
                branch3x3_1: basic_conv(cin, 384, 1)
                _: cat {
                    branch3x3_2a: basic_conv(384, 384, (1, 3), p=(0, 1))
                    branch3x3_2b: basic_conv(384, 384, (3, 1), p=(1, 0))
                }
            }
            _: seq {
                branch3x3dbl_1: basic_conv(cin, 448, 1) branch3x3dbl_2: basic_conv(448, 384, 3, p=1)
                _: cat {
                    branch3x3dbl_3a: basic_conv(384, 384, (1, 3), p=(0, 1))
                    branch3x3dbl_3b: basic_conv(384, 384, (3, 1), p=(1, 0))
                }
            }
            _: seq { _: avgpool(3, 1, p=1) branch_pool: basic_conv(cin, 192, 1) }
        }
    }";

/// Inception v3: its blocks, and the items of the network.
pub fn inception_v3(n: usize) -> (String, String) {
    let items = format!(
        "Conv2d_1a_3x3: basic_conv(3, 32, 3, s=2) Conv2d_2a_3x3: basic_conv(32, 32, 3)
        Conv2d_2b_3x3: basic_conv(32, 64, 3, p=1) maxpool1: maxpool(3, 2)
        Conv2d_3b_1x1: basic_conv(64, 80, 1) Conv2d_4a_3x3: basic_conv(80, 192, 3) maxpool2: maxpool(3, 2)
        Mixed_5b: inception_a(192, 32) Mixed_5c: inception_a(256, 64) Mixed_5d: inception_a(288, 64)
        Mixed_6a: inception_b(288)
        Mixed_6b: inception_c(768, 128) Mixed_6c: inception_c(768, 160) Mixed_6d: inception_c(768, 160)
        Mixed_6e: inception_c(768, 192)
        Mixed_7a: inception_d(768)
        Mixed_7b: inception_e(1280) Mixed_7c: inception_e(2048)
        avgpool: adaptive_avgpool(1) dropout: dropout(0.5) _: flatten fc: linear(2048, {n})"
    );
    (format!("{BASIC_CONV}\n{BLOCKS}"), items)
}

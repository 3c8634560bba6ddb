// Written by tools/torch2cnn.py tools/torch2cnn_examples/hostile_names.py:HostileNames(\u{a}) --input 4,6,5 --name HostileNames
use cnn::prelude::*;

cnn! {
    block module__nit() {
        conv: conv(4, 4, k=3, p=1) act: relu
    }

    /// Converted by `tools/torch2cnn.py` from `tools/torch2cnn_examples/hostile_names.py:HostileNames(\u{a})`.
    pub struct HostileNames {
        input(4, 6, 5)
        "x\": relu }} }} pub fn injected() -> u32 {{ 42 }} cnn! {{ pub struct Z {{ input(4, 8, 8) \"y": conv(4, 4, k=1)
        "layer{{1+1}}": batchnorm(4) "a}}b": module__nit() "x²": module__nit()
        "_": conv(4, 4, k=3, p=1, bias=false) "match": relu "tab\u{9}line\u{202e}\\": conv(4, 2, k=1)
    }
}

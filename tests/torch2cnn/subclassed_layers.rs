// Written by tools/torch2cnn.py tools/torch2cnn_examples/subclassed_layers.py:SubclassedLayers() --input 3,11,9 --name SubclassedLayers
use cnn::prelude::*;

cnn! {
    /// Converted by `tools/torch2cnn.py` from `tools/torch2cnn_examples/subclassed_layers.py:SubclassedLayers()`.
    pub struct SubclassedLayers {
        input(3, 11, 9)
        conv1: conv(3, 12, k=3, s=2, p=1, bias=false)
        bn1: seq { _: batchnorm(12, eps=0.001, momentum=0.01) act: silu }
        _: residual { conv2: conv(12, 12, k=3, p=1, g=3, bias=false) bn2: batchnorm(12) }
        _: residual {
            conv3: conv(12, 12, k=3, p=1, ws=true, ws_eps=1e-5, ws_gamma=1.7)
            skip_gain: scale(scalar=true, init=0.5)
        }
        _: residual {
            mixer: sub { pool: avgpool(3, 1, p=1, count_include_pad=false) _: identity }
            layer_scale: seq { gamma: scale(12, flat=true) }
        }
        head: seq { pool: adaptive_avgpool(1) flatten drop: dropout(0.2) fc: linear(12, 5) }
    }
}

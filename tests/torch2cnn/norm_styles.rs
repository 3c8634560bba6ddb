// Written by tools/torch2cnn.py tools/torch2cnn_examples/norm_styles.py:NormStyles() --input 3,12,10 --name NormStyles
use cnn::prelude::*;

cnn! {
    block conv_in() {
        pad: reflectionpad(1) conv: conv(16, 16, k=3) norm: instancenorm(16, affine=true)
    }

    /// Converted by `tools/torch2cnn.py` from `tools/torch2cnn_examples/norm_styles.py:NormStyles()`.
    pub struct NormStyles {
        input(3, 12, 10)
        tower: seq {
            conv(3, 16, k=3, p=1) groupnorm(4, 16) relu conv(16, 16, k=3, p=1) groupnorm(8, 16, eps=1e-6)
            relu
        }
        res: residual { a: conv_in() relu: relu b: conv_in() }
        tracked: instancenorm(16, momentum=0.2, track_running_stats=true)
        head: seq { adaptive_avgpool(1) flatten linear(16, 6) }
    }
}

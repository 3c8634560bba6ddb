use cnn::cnn;

cnn! {
    struct Net {
        input(16, 8, 8)
        residual {
            conv(16, 32, k=3, s=2, p=1) batchnorm(32)
        } downsample: shortcut { conv(16, 32, k=1) }
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(4, 8, 8)
        upsample(scale_factor=2, align_corners=true)
        conv(4, 4, k=1)
    }
}

fn main() {}

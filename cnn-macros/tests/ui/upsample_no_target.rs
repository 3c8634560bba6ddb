use cnn::cnn;

cnn! {
    struct Net {
        input(4, 8, 8)
        upsample(mode=bilinear)
        conv(4, 4, k=1)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(4, 8, 8)
        upsample(size=(16, 16), scale_factor=2)
        conv(4, 4, k=1)
    }
}

fn main() {}

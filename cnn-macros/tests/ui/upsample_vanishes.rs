use cnn::cnn;

cnn! {
    struct Net {
        input(4, 3, 8)
        upsample(scale_factor=0.25)
        conv(4, 4, k=1)
    }
}

fn main() {}

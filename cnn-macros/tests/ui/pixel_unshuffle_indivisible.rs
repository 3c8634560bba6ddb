use cnn::cnn;

cnn! {
    struct Net {
        input(4, 9, 8)
        pixel_unshuffle(2)
        conv(16, 4, k=1)
    }
}

fn main() {}

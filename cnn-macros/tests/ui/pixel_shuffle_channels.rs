use cnn::cnn;

cnn! {
    struct Net {
        input(6, 8, 8)
        pixel_shuffle(2)
        conv(1, 4, k=1)
    }
}

fn main() {}

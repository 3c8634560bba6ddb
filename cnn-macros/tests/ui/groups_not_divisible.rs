use cnn::cnn;

cnn! {
    struct Net {
        input(6, 8, 8)
        conv(6, 8, k=3, g=4)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        conv(1, 6, k=5)
        relu
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(0, 8, 8)
        conv(1, 0, k=3)
    }
}

fn main() {}

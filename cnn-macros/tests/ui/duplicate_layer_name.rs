use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
        c1: conv(1, 6, k=5)
        c1: conv(6, 6, k=5)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28, 1)
        conv(1, 6, 3, 1, 1, 1, 1, true, zeros, 0)
        sigmoid(2)
    }
}

fn main() {}

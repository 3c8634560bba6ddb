use cnn::cnn;

cnn! {
    struct Net {
        input(4, 3, 8)
        reflectionpad(1, 1, 3, 0)
        conv(4, 4, k=1)
    }
}

fn main() {}

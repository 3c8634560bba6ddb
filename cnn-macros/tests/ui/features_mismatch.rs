use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
        conv(1, 6, k=5, p=2) relu pool(2, 2)
        conv(6, 16, k=5) relu pool(2, 2)
        flatten
        linear(500, 120)
    }
}

fn main() {}

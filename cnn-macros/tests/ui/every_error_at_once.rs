use cnn::cnn;

cnn! {
    /// Three mistakes, all reported in one compile.
    struct Net {
        input(1, 28, 28)
        conv(3, 6, k=5) relu pool(2)
        conv(6, 16, k=5, q=1) relu pool(2)
        linear(256, 10)
    }
}

fn main() {}

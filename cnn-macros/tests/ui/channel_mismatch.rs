use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
        conv(1, 6, k=5) relu pool(2)
        conv(8, 16, k=3)
    }
}

fn main() {}

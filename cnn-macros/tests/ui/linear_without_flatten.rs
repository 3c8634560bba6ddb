use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
        conv(1, 6, k=5) relu pool(2)
        linear(864, 10)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
        conv(1, 6, kernel=5)
        pool(2, dilation=2)
    }
}

fn main() {}

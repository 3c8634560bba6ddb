use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
        conv(1, 6, kernel=5)
        pool(2, divisor_override=2)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
        conv(1, 6, 5, k=5)
        pool(2, s=2, stride=2)
    }
}

fn main() {}

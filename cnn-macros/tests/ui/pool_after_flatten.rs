use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
        flatten linear(784, 10)
        pool(2)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net<T> {
        input(1, 28, 28)
        relu
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
    }
}

fn main() {}

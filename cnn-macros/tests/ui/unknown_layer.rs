use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
        conx(1, 6, k=5)
        dense(10, 10)
        ReLU
    }
}

fn main() {}

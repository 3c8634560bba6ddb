use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        scale(by=0.5, init=2.0)
        scale(4, by=0.5)
    }
}

fn main() {}

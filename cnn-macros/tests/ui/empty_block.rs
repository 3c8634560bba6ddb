use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        seq { }
    }
}

fn main() {}

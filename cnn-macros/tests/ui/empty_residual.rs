use cnn::cnn;

cnn! {
    struct Net {
        input(4, 8, 8)
        residual {}
    }
}

fn main() {}

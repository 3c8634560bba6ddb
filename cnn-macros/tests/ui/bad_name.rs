use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        layer.1x: conv(3, 8, k=3)
    }
}

fn main() {}

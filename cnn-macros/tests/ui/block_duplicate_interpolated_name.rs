use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        for i in 0..3 { "conv{i / 2}": conv(3, 3, k=1) }
    }
}

fn main() {}

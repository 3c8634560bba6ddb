use cnn::cnn;

cnn! {
    struct Net {
        input(4, 2, 8)
        conv(4, 4, k=5, p=2, padding_mode=reflect)
        conv(4, 4, k=1)
    }
}

fn main() {}

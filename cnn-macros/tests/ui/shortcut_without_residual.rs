use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        conv(3, 8, k=3) shortcut { conv(3, 8, k=3) }
    }
}

fn main() {}

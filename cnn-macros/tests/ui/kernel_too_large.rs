use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        conv(3, 4, k=3) pool(2)
        conv(4, 4, k=(5, 2))
    }
}

fn main() {}

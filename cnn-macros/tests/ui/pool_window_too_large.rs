use cnn::cnn;

cnn! {
    struct Net {
        input(1, 5, 5)
        conv(1, 2, k=4)
        pool(3)
    }
}

fn main() {}

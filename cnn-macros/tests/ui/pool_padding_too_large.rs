use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        maxpool(3, 2, p=2)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(8, 8, 8)
        permute(0, 3, 1, 2)
        permute(0, 2, 1, 3)
    }
}

fn main() {}

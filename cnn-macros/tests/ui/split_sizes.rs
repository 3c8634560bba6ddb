use cnn::cnn;

cnn! {
    struct Net {
        input(8, 6, 6)
        split(3, 4) { identity identity }
        split(2, 2, 4) { identity identity }
        split(4, k=4) { identity identity }
    }
}

fn main() {}

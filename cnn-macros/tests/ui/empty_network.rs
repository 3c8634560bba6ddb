use cnn::cnn;

cnn! {
    struct Net {}
}

fn main() {}

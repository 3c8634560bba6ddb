use cnn::cnn;

// A loop past the item limit is one error: the network is not also reported as empty.
cnn! {
    struct Net {
        input(1, 4, 4)
        for i in 0..1000000000 { relu }
    }
}

fn main() {}

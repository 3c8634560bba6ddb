use cnn::cnn;

// Each mistake is one error: a block named like a built-in (the network's `input` keeps its
// meaning), too many arguments to a block (one error, not one per extra argument), a number as
// a name (not also a stray `:`).
cnn! {
    block b(c) {
        conv(c, c, k=1)
    }

    block input(c) {
        relu
    }

    struct Net {
        input(4, 8, 8)
        b(4, 5, 6)
        1e3: conv(4, 4, k=1)
    }
}

fn main() {}

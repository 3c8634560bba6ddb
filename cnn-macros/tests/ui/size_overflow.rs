use cnn::cnn;

// A kernel of 65535 taps a side over 65535 x 65535 output pixels: its unfolded input (and its
// FLOP count) would overflow the size arithmetic.
cnn! {
    struct Net {
        input(1, 1, 1)
        conv(1, 1, k=65535, p=65534)
    }
}

fn main() {}

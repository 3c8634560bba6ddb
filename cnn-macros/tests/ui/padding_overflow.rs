use cnn::cnn;

// A padding whose padded size overflows: the message gives the numbers as written.
cnn! {
    struct Net {
        input(4, 8, 8)
        conv(4, 4, k=3, p=9223372036854775807)
    }
}

fn main() {}

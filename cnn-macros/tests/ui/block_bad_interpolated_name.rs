use cnn::cnn;

// A name that interpolates to a `.` or to nothing is one error per name, and nothing else.
cnn! {
    block pair(c) {
        for i in 0..2 { "{i}.": conv(c, c, k=1) }
    }

    struct Net {
        input(3, 8, 8)
        pair(3)
        "": conv(3, 3, k=1)
    }
}

fn main() {}

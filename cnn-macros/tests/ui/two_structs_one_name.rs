use cnn::cnn;

// Two networks of one name in one `cnn!`: one error on the second name.
cnn! {
    struct Net {
        input(1, 4, 4)
        relu
    }

    struct Net {
        input(1, 4, 4)
        relu
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    block a(c) {
        conv(c, c, k=1) b(c)
    }

    block b(c) {
        relu a(c)
    }

    struct Net {
        input(3, 8, 8)
        a(3)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    block squeeze(c, r) {
        conv(c, c / r, k=1) relu conv(c / r, c, k=1)
    }

    block shrink(c, by) {
        conv(c, c - by, k=1)
    }

    struct Net {
        input(16, 8, 8)
        squeeze(16, 0)
        shrink(16, 32)
    }
}

fn main() {}

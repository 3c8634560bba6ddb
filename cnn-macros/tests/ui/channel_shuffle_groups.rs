use cnn::cnn;

cnn! {
    struct Net {
        input(12, 8, 8)
        channel_shuffle(5)
        conv(12, 12, k=1)
    }
}

fn main() {}

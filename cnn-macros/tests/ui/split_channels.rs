use cnn::cnn;

cnn! {
    struct Net {
        input(10, 8, 8)
        split { identity conv(_, 4, k=1) identity }
        channel_shuffle(4)
    }
}

fn main() {}

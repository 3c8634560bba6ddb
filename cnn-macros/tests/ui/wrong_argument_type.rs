use cnn::cnn;

cnn! {
    struct Net {
        input(1, 28, 28)
        conv(1, 6, k=1.5)
        conv(_, (6, 6), k=3)
        conv(_, _, k=3, s="2")
        pool(k=-2)
    }
}

fn main() {}

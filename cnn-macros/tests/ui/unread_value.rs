use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        stem: conv(3, 8, k=3, p=1) relu let s
        b: conv(8, 8, k=1) from s
        c: conv(8, 4, k=1)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        stem: conv(3, 8, k=3, p=1) relu output p3
        down: conv(8, 8, k=3, s=2, p=1) output p4
        head: conv(8, 4, k=1)
    }
}

fn main() {}

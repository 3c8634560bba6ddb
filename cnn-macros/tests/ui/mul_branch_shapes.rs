use cnn::cnn;

cnn! {
    struct Net {
        input(4, 8, 8)
        mul { conv(4, 4, k=1) seq { adaptive_avgpool(2) conv(4, 4, k=1) } }
        conv(4, 4, k=1)
    }
}

fn main() {}

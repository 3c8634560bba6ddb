use cnn::cnn;

cnn! {
    struct Net {
        input(8, 16, 16)
        cat {
            conv(8, 4, k=1)
            conv(8, 4, k=3, s=2, p=1)
            maxpool(2)
        }
        flatten
        linear(_, 10)
    }
}

fn main() {}

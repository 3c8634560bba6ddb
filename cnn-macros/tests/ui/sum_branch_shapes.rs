use cnn::cnn;

cnn! {
    struct Net {
        input(8, 16, 16)
        sum {
            conv(8, 8, k=3, p=1)
            conv(8, 16, k=1)
        }
        relu
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        conv(3, 8, k=3) batchnorm1d(8)
        flatten batchnorm2d(288)
    }
}

fn main() {}

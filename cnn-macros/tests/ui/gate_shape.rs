use cnn::cnn;

cnn! {
    struct Net {
        input(16, 8, 8)
        gate { adaptive_avgpool(1) conv(16, 4, k=1) relu conv(4, 8, k=1) sigmoid }
        flatten
        linear(1024, 10)
    }
}

fn main() {}

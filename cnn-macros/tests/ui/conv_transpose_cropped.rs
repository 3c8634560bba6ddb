use cnn::cnn;

cnn! {
    struct Net {
        input(4, 2, 2)
        conv_transpose(4, 2, k=1, s=1, p=1)
        conv(2, 2, k=1)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(4, 8, 8)
        conv_transpose(4, 2, k=3, s=2, p=1, output_padding=2)
        conv(2, 2, k=1)
    }
}

fn main() {}

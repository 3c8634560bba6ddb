use cnn::cnn;

cnn! {
    struct Net {
        input(4, 8, 8)
        conv_transpose(4, 2, k=3, s=1, p=0, output_padding=1, d=2)
        conv(2, 2, k=1)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(8, 8, 8)
        permute(0, 2, 3, 1)
        layernorm(8)
        conv(8, 8, k=3, p=1)
        batchnorm(8)
        maxpool(2)
    }
}

fn main() {}

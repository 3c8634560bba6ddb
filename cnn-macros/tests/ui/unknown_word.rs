use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        conv(3, 8, k=3, p=full) gelu(approximate=fast)
    }
}

fn main() {}

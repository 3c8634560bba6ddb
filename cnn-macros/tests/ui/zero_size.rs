use cnn::cnn;

cnn! {
    struct Net {
        input(1, 8, 8)
        conv(1, 4, k=0)
        pool(2, s=(1, 0))
        linear(_, 0)
    }
}

fn main() {}

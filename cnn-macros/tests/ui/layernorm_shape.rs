use cnn::cnn;

cnn! {
    struct Net {
        input(8, 4, 4)
        layernorm(8)
        layernorm2d(6)
        scale(4)
        permute(0, 2, 3, 1)
        layernorm2d(8)
    }
}

fn main() {}

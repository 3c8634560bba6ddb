use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        block: seq {
            _: conv(3, 8, k=3) _: relu
            _: batchnorm(8)
        }
    }

    struct Top {
        input(3, 8, 8)
        _: conv(3, 8, k=3)
        _: scale(8)
    }
}

fn main() {}

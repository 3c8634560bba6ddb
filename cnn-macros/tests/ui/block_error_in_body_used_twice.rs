use cnn::cnn;

cnn! {
    /// The depthwise convolution's groups do not divide `cout` when `cout` is odd.
    block sep(cin, cout) {
        conv(cin, cout, k=3, p=1, g=cin) relu
    }

    struct Net {
        input(4, 8, 8)
        sep(4, 8)
        sep(8, 12)
        sep(12, 18)
    }
}

fn main() {}

use cnn::cnn;

// `#[cfg]` on a network cannot be honoured on everything generated for it: one error on it.
cnn! {
    #[cfg(any())]
    struct Net {
        input(1, 4, 4)
        relu
    }
}

fn main() {}

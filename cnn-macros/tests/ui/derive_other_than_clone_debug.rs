use cnn::cnn;

cnn! {
    /// `Clone` and `Debug` are the macro's own (the derive is accepted); `PartialEq` is not.
    #[derive(Clone, Debug, PartialEq)]
    struct Net {
        input(1, 4, 4)
        conv(1, 2, k=3)
    }
}

fn main() {}

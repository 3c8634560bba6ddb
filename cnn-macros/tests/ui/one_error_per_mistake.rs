use cnn::cnn;

// Each mistake is reported once.
cnn! {
    struct Parallel {
        input(4, 8, 8)
        parallel { relu }
    }
}

cnn! {
    struct Lifetime {
        input(4, 8, 8)
        relu 'a relu
    }
}

cnn! {
    struct Arrow {
        input(4, 8, 8)
        relu => relu
    }
}

fn main() {}

use cnn::cnn;

// A network whose generated code is past what rustc compiles in about 2 GB: one error on its
// name, with the numbers.
cnn! {
    struct Net {
        input(1, 4, 4)
        for _ in 0..1250 { batchnorm(1) }
    }
}

fn main() {}

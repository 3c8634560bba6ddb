use cnn::cnn;

// Finite as f64 but not as f32: each is an error on its own token.
cnn! {
    struct Net {
        input(4, 8, 8)
        leaky_relu(1e39)
        elu(alpha=-1e39)
        batchnorm(4, eps=1e39)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        dropout(1.5) batchnorm(3, momentum=2) leaky_relu(negative_slope=true)
    }
}

fn main() {}

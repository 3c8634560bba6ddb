use cnn::cnn;

// Literals past what the DSL can hold are one error each, with their text: a float past f64
// (it would read as infinity), an integer past i64 (it would wrap to -1), a dilation whose
// output side overflows, and a pair of floats (a scale factor is one number).
cnn! {
    block wide(c) {
        conv(4, c, k=1)
    }

    struct Net {
        input(4, 8, 8)
        elu(1e400)
        upsample(scale_factor=1e400)
        wide(18446744073709551615)
        upsample(scale_factor=(1.5, 0.5))
    }

    struct Dilated {
        input(4, 8, 8)
        conv_transpose(4, 4, k=3, d=9223372036854775807)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        conv(3, 8, k=3) groupnorm(3, 8) groupnorm(2, 16)
        adaptive_avgpool(1) instancenorm(8)
    }
}

cnn! {
    struct Flat {
        input(3, 4, 4)
        flatten groupnorm(4, 48) instancenorm(48)
    }
}

fn main() {}

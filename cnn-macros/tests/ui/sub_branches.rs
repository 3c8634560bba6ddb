use cnn::cnn;

cnn! {
    struct ThreeBranches {
        input(3, 8, 8)
        conv(3, 8, k=3, p=1)
        sub { identity relu sigmoid }
    }
}

cnn! {
    struct TwoShapes {
        input(3, 8, 8)
        conv(3, 8, k=3, p=1)
        sub { identity maxpool(2) }
    }
}

fn main() {}

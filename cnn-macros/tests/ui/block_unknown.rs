use cnn::cnn;

cnn! {
    block bottleneck(cin, planes) {
        conv(cin, planes, k=1) relu
    }

    struct Net {
        input(3, 8, 8)
        bottlenek(3, 8)
    }
}

fn main() {}

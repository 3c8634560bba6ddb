use cnn::cnn;

cnn! {
    block conv_bn(cin, cout, s = 1) {
        conv(cin, cout, k=3, s=s, p=1, bias=false) batchnorm(cout)
    }

    struct Net {
        input(3, 8, 8)
        conv_bn(3)
        conv_bn(3, 8, 1, 2)
        conv_bn(8, 8, stride=2)
    }
}

fn main() {}

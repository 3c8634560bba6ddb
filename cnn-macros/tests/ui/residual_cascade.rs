use cnn::cnn;

// A residual whose body changes the channels without a `shortcut` is one error: a loop around
// it (a ResNet stage that forgot its first block's shortcut) and the layer after it add none.
cnn! {
    struct Net {
        input(64, 8, 8)
        for i in 0..3 {
            residual { conv(64, 32, k=1) }
        }
        conv(32, 8, k=1)
        relu
    }
}

fn main() {}

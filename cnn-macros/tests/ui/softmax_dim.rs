use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        softmax(dim=0)
        log_softmax(dim=4)
        softmax(dim=-2)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        "block.1": conv(3, 8, k=3)
        "": relu
        "fine-name": conv(8, 8, k=1)
    }
}

fn main() {}

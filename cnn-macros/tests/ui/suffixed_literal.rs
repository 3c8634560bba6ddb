use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        conv(3, 8u8, k=3usize) dropout(0.5f32)
    }
}

fn main() {}

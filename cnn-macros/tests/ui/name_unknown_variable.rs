use cnn::cnn;

// A name may insert a block's parameters and loop variables; a word that is neither is an error
// on the name (it silently became part of the key), and so is an unclosed brace.
cnn! {
    block stage(width) {
        "conv{widht}": conv(width, width, k=1)
    }

    struct Net {
        input(4, 8, 8)
        "layer{jj}": conv(4, 4, k=1)
        for i in 0..2 {
            "block{i": conv(4, 4, k=1)
        }
        s: stage(4)
        relu
    }
}

fn main() {}

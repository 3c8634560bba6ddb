use cnn::cnn;

cnn! {
    block unit(c) {
        conv(c, c, k=1) _: sum { _: identity from stem_out }
    }

    struct Net {
        input(3, 8, 8)
        stem: conv(3, 8, k=3, p=1) relu let stem_out
        a: conv(8, 8, k=1) _: sum { _: identity from stem_ot }
        u: unit(8)
        named: let x
        let
        b: conv(8, 8, k=1) from stem_out
        c: conv(8, 4, k=1)
    }
}

fn main() {}

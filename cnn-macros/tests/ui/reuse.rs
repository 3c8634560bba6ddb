use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        stem: conv(3, 8, k=3, p=1) relu let a
        head: seq { conv(8, 8, k=3, p=1) relu conv(8, 4, k=1) } output x
        from a head: reuse(2) output y
        from a reuse output z
        from a haed: reuse output w
        from x head: reuse output v
    }

    struct WithNorm {
        input(3, 8, 8)
        stem: conv(3, 8, k=3, p=1) let a
        head: seq { conv(8, 8, k=1) batchnorm(8) } output x
        from a head: reuse output y
    }

    struct NormBetween {
        input(3, 8, 8)
        stem: conv(3, 8, k=3, p=1) let a
        head: conv(8, 8, k=1) output x
        from a bn: batchnorm(8) head: reuse output y
    }
}

fn main() {}

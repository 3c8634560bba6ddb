use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        conv(3, 8, k=3, p=1)
        narrow(2, 0, 4)
        narrow(1, 6, 4)
        narrow(1, -9, 2)
    }
}

fn main() {}

use cnn::cnn;

cnn! {
    struct Net {
        input(3, 8, 8)
        conv(3, 8, k=3, ws_eps=1e-5)
        conv(8, 8, k=3, ws=true, ws_gain=false, ws_gamma=1.7)
    }
}

fn main() {}

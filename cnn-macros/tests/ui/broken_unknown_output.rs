use cnn::prelude::*;

cnn! {
    /// A network whose output size is unknown past its error: its stub's output still needs
    /// no annotation.
    struct Net {
        input(3, 8, 8)
        conv(3, 8, k=9)
        flatten
        linear(_, 10)
    }
}

fn main() {
    let net = Net::new(0);
    let y = net.forward(&[0.0; 192]);
    println!("{:?} {}", y.iter().count(), y.len());
    let ys = net.forward_batch(&[[0.0; 192]]);
    println!("{}", ys.len());
}

use cnn::cnn;
use cnn::Network;

cnn! {
    struct Net {
        input(3, 8, 8)
        output raw
        stem: conv(3, 8, k=3, p=1) relu output p3
        a: conv(8, 8, k=3, s=2, p=1) output p3
        b: conv(8, 8, k=3, s=2, p=1) output type
        output
        c: conv(8, 4, k=1) output p4
        d: conv(4, 4, k=1)
    }
}

fn main() {
    // Code using the broken network adds no errors: its outputs struct has the fields.
    let net = Net::new(0);
    let y = net.forward(&[0.0; 192]);
    let _sum: f32 = y.p3.iter().sum::<f32>() + y.p4[0];
}

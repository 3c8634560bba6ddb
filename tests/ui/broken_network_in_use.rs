use cnn::prelude::*;

cnn! {
    /// A broken network: its one error is all the compile reports, however the code uses it.
    struct Net {
        input(3, 8, 8)
        conv(4, 8, k=3) batchnorm(8) relu
        flatten
        linear(_, 10)
    }
}

fn main() {
    let mut net = Net::new(0);
    let y: [f32; 10] = net.forward(&[0.0; 192]);
    let _: Vec<[f32; 10]> = net.forward_batch(&[[0.0f32; 192]]);
    let _ = net.buffers().count() + net.params().count() + Net::BUFFERS.len() + Net::COUNTERS.len();
    let _ = net.buffer("1.running_mean").map(|b| b.data.len());
    let _ = net.counter("1.num_batches_tracked");
    net.set_step_count(net.step_count() + Net::MIN_TRAIN_BATCH as u64);
    let _ = net.train_step(&[[0.0f32; 192]], &[0], &mut Sgd::new(0.1));
    let _ = (y, net.save_safetensors("x.safetensors"));
}

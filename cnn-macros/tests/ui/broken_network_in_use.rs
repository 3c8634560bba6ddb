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

/// Every generated item, used as the documentation shows.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shapes = (Net::INPUT_SHAPE, Net::INPUT_LEN, Net::OUTPUT_SHAPE, Net::OUTPUT_LEN, Net::PARAM_COUNT);
    let tables = (Net::FORWARD_FLOPS, Net::SUMMARY, Net::PARAMS.len(), Net::BUFFERS.len(), Net::COUNTERS.len(), Net::MIN_TRAIN_BATCH);
    println!("{shapes:?} {tables:?}");
    let mut net = Net::new(0);
    let y: [f32; 10] = net.forward(&[0.0; 192]);
    // No annotation: the stub's output is the network's own type.
    let z = net.forward(&[0.0; 192]);
    let top = z.iter().fold(f32::MIN, |m, &v| m.max(v)) + z[0] + cnn::metrics::argmax(&z) as f32;
    let batch = net.forward_batch(&[[0.0; 192]]);
    println!("{top} {}", batch[0].len());
    let acts: Vec<(&str, cnn::Tensor)> = net.activations(&[0.0f32; 192]);
    let first = net.activation(&[0.0f32; 192], acts[0].0).map(|t| t.shape);
    println!("{first:?}");
    let mut out = [0.0f32; 10];
    net.forward_into(&[0.0f32; 192], &mut out);
    let ys: Vec<[f32; 10]> = net.forward_batch(&[[0.0f32; 192]]);
    let mut ws = Workspace::new();
    net.forward_batch_into(&[[0.0f32; 192]], &mut [[0.0f32; 10]], &mut ws);
    let mut opt = Sgd::new(0.1).momentum(0.9);
    let loss = net.train_step(&[[0.0f32; 192]; 2], &[0, 1], &mut opt);
    let loss = net.try_train_step(&[[0.0f32; 192]; 2], &[0, 1], &mut opt)? + loss;
    let logits: Vec<[f32; 10]> = net.forward_train(&[[0.0f32; 192]; 2]).to_vec();
    let mut grads = NetGrads::new();
    net.backward(&logits, &mut grads);
    net.apply_gradients(&mut opt, &grads);
    grads.flat_mut()[0] = grads.flat()[0] * 0.5;
    let named = NetGrads::default().params().count() + grads.param("0.weight").map_or(0, |p| p.data.len());
    println!("{:?} {:?} {y:?} {ys:?} {loss} {named}", net.clone(), grads.clone());
    net.set_step_count(net.step_count() + 1);
    for p in net.params_mut() {
        p.data.fill(0.0);
    }
    let counts = net.params().count() + net.buffers().count() + net.flat_params().len();
    net.flat_params_mut()[0] = 1.0;
    let bias = net.param("0.bias").map_or(0.0, |b| b.data[0]);
    if let Some(p) = net.param_mut("0.weight") {
        p.data[0] = bias;
    }
    let mean = net.buffer("1.running_mean").map_or(1.0, |m| m.data[0]);
    if let Some(b) = net.buffer_mut("1.running_var") {
        b.data[0] = mean;
    }
    let tracked = net.counter("1.num_batches_tracked").unwrap_or(0);
    net.load_safetensors("net.safetensors")?;
    let bytes = net.to_safetensors_bytes();
    net.load_safetensors_bytes(&bytes)?;
    net.save_safetensors("net.safetensors")?;
    net.save_checkpoint("run.safetensors", &opt)?;
    net.load_checkpoint("run.safetensors", &mut opt)?;
    println!("{counts} {tracked}");
    Ok(())
}

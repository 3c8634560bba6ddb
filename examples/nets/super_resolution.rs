// The network of pytorch/examples' `super_resolution` (`model.py`'s `Net`), shared by
// `examples/super_resolution.rs` and its PyTorch-parity test (`tests/examples_parity.rs`).

cnn::cnn! {
    /// pytorch/examples' sub-pixel super-resolution network (Shi et al., ESPCN) at upscale
    /// factor 4: a grey 8x8 picture in, its 32x32 estimate out. The same `state_dict` as the
    /// example's `Net(upscale_factor=4)`: `conv1`..`conv4`, then `pixel_shuffle(4)` turns the 16
    /// channels of 8x8 into one 32x32 map.
    pub struct SuperResolution {
        input(1, 8, 8)
        conv1: conv(1, 64, k=5, p=2) relu
        conv2: conv(64, 64, k=3, p=1) relu
        conv3: conv(64, 32, k=3, p=1) relu
        conv4: conv(32, 16, k=3, p=1)
        pixel_shuffle(4)
    }
}

/// The upscale factor of [`SuperResolution`].
pub const UPSCALE: usize = 4;

/// One training step of the example: `nn.MSELoss` between the outputs for `xs` and `targets`
/// (the mean over every pixel of the batch), backward, one `optimizer.step()`. Returns the loss.
///
/// # Errors
/// A non-finite loss, which changes nothing.
pub fn train_step(
    net: &mut SuperResolution,
    opt: &mut cnn::prelude::Adam,
    xs: &[[f32; 64]],
    targets: &[[f32; 1024]],
) -> Result<f32, cnn::prelude::TrainError> {
    use cnn::prelude::*;
    let n = (xs.len() * 1024) as f32;
    net.try_train_step_loss(xs, opt, |i, _, y, grad| {
        let mut term = 0.0f64;
        for ((g, &p), &t) in grad.as_mut_slice().iter_mut().zip(y.as_slice()).zip(&targets[i]) {
            term += f64::from(p - t).powi(2);
            *g = 2.0 * (p - t) / n;
        }
        (term / f64::from(n)) as f32
    })
}

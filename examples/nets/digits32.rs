// What the examples ported from pytorch/examples share (`include!`d by `dcgan.rs` and
// `super_resolution.rs`): the bundled 8x8 digits enlarged to 32x32, and normal random numbers.

/// Side of an enlarged digit.
pub const SIDE: usize = 32;

cnn::cnn! {
    /// `F.interpolate(scale_factor=4, mode="bilinear", align_corners=False)` of an 8x8 picture.
    pub struct Enlarge { input(1, 8, 8) upsample(scale_factor=4, mode=bilinear) }
}

/// Digits' 8x8 pictures (levels in [0, 1], as `cnn::data::digits` gives them) enlarged
/// bilinearly to 32x32.
pub fn enlarge(digits: &[[f32; 64]]) -> Vec<[f32; SIDE * SIDE]> {
    use cnn::prelude::*;
    Enlarge::new(0).forward_batch(digits)
}

/// A standard normal number (Box-Muller), as `torch.randn` draws them (not the same ones).
pub fn normal(rng: &mut impl rand::Rng) -> f32 {
    let (u, v): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

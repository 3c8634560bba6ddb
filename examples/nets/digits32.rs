// What the examples ported from pytorch/examples share (`include!`d by `dcgan.rs` and
// `super_resolution.rs`): the bundled 8x8 digits enlarged to 32x32, and normal random numbers.

/// Side of an enlarged digit.
pub const SIDE: usize = 32;

/// A digit's 8x8 picture (levels in [0, 1], as `cnn::data::digits` gives them) as a 32x32 one:
/// bilinear enlargement as
/// `F.interpolate(scale_factor=4, mode="bilinear", align_corners=False)` does it.
pub fn enlarge(digit: &[f32; 64]) -> [f32; SIDE * SIDE] {
    const LOW: usize = 8;
    let scale = LOW as f32 / SIDE as f32;
    let at = |o: usize| {
        let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
        let i = (src.floor() as usize).min(LOW - 1);
        (i, (i + 1).min(LOW - 1), src - i as f32)
    };
    std::array::from_fn(|p| {
        let ((y0, y1, fy), (x0, x1, fx)) = (at(p / SIDE), at(p % SIDE));
        let v = |y: usize, x: usize| digit[y * LOW + x];
        (1.0 - fy) * ((1.0 - fx) * v(y0, x0) + fx * v(y0, x1)) + fy * ((1.0 - fx) * v(y1, x0) + fx * v(y1, x1))
    })
}

/// A standard normal number (Box-Muller), as `torch.randn` draws them (not the same ones).
pub fn normal(rng: &mut impl rand::Rng) -> f32 {
    let (u, v): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

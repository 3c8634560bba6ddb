//! A learned factor per channel (`scale(C)`, ConvNeXt's `layer_scale`): `y = x * weight[c]` on
//! each channel's map; and a constant factor (`scale(by=0.2)`, NF-ResNet's `x * self.beta`).

use crate::kernels::conv::check_len;

/// `y = x * weight[c]` for `n` samples of `weight.len()` channels of `plane` elements.
///
/// # Panics
/// If a slice is shorter than `n` samples.
#[track_caller]
pub fn scale_forward(n: usize, plane: usize, weight: &[f32], x: &[f32], y: &mut [f32]) {
    let len = weight.len() * plane;
    check_len("input", x.len(), n * len);
    check_len("output", y.len(), n * len);
    for (x, y) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)).take(n) {
        for ((x, y), w) in x.chunks_exact(plane).zip(y.chunks_exact_mut(plane)).zip(weight) {
            y.iter_mut().zip(x).for_each(|(y, x)| *y = x * w);
        }
    }
}

/// The gradients of [`scale_forward`]: `Σ dy · x` per channel added to `grad_weight` (samples
/// and pixels in order), and `dy · weight` written or added to the input's gradient.
///
/// # Panics
/// If a slice is shorter than `n` samples.
#[track_caller]
pub fn scale_backward(
    n: usize,
    plane: usize,
    weight: &[f32],
    x: &[f32],
    dy: &[f32],
    grad_input: Option<(&mut [f32], bool)>,
    grad_weight: &mut [f32],
) {
    let len = weight.len() * plane;
    check_len("input", x.len(), n * len);
    check_len("grad_output", dy.len(), n * len);
    check_len("grad_weight", grad_weight.len(), weight.len());
    for (x, dy) in x.chunks_exact(len).zip(dy.chunks_exact(len)).take(n) {
        for ((x, dy), g) in x.chunks_exact(plane).zip(dy.chunks_exact(plane)).zip(grad_weight.iter_mut()) {
            *g += x.iter().zip(dy).map(|(x, dy)| x * dy).sum::<f32>();
        }
    }
    if let Some((dx, accumulate)) = grad_input {
        check_len("grad_input", dx.len(), n * len);
        for (dx, dy) in dx.chunks_exact_mut(len).zip(dy.chunks_exact(len)).take(n) {
            for ((dx, dy), w) in dx.chunks_exact_mut(plane).zip(dy.chunks_exact(plane)).zip(weight) {
                if accumulate {
                    dx.iter_mut().zip(dy).for_each(|(dx, dy)| *dx += dy * w);
                } else {
                    dx.iter_mut().zip(dy).for_each(|(dx, dy)| *dx = dy * w);
                }
            }
        }
    }
}

/// `y = x * by` for `n` samples of `len` elements: a product with a constant.
///
/// # Panics
/// If a slice is shorter than `n` samples.
#[track_caller]
pub fn scale_by_forward(n: usize, len: usize, by: f32, x: &[f32], y: &mut [f32]) {
    check_len("input", x.len(), n * len);
    check_len("output", y.len(), n * len);
    y[..n * len].iter_mut().zip(&x[..n * len]).for_each(|(y, x)| *y = x * by);
}

/// The gradient of [`scale_by_forward`]: `dy · by` written or added to the input's gradient.
///
/// # Panics
/// If a slice is shorter than `n` samples.
#[track_caller]
pub fn scale_by_backward(n: usize, len: usize, by: f32, dy: &[f32], grad_input: Option<(&mut [f32], bool)>) {
    check_len("grad_output", dy.len(), n * len);
    let Some((dx, accumulate)) = grad_input else { return };
    check_len("grad_input", dx.len(), n * len);
    let pairs = dx[..n * len].iter_mut().zip(&dy[..n * len]);
    if accumulate {
        pairs.for_each(|(dx, dy)| *dx += dy * by);
    } else {
        pairs.for_each(|(dx, dy)| *dx = dy * by);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_each_channel_and_sums_its_gradient() {
        let (w, x) = ([2.0, -1.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let mut y = [0.0; 8];
        scale_forward(2, 2, &w, &x, &mut y);
        assert_eq!(y, [2.0, 4.0, -3.0, -4.0, 10.0, 12.0, -7.0, -8.0]);
        let dy = [1.0, 0.5, 0.25, -1.0, 2.0, 0.0, 1.0, 1.0];
        let (mut dx, mut gw) = ([0.0; 8], [0.0; 2]);
        scale_backward(2, 2, &w, &x, &dy, Some((&mut dx, false)), &mut gw);
        assert_eq!(gw, [1.0 + 1.0 + 10.0, 0.75 - 4.0 + 15.0]);
        assert_eq!(dx, [2.0, 1.0, -0.25, 1.0, 4.0, 0.0, -1.0, -1.0]);
    }

    #[test]
    fn scales_by_a_constant_and_passes_its_gradient_scaled() {
        let x = [1.0, -2.0, 3.0, 0.5, 4.0, -1.5];
        let mut y = [0.0; 6];
        scale_by_forward(2, 3, 0.25, &x, &mut y);
        assert_eq!(y, [0.25, -0.5, 0.75, 0.125, 1.0, -0.375]);
        let dy = [1.0, 2.0, -4.0, 8.0, 0.5, -0.5];
        let mut dx = [1.0; 6];
        scale_by_backward(2, 3, 0.25, &dy, Some((&mut dx, true)));
        assert_eq!(dx, [1.25, 1.5, 0.0, 3.0, 1.125, 0.875]);
        scale_by_backward(2, 3, 0.25, &dy, Some((&mut dx, false)));
        assert_eq!(dx, [0.25, 0.5, -1.0, 2.0, 0.125, -0.125]);
    }
}

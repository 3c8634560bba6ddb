//! Element-wise activations.

/// `x = max(x, 0)` in place; NaN stays NaN, as in `torch.relu`.
#[inline]
pub fn relu_in_place(x: &mut [f32]) {
    // A select rather than a branch, so that it vectorizes.
    for v in x {
        *v = if *v < 0.0 { 0.0 } else { *v };
    }
}

/// ReLU's backward pass in place: `grad = grad` where the ReLU's `output > 0`, else 0, as
/// PyTorch's `threshold_backward` computes it from the result.
///
/// # Panics
/// If the slices differ in length.
#[track_caller]
#[inline]
pub fn relu_backward(output: &[f32], grad: &mut [f32]) {
    assert_eq!(output.len(), grad.len(), "relu_backward: output and grad differ in length");
    for (g, &y) in grad.iter_mut().zip(output) {
        *g = if y > 0.0 { *g } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clamps_negatives_keeps_nan() {
        let mut x = [-1.5, 0.0, 2.0, f32::NAN, -0.0, f32::NEG_INFINITY];
        super::relu_in_place(&mut x);
        assert_eq!(&x[..3], &[0.0, 0.0, 2.0]);
        assert!(x[3].is_nan());
        assert_eq!(x[5], 0.0);
        let mut g = [1.0, 2.0, 3.0, 4.0];
        super::relu_backward(&[0.5, 0.0, -1.0, f32::NAN], &mut g);
        assert_eq!(g, [1.0, 0.0, 0.0, 0.0]);
    }
}

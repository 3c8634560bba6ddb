//! Element-wise activations.

/// `x = max(x, 0)` in place; NaN stays NaN, as in `torch.relu`.
#[inline]
pub fn relu_in_place(x: &mut [f32]) {
    for v in x {
        if *v < 0.0 {
            *v = 0.0;
        }
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
    }
}

//! Evaluation helpers.

/// Index of the largest value (the first one on a tie), as `torch.argmax` picks a class.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// Fraction of rows whose [`argmax`] equals the label.
///
/// # Panics
/// If `outputs` and `labels` differ in length.
#[track_caller]
pub fn accuracy<const N: usize>(outputs: &[[f32; N]], labels: &[usize]) -> f64 {
    assert_eq!(outputs.len(), labels.len(), "{} outputs for {} labels", outputs.len(), labels.len());
    if labels.is_empty() {
        return 0.0;
    }
    let right = outputs.iter().zip(labels).filter(|(o, &l)| argmax(&o[..]) == l).count();
    right as f64 / labels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_and_accuracy() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, -1.0]), 1);
        assert_eq!(accuracy(&[[0.0, 1.0], [2.0, 1.0], [0.0, 3.0]], &[1, 1, 1]), 2.0 / 3.0);
    }
}

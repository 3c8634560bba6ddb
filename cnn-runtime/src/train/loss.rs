//! Loss functions with their gradients, as PyTorch defines them with `reduction='mean'`.

use std::fmt;

/// Why a loss or a training step could not be computed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TrainError {
    /// The number of labels differs from the batch size.
    LabelCount {
        /// Labels given.
        labels: usize,
        /// Samples in the batch.
        batch: usize,
    },
    /// A label is not a valid class index.
    LabelOutOfRange {
        /// Position of the label in the batch.
        index: usize,
        /// The label.
        label: usize,
        /// Number of classes (the network's outputs).
        classes: usize,
    },
    /// The number of targets differs from the number of predictions.
    TargetLength {
        /// Targets given.
        targets: usize,
        /// Predictions.
        predictions: usize,
    },
    /// The batch has no samples: there is nothing to train on (the mean loss of no samples is
    /// not defined).
    EmptyBatch,
    /// The batch is too small to train on: batch norm over a flat input needs more than one
    /// value per channel, as PyTorch requires.
    BatchTooSmall {
        /// Samples in the batch.
        batch: usize,
        /// The fewest samples the network trains on.
        needed: usize,
    },
    /// The loss came out NaN or infinite; no update was made.
    NonFiniteLoss {
        /// The loss.
        loss: f32,
    },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TrainError::LabelCount { labels, batch } => write!(f, "{labels} labels for a batch of {batch} samples"),
            TrainError::LabelOutOfRange { index, label, classes } => {
                write!(
                    f,
                    "label {label} at position {index} is out of range for {classes} classes (0..={})",
                    classes.saturating_sub(1)
                )
            }
            TrainError::TargetLength { targets, predictions } => {
                write!(f, "{targets} targets for {predictions} predictions")
            }
            TrainError::EmptyBatch => f.write_str("the batch is empty: there is nothing to train on"),
            TrainError::BatchTooSmall { batch, needed } => {
                write!(f, "a batch of {batch} samples is too small to train on: batch norm over a flat input needs at least {needed} (more than one value per channel)")
            }
            TrainError::NonFiniteLoss { loss } => {
                write!(f, "the loss is {loss}; the parameters were left unchanged (lower the learning rate or check the inputs)")
            }
        }
    }
}

impl std::error::Error for TrainError {}

/// Whether `labels` are `batch` class indices below `classes`: what a training step checks
/// before it runs anything.
///
/// # Errors
/// [`TrainError::LabelCount`], or [`TrainError::LabelOutOfRange`] for the first bad label.
pub fn check_labels(labels: &[usize], batch: usize, classes: usize) -> Result<(), TrainError> {
    if labels.len() != batch {
        return Err(TrainError::LabelCount { labels: labels.len(), batch });
    }
    match labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        Some((index, &label)) => Err(TrainError::LabelOutOfRange { index, label, classes }),
        None => Ok(()),
    }
}

/// Mean softmax cross-entropy over a batch, `nn.CrossEntropyLoss()`: `logits` holds
/// `labels.len()` rows of `classes` scores, `labels` the class index of each row. Writes the
/// gradient with respect to the logits into `grad` (`(softmax - one_hot) / batch`) and returns
/// the loss. Stable for any logits: each row is shifted by its maximum before `exp`.
///
/// # Errors
/// [`TrainError::LabelCount`] or [`TrainError::LabelOutOfRange`], checked before anything is
/// computed.
///
/// # Panics
/// If `logits` or `grad` does not hold `labels.len() * classes` values.
pub fn softmax_cross_entropy(
    logits: &[f32],
    classes: usize,
    labels: &[usize],
    grad: &mut [f32],
) -> Result<f32, TrainError> {
    let batch = logits.len().checked_div(classes).unwrap_or(0);
    check_labels(labels, batch, classes)?;
    assert_eq!(logits.len(), batch * classes, "logits are not a whole number of rows");
    assert_eq!(grad.len(), logits.len(), "grad and logits differ in length");
    let mut total = 0.0f64;
    let scale = 1.0 / batch as f32;
    for ((row, g), &label) in logits.chunks_exact(classes).zip(grad.chunks_exact_mut(classes)).zip(labels) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0f32;
        for (gi, &z) in g.iter_mut().zip(row) {
            *gi = (z - max).exp();
            sum += *gi;
        }
        let log_sum = sum.ln();
        total += (log_sum - (row[label] - max)) as f64;
        for gi in g.iter_mut() {
            *gi *= scale / sum;
        }
        g[label] -= scale;
    }
    Ok((total / batch as f64) as f32)
}

/// Mean squared error over every element, `nn.MSELoss()`. Writes the gradient with respect to
/// `predictions` (`2 (p - t) / len`) into `grad` and returns the loss.
///
/// # Errors
/// [`TrainError::TargetLength`] if `targets` and `predictions` differ in length.
///
/// # Panics
/// If `grad` and `predictions` differ in length.
pub fn mse(predictions: &[f32], targets: &[f32], grad: &mut [f32]) -> Result<f32, TrainError> {
    if targets.len() != predictions.len() {
        return Err(TrainError::TargetLength { targets: targets.len(), predictions: predictions.len() });
    }
    assert_eq!(grad.len(), predictions.len(), "grad and predictions differ in length");
    let n = predictions.len().max(1) as f32;
    let mut total = 0.0f64;
    for ((g, &p), &t) in grad.iter_mut().zip(predictions).zip(targets) {
        let d = p - t;
        total += (d as f64) * (d as f64);
        *g = 2.0 * d / n;
    }
    Ok((total / n as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_matches_the_definition_and_its_gradient() {
        let logits = [1.0, 2.0, 0.5, -1.0, 0.0, 3.0];
        let labels = [1, 2];
        let mut grad = [0.0; 6];
        let loss = softmax_cross_entropy(&logits, 3, &labels, &mut grad).unwrap();
        let mut want = 0.0f64;
        for (row, &l) in logits.chunks(3).zip(&labels) {
            let z: f64 = row.iter().map(|&v| (v as f64).exp()).sum();
            want += z.ln() - row[l] as f64;
        }
        assert!((loss as f64 - want / 2.0).abs() < 1e-6);
        // Central differences of the loss reproduce the gradient.
        for i in 0..6 {
            let mut lp = logits;
            lp[i] += 1e-3;
            let mut lm = logits;
            lm[i] -= 1e-3;
            let mut g = [0.0; 6];
            let fd = (softmax_cross_entropy(&lp, 3, &labels, &mut g).unwrap()
                - softmax_cross_entropy(&lm, 3, &labels, &mut g).unwrap())
                / 2e-3;
            assert!((fd - grad[i]).abs() < 1e-3, "{i}: {fd} vs {}", grad[i]);
        }
    }

    #[test]
    fn cross_entropy_is_stable_for_huge_logits() {
        let mut grad = [0.0; 3];
        let loss = softmax_cross_entropy(&[1e30, 0.0, -1e30], 3, &[0], &mut grad).unwrap();
        assert_eq!(loss, 0.0);
        assert!(grad.iter().all(|g| g.is_finite()));
        let loss = softmax_cross_entropy(&[1000.0, 0.0, 0.0], 3, &[1], &mut grad).unwrap();
        assert_eq!(loss, 1000.0);
    }

    #[test]
    fn bad_labels_are_errors_naming_the_numbers() {
        let mut grad = [0.0; 6];
        let e = softmax_cross_entropy(&[0.0; 6], 3, &[0], &mut grad).unwrap_err();
        assert_eq!(e.to_string(), "1 labels for a batch of 2 samples");
        let e = softmax_cross_entropy(&[0.0; 6], 3, &[0, 3], &mut grad).unwrap_err();
        assert_eq!(e.to_string(), "label 3 at position 1 is out of range for 3 classes (0..=2)");
    }

    #[test]
    fn mse_and_its_gradient() {
        let mut grad = [0.0; 4];
        let loss = mse(&[1.0, 2.0, 3.0, 4.0], &[1.0, 0.0, 3.0, 5.0], &mut grad).unwrap();
        assert_eq!(loss, (4.0 + 1.0) / 4.0);
        assert_eq!(grad, [0.0, 1.0, 0.0, -0.5]);
        assert!(mse(&[1.0], &[1.0, 2.0], &mut [0.0]).is_err());
    }
}

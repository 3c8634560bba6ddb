//! Evaluation helpers: accuracy for classifiers; for segmentation, per-pixel predictions and a
//! confusion matrix with pixel accuracy and intersection over union, as torchvision's
//! segmentation references compute them.

pub use super::mean_average_precision::{MapError, MapSummary, MeanAveragePrecision};

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
pub fn accuracy<S: crate::Sample>(outputs: &[S], labels: &[usize]) -> f64 {
    assert_eq!(outputs.len(), labels.len(), "{} outputs for {} labels", outputs.len(), labels.len());
    if labels.is_empty() {
        return 0.0;
    }
    let right = outputs.iter().zip(labels).filter(|(o, &l)| argmax(o.as_slice()) == l).count();
    right as f64 / labels.len() as f64
}

/// The class of every pixel of `[n, classes, h·w]` logits (`pixels = h·w`), the first on a tie
/// as `logits.argmax(1)`, written to `predictions` (`n · pixels` long).
///
/// # Panics
/// If `logits` is not `predictions.len() · classes` long.
#[track_caller]
pub fn predict_pixels(logits: &[f32], classes: usize, pixels: usize, predictions: &mut [usize]) {
    assert_eq!(
        logits.len(),
        predictions.len() * classes,
        "{} logits for {} pixels of {classes} classes",
        logits.len(),
        predictions.len()
    );
    for (x, out) in logits.chunks_exact(classes * pixels).zip(predictions.chunks_exact_mut(pixels)) {
        for (p, out) in out.iter_mut().enumerate() {
            let mut best = 0;
            for c in 1..classes {
                if x[c * pixels + p] > x[best * pixels + p] {
                    best = c;
                }
            }
            *out = best;
        }
    }
}

/// Counts of (label, prediction) pairs over a data set, `torchvision`'s segmentation
/// `ConfusionMatrix`: rows are labels, columns predictions; a label outside the classes (the
/// ignored 255) is not counted.
///
/// ```
/// use cnn_runtime::metrics::ConfusionMatrix;
/// let mut m = ConfusionMatrix::new(3);
/// m.update(&[0, 1, 1, 2, 255], &[0, 1, 2, 2, 1]); // labels, predictions
/// assert_eq!(m.pixel_accuracy(), 0.75);
/// assert_eq!(m.class_iou(), [1.0, 0.5, 0.5]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix { classes, counts: vec![0; classes * classes] }
    }

    /// Classes counted.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Adds the pixels of `labels` and their `predictions`; labels at or above the classes
    /// (an ignored label) are skipped.
    ///
    /// # Panics
    /// If the two differ in length, or a counted pixel's prediction is not a class.
    #[track_caller]
    pub fn update(&mut self, labels: &[usize], predictions: &[usize]) {
        assert_eq!(labels.len(), predictions.len(), "{} labels for {} predictions", labels.len(), predictions.len());
        let k = self.classes;
        for (&l, &p) in labels.iter().zip(predictions) {
            if l < k {
                assert!(p < k, "prediction {p} is not one of {k} classes");
                self.counts[l * k + p] += 1;
            }
        }
    }

    /// Pixels with label `label` predicted as `prediction`.
    pub fn count(&self, label: usize, prediction: usize) -> u64 {
        self.counts[label * self.classes + prediction]
    }

    /// Forgets every count.
    pub fn reset(&mut self) {
        self.counts.fill(0);
    }

    fn diagonal(&self, c: usize) -> f64 {
        self.count(c, c) as f64
    }
    fn row(&self, c: usize) -> f64 {
        (0..self.classes).map(|p| self.count(c, p) as f64).sum()
    }
    fn column(&self, c: usize) -> f64 {
        (0..self.classes).map(|l| self.count(l, c) as f64).sum()
    }

    /// Correct pixels over counted pixels (torchvision's `acc_global`); NaN before any.
    pub fn pixel_accuracy(&self) -> f64 {
        let right: f64 = (0..self.classes).map(|c| self.diagonal(c)).sum();
        right / self.counts.iter().sum::<u64>() as f64
    }

    /// Per class: correct pixels over that class's pixels (torchvision's `acc`); NaN for a
    /// class no label has.
    pub fn class_accuracy(&self) -> Vec<f64> {
        (0..self.classes).map(|c| self.diagonal(c) / self.row(c)).collect()
    }

    /// Per class: intersection over union, `tp / (labelled + predicted - tp)` (torchvision's
    /// `iu`); NaN for a class neither labelled nor predicted.
    pub fn class_iou(&self) -> Vec<f64> {
        (0..self.classes).map(|c| self.diagonal(c) / (self.row(c) + self.column(c) - self.diagonal(c))).collect()
    }

    /// The mean of [`Self::class_iou`] over every class, torchvision's `iu.mean()`: NaN if a
    /// class was neither labelled nor predicted (see [`Self::mean_iou_present`]).
    pub fn mean_iou(&self) -> f64 {
        self.class_iou().iter().sum::<f64>() / self.classes as f64
    }

    /// The mean of [`Self::class_iou`] over the classes that were labelled or predicted
    /// (NumPy's `nanmean`), for a data set that lacks some class.
    pub fn mean_iou_present(&self) -> f64 {
        let present: Vec<f64> = self.class_iou().into_iter().filter(|v| !v.is_nan()).collect();
        present.iter().sum::<f64>() / present.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torchvision's `ConfusionMatrix.compute` on these pixels, worked by hand: labels
    /// [0 0 1 1 1 2 9] (9 ignored) and predictions [0 1 1 1 2 2 0] give rows [1 1 0], [0 2 1],
    /// [0 0 1]: accuracy 4/6, IoU 1/2, 2/4, 1/2.
    #[test]
    fn confusion_matrix_as_torchvision() {
        let mut m = ConfusionMatrix::new(3);
        m.update(&[0, 0, 1, 1, 1, 2, 9], &[0, 1, 1, 1, 2, 2, 0]);
        assert_eq!((m.count(0, 1), m.count(1, 2), m.count(2, 2)), (1, 1, 1));
        assert_eq!(m.pixel_accuracy(), 4.0 / 6.0);
        assert_eq!(m.class_accuracy(), [0.5, 2.0 / 3.0, 1.0]);
        assert_eq!(m.class_iou(), [0.5, 0.5, 0.5]);
        assert_eq!(m.mean_iou(), 0.5);
        let mut four = ConfusionMatrix::new(4);
        four.update(&[0, 1], &[0, 1]);
        assert!(four.mean_iou().is_nan(), "classes 2 and 3 never appear");
        assert_eq!(four.mean_iou_present(), 1.0);
        four.reset();
        assert!(four.pixel_accuracy().is_nan());
    }

    #[test]
    fn pixel_predictions_take_the_channel_argmax() {
        // Two samples of 2 classes x 3 pixels.
        let logits = [0.0, 5.0, 1.0, 1.0, 2.0, 1.0, /* sample 1 */ 3.0, 3.0, -1.0, 2.0, 4.0, 0.0];
        let mut p = [9; 6];
        predict_pixels(&logits, 2, 3, &mut p);
        assert_eq!(p, [1, 0, 0, 0, 1, 1]);
    }

    #[test]
    fn argmax_and_accuracy() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, -1.0]), 1);
        assert_eq!(accuracy(&[[0.0, 1.0], [2.0, 1.0], [0.0, 3.0]], &[1, 1, 1]), 2.0 / 3.0);
    }
}

//! Assigning ground-truth boxes to predictions (`torchvision.models.detection._utils.Matcher`).

use super::DetectError;

/// What a prediction is matched to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// The ground-truth box of this index.
    Gt(usize),
    /// Its best quality is below the low threshold: background (torchvision's `-1`,
    /// `BELOW_LOW_THRESHOLD`).
    BelowLow,
    /// Its best quality lies between the thresholds: ignored (torchvision's `-2`,
    /// `BETWEEN_THRESHOLDS`).
    Between,
}

/// torchvision's `Matcher(high_threshold, low_threshold, allow_low_quality_matches)`: each
/// prediction takes the ground-truth box of highest quality (IoU), the first on ties, if that
/// quality reaches `high_threshold`; below `low_threshold` it is background, between the two
/// ignored. With `allow_low_quality_matches`, every ground-truth box also keeps the
/// predictions that match it best (all of them on ties), whatever the quality (Faster R-CNN's
/// RPN, RetinaNet).
///
/// ```
/// use cnn::detect::{Match, Matcher};
///
/// let matcher = Matcher { high_threshold: 0.5, low_threshold: 0.4, allow_low_quality_matches: false };
/// // Quality of 1 ground-truth box (row) against 3 predictions.
/// let m = matcher.assign(&[vec![0.7, 0.45, 0.1]]).unwrap();
/// assert_eq!(m, vec![Match::Gt(0), Match::Between, Match::BelowLow]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matcher {
    pub high_threshold: f32,
    pub low_threshold: f32,
    pub allow_low_quality_matches: bool,
}

impl Matcher {
    /// The match of each prediction, from `quality[gt][prediction]` (a [`super::box_iou`] of
    /// ground truth against predictions).
    ///
    /// # Errors
    /// No ground-truth box or no prediction (torchvision's `ValueError`s), rows of different
    /// lengths, or a NaN quality.
    pub fn assign(&self, quality: &[Vec<f32>]) -> Result<Vec<Match>, DetectError> {
        let n = quality.first().map_or(0, Vec::len);
        if quality.is_empty() {
            return Err(DetectError::Empty { what: "ground-truth boxes" });
        }
        if n == 0 {
            return Err(DetectError::Empty { what: "predictions" });
        }
        for (gt, row) in quality.iter().enumerate() {
            if row.len() != n {
                return Err(DetectError::Length { what: "a row of the quality matrix", expected: n, found: row.len() });
            }
            if let Some(prediction) = row.iter().position(|v| v.is_nan()) {
                return Err(DetectError::NanQuality { gt, prediction });
            }
        }
        // Per prediction, the best ground truth, the first on ties (`max(dim=0)`).
        let best: Vec<(usize, f32)> = (0..n)
            .map(|j| {
                (1..quality.len()).fold((0, quality[0][j]), |(bi, bv), i| {
                    if quality[i][j] > bv {
                        (i, quality[i][j])
                    } else {
                        (bi, bv)
                    }
                })
            })
            .collect();
        let mut matches: Vec<Match> = best
            .iter()
            .map(|&(i, v)| {
                if v < self.low_threshold {
                    Match::BelowLow
                } else if v < self.high_threshold {
                    Match::Between
                } else {
                    Match::Gt(i)
                }
            })
            .collect();
        if self.allow_low_quality_matches {
            for row in quality {
                let highest = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                for (j, &v) in row.iter().enumerate() {
                    if v == highest {
                        matches[j] = Match::Gt(best[j].0);
                    }
                }
            }
        }
        Ok(matches)
    }
}

//! Anchor boxes (`torchvision.models.detection.anchor_utils.AnchorGenerator`): at every cell of
//! every feature level, one box per size and aspect ratio, centred on the cell's corner.

use super::{Box4, DetectError};

/// torchvision's `AnchorGenerator(sizes, aspect_ratios)`: per feature level `l`, anchors of
/// each `aspect_ratios[l]` (height / width) and `sizes[l]` (the square root of the area), in
/// torchvision's order (ratio-major, then size), rounded to integers half to even as
/// `torch.round` does, and shifted by the level's stride (the image size divided by the map
/// size, rounded down) to every cell, row by row.
///
/// ```
/// use cnn::detect::AnchorGenerator;
///
/// let anchors = AnchorGenerator::new(vec![vec![32.0]], vec![vec![1.0]]).unwrap();
/// let boxes = anchors.anchors((64, 64), &[(2, 2)]).unwrap();
/// assert_eq!(boxes, vec![
///     [-16.0, -16.0, 16.0, 16.0], [16.0, -16.0, 48.0, 16.0],
///     [-16.0, 16.0, 16.0, 48.0], [16.0, 16.0, 48.0, 48.0],
/// ]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AnchorGenerator {
    cells: Vec<Vec<Box4>>,
}

impl AnchorGenerator {
    /// The generator of `sizes[l]` and `aspect_ratios[l]` for each level `l`.
    ///
    /// # Errors
    /// Lists of different lengths (levels), an empty level, or a size or ratio that is not a
    /// positive finite number.
    pub fn new(sizes: Vec<Vec<f32>>, aspect_ratios: Vec<Vec<f32>>) -> Result<Self, DetectError> {
        if sizes.len() != aspect_ratios.len() {
            return Err(DetectError::Length {
                what: "aspect_ratios",
                expected: sizes.len(),
                found: aspect_ratios.len(),
            });
        }
        let mut cells = Vec::with_capacity(sizes.len());
        for (level, (scales, ratios)) in sizes.iter().zip(&aspect_ratios).enumerate() {
            if scales.is_empty() || ratios.is_empty() {
                return Err(DetectError::Empty { what: "sizes or aspect ratios at a level" });
            }
            if let Some(&value) = scales.iter().chain(ratios).find(|v| !(v.is_finite() && **v > 0.0)) {
                return Err(DetectError::AnchorValue { level, value });
            }
            let mut cell = Vec::with_capacity(scales.len() * ratios.len());
            for &ratio in ratios {
                let h_ratio = ratio.sqrt();
                let w_ratio = 1.0 / h_ratio;
                for &scale in scales {
                    let (w, h) = (w_ratio * scale, h_ratio * scale);
                    cell.push([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0].map(f32::round_ties_even));
                }
            }
            cells.push(cell);
        }
        Ok(AnchorGenerator { cells })
    }

    /// The anchors of one cell at each level, centred on `(0, 0)`: torchvision's `cell_anchors`.
    pub fn cell_anchors(&self) -> &[Vec<Box4>] {
        &self.cells
    }

    /// Anchors per cell at each level (what a head predicts per location).
    pub fn num_anchors_per_location(&self) -> Vec<usize> {
        self.cells.iter().map(Vec::len).collect()
    }

    /// Every anchor of an image of `image_size` (`(height, width)`) with feature maps of
    /// `feature_sizes` (one `(height, width)` per level, in order), the levels one after the
    /// other, as torchvision's `forward` gives them for one image.
    ///
    /// # Errors
    /// Another number of feature maps than levels, or a map larger than the image or empty.
    pub fn anchors(
        &self,
        image_size: (usize, usize),
        feature_sizes: &[(usize, usize)],
    ) -> Result<Vec<Box4>, DetectError> {
        if feature_sizes.len() != self.cells.len() {
            return Err(DetectError::Length {
                what: "feature_sizes",
                expected: self.cells.len(),
                found: feature_sizes.len(),
            });
        }
        let total = feature_sizes.iter().zip(&self.cells).map(|(&(h, w), c)| h * w * c.len()).sum();
        let mut out = Vec::with_capacity(total);
        for (level, (&(gh, gw), cell)) in feature_sizes.iter().zip(&self.cells).enumerate() {
            if gh == 0 || gw == 0 || gh > image_size.0 || gw > image_size.1 {
                return Err(DetectError::FeatureSize { level, size: (gh, gw), image: image_size });
            }
            let (sh, sw) = (image_size.0 / gh, image_size.1 / gw);
            for y in 0..gh {
                for x in 0..gw {
                    let (dx, dy) = ((x * sw) as f32, (y * sh) as f32);
                    out.extend(cell.iter().map(|a| [a[0] + dx, a[1] + dy, a[2] + dx, a[3] + dy]));
                }
            }
        }
        Ok(out)
    }
}

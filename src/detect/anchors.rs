//! Anchor boxes (`torchvision.models.detection.anchor_utils`): `AnchorGenerator`'s (RetinaNet,
//! FCOS, Faster R-CNN: at every cell of every feature level, one box per size and aspect ratio,
//! centred on the cell's corner, in pixels) and `DefaultBoxGenerator`'s (SSD: centred on the
//! cell, sized as fractions of the image).

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

    /// RetinaNet's (torchvision's `_default_anchorgen`): at the five levels P3 .. P7, sizes `x`,
    /// `int(x · 2^(1/3))` and `int(x · 2^(2/3))` for `x` = 32, 64, 128, 256, 512, each at aspect
    /// ratios 0.5, 1 and 2: nine anchors a location.
    pub fn retinanet() -> Self {
        let sizes = [32.0f64, 64.0, 128.0, 256.0, 512.0]
            .iter()
            .map(|&x| [0.0, 1.0 / 3.0, 2.0 / 3.0].map(|e| (x * 2f64.powf(e)).floor() as f32).to_vec())
            .collect();
        Self::new(sizes, vec![vec![0.5, 1.0, 2.0]; 5]).expect("RetinaNet's sizes and ratios are valid")
    }

    /// FCOS's (`fcos_resnet50_fpn`): one anchor a location, of sizes 8, 16, 32, 64 and 128 at
    /// P3 .. P7 (the levels' strides: an anchor is its cell), aspect ratio 1.
    pub fn fcos() -> Self {
        let sizes = [8.0, 16.0, 32.0, 64.0, 128.0].iter().map(|&x| vec![x]).collect();
        Self::new(sizes, vec![vec![1.0]; 5]).expect("FCOS's sizes and ratios are valid")
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

/// torchvision's `DefaultBoxGenerator(aspect_ratios, min_ratio, max_ratio, scales, steps, clip)`
/// (SSD's default boxes): per level `k`, at the centre of each cell, boxes of scale `s_k`,
/// `sqrt(s_k s_{k+1})` and, for each aspect ratio `r`, `s_k sqrt(r)` by `s_k / sqrt(r)` and its
/// transpose, as fractions of the image (clipped to 1 with `clip`), then in pixels.
///
/// ```
/// use cnn::detect::DefaultBoxGenerator;
///
/// // SSDlite320's: ratios 2 and 3 at six levels, scales from 0.2 to 0.95.
/// let gen = DefaultBoxGenerator::new(vec![vec![2.0, 3.0]; 6], 0.2, 0.95, None, None, true).unwrap();
/// assert_eq!(gen.num_anchors_per_location(), vec![6; 6]);
/// let boxes = gen.anchors((320, 320), &[(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]).unwrap();
/// assert_eq!(boxes.len(), 6 * (400 + 100 + 25 + 9 + 4 + 1));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DefaultBoxGenerator {
    /// Per level, the `(w, h)` pairs before clipping, in f32 as torchvision keeps them.
    wh_pairs: Vec<Vec<(f32, f32)>>,
    steps: Option<Vec<f32>>,
    clip: bool,
}

impl DefaultBoxGenerator {
    /// The generator of `aspect_ratios` per level; `scales` (one more than the levels) or, when
    /// `None`, scales from `min_ratio` to `max_ratio` evenly and 1; `steps` (per level, the
    /// image size over it is the grid the centres are spaced by) or, when `None`, the map sizes.
    ///
    /// # Errors
    /// No level, scales or steps of the wrong count, or a ratio, scale or step that is not a
    /// positive finite number.
    pub fn new(
        aspect_ratios: Vec<Vec<f32>>,
        min_ratio: f32,
        max_ratio: f32,
        scales: Option<Vec<f32>>,
        steps: Option<Vec<f32>>,
        clip: bool,
    ) -> Result<Self, DetectError> {
        let levels = aspect_ratios.len();
        if levels == 0 {
            return Err(DetectError::Empty { what: "levels" });
        }
        // torchvision computes the scales and pairs in Python floats (f64), then keeps f32.
        let scales: Vec<f64> = match scales {
            Some(s) if s.len() != levels + 1 => {
                return Err(DetectError::Length { what: "scales", expected: levels + 1, found: s.len() })
            }
            Some(s) => s.iter().map(|&v| f64::from(v)).collect(),
            None if levels > 1 => {
                let (lo, hi) = (f64::from(min_ratio), f64::from(max_ratio));
                let mut s: Vec<f64> = (0..levels).map(|k| lo + (hi - lo) * k as f64 / (levels as f64 - 1.0)).collect();
                s.push(1.0);
                s
            }
            None => vec![f64::from(min_ratio), f64::from(max_ratio)],
        };
        if let Some(s) = &steps {
            if s.len() != levels {
                return Err(DetectError::Length { what: "steps", expected: levels, found: s.len() });
            }
        }
        let all = scales.iter().copied().chain(aspect_ratios.iter().flatten().map(|&r| f64::from(r)));
        let all = all.chain(steps.iter().flatten().map(|&v| f64::from(v)));
        if let Some(value) = all.clone().find(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(DetectError::DefaultBoxValue { value: value as f32 });
        }
        let wh_pairs = (0..levels)
            .map(|k| {
                let (s, s_prime) = (scales[k], (scales[k] * scales[k + 1]).sqrt());
                let mut pairs = vec![(s as f32, s as f32), (s_prime as f32, s_prime as f32)];
                for &r in &aspect_ratios[k] {
                    let sq = f64::from(r).sqrt();
                    let (w, h) = (scales[k] * sq, scales[k] / sq);
                    pairs.push((w as f32, h as f32));
                    pairs.push((h as f32, w as f32));
                }
                pairs
            })
            .collect();
        Ok(DefaultBoxGenerator { wh_pairs, steps, clip })
    }

    /// Default boxes per cell at each level: `2 + 2 * ratios`.
    pub fn num_anchors_per_location(&self) -> Vec<usize> {
        self.wh_pairs.iter().map(Vec::len).collect()
    }

    /// Every default box of an image of `image_size` (`(height, width)`) with feature maps of
    /// `feature_sizes`, in pixels (`xyxy`), the levels one after the other, cells row by row.
    ///
    /// # Errors
    /// Another number of feature maps than levels, or an empty map.
    pub fn anchors(
        &self,
        image_size: (usize, usize),
        feature_sizes: &[(usize, usize)],
    ) -> Result<Vec<Box4>, DetectError> {
        if feature_sizes.len() != self.wh_pairs.len() {
            return Err(DetectError::Length {
                what: "feature_sizes",
                expected: self.wh_pairs.len(),
                found: feature_sizes.len(),
            });
        }
        let (ih, iw) = (image_size.0 as f32, image_size.1 as f32);
        let mut out = Vec::new();
        for (k, (&(fh, fw), pairs)) in feature_sizes.iter().zip(&self.wh_pairs).enumerate() {
            if fh == 0 || fw == 0 {
                return Err(DetectError::FeatureSize { level: k, size: (fh, fw), image: image_size });
            }
            // Centres `(i + 0.5) / f` in f32, `f` the map size or the image size over the step
            // (computed in f64 as Python does, then divided in f32 as torch does).
            let (fy, fx) = match &self.steps {
                Some(steps) => {
                    ((f64::from(ih) / f64::from(steps[k])) as f32, (f64::from(iw) / f64::from(steps[k])) as f32)
                }
                None => (fh as f32, fw as f32),
            };
            for y in 0..fh {
                let cy = (y as f32 + 0.5) / fy;
                for x in 0..fw {
                    let cx = (x as f32 + 0.5) / fx;
                    for &(w, h) in pairs {
                        let (w, h) = if self.clip { (w.clamp(0.0, 1.0), h.clamp(0.0, 1.0)) } else { (w, h) };
                        out.push([(cx - 0.5 * w) * iw, (cy - 0.5 * h) * ih, (cx + 0.5 * w) * iw, (cy + 0.5 * h) * ih]);
                    }
                }
            }
        }
        Ok(out)
    }
}

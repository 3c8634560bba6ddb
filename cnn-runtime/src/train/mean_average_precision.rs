//! COCO's detection metric, as `pycocotools.cocoeval.COCOeval` computes it for boxes: mean
//! average precision over IoU thresholds 0.50:0.05:0.95 (and at 0.50 and 0.75), 101-point
//! interpolated, over the classes that have ground truth, at most 100 detections per image.

use std::fmt;

/// A box as `[x1, y1, x2, y2]`.
type Box4 = [f32; 4];

/// pycocotools' `iouThrs`: `np.linspace(0.5, 0.95, 10)`.
fn iou_thresholds() -> [f64; 10] {
    let step = (0.95 - 0.5) / 9.0;
    std::array::from_fn(|i| if i == 9 { 0.95 } else { 0.5 + step * i as f64 })
}

/// Detections per image that count (pycocotools' `maxDets[-1]`).
const MAX_DETECTIONS: usize = 100;

/// One image's detections and ground truth, as given.
#[derive(Clone, Debug)]
struct Image {
    boxes: Vec<Box4>,
    scores: Vec<f32>,
    labels: Vec<usize>,
    gt_boxes: Vec<Box4>,
    gt_labels: Vec<usize>,
}

/// A bad image given to [`MeanAveragePrecision::update`].
#[derive(Clone, Debug, PartialEq)]
pub enum MapError {
    /// Lists of one image that differ in length: which, and the lengths.
    Length { what: &'static str, expected: usize, found: usize },
    /// A box with a coordinate that is not finite or `x2 < x1` / `y2 < y1`.
    BadBox { what: &'static str, index: usize, value: Box4 },
    /// A NaN score.
    NanScore { index: usize },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Length { what, expected, found } => {
                write!(f, "{what} has {found} entries where {expected} are expected")
            }
            MapError::BadBox { what, index, value } => {
                write!(f, "{what}[{index}] = {value:?} is not a finite [x1, y1, x2, y2] box with x2 >= x1, y2 >= y1")
            }
            MapError::NanScore { index } => write!(f, "scores[{index}] is NaN"),
        }
    }
}

impl std::error::Error for MapError {}

/// The summary [`MeanAveragePrecision::compute`] gives: pycocotools' first three statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapSummary {
    /// AP at IoU 0.50:0.95 (COCO's mAP, `stats[0]`); -1 without ground truth, as pycocotools.
    pub map: f64,
    /// AP at IoU 0.50 (VOC's mAP@0.5, `stats[1]`).
    pub map_50: f64,
    /// AP at IoU 0.75 (`stats[2]`).
    pub map_75: f64,
}

/// COCO mean average precision over images added one by one, equal to pycocotools' `COCOeval`
/// (`iouType="bbox"`, area range `all`, at most 100 detections per image): per class and IoU
/// threshold, detections of all images in decreasing score order (equal scores in the order
/// added) are matched greedily to unmatched ground truth of IoU at least the threshold (the
/// best, the last of equals), precision is made non-increasing and read at the 101 recalls
/// 0, 0.01, ..., 1; the mean runs over thresholds and classes with ground truth.
///
/// ```
/// use cnn_runtime::metrics::MeanAveragePrecision;
///
/// let mut map = MeanAveragePrecision::new();
/// // One image: a detection on its one object, and a false one of lower score.
/// map.update(&[[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]], &[0.9, 0.4], &[1, 1],
///            &[[0.0, 0.0, 10.0, 10.0]], &[1]).unwrap();
/// let s = map.compute();
/// // Precision 1 / (1 + f64::EPSILON), as pycocotools divides.
/// assert!((s.map - 1.0).abs() < 1e-15 && (s.map_50 - 1.0).abs() < 1e-15);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MeanAveragePrecision {
    images: Vec<Image>,
}

/// pycocotools' `bbIou` for one pair (xyxy in, computed as its xywh in f64).
fn iou(d: &Box4, g: &Box4) -> f64 {
    let [dx, dy, dw, dh] = [d[0], d[1], d[2] - d[0], d[3] - d[1]].map(f64::from);
    let [gx, gy, gw, gh] = [g[0], g[1], g[2] - g[0], g[3] - g[1]].map(f64::from);
    let w = (dx + dw).min(gx + gw) - dx.max(gx);
    let h = (dy + dh).min(gy + gh) - dy.max(gy);
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    let inter = w * h;
    inter / (dw * dh + gw * gh - inter)
}

fn check(what: &'static str, boxes: &[Box4]) -> Result<(), MapError> {
    for (index, &value) in boxes.iter().enumerate() {
        if value.iter().any(|v| !v.is_finite()) || value[2] < value[0] || value[3] < value[1] {
            return Err(MapError::BadBox { what, index, value });
        }
    }
    Ok(())
}

impl MeanAveragePrecision {
    /// No images yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one image: its detections (`boxes`, `scores`, `labels`, as a `cnn::detect::Detection`
    /// holds them) and its ground truth.
    ///
    /// # Errors
    /// Lists of different lengths, a box not finite or not `xyxy`, a NaN score; nothing is
    /// added then.
    pub fn update(
        &mut self,
        boxes: &[Box4],
        scores: &[f32],
        labels: &[usize],
        gt_boxes: &[Box4],
        gt_labels: &[usize],
    ) -> Result<(), MapError> {
        for (what, n) in [("scores", scores.len()), ("labels", labels.len())] {
            if n != boxes.len() {
                return Err(MapError::Length { what, expected: boxes.len(), found: n });
            }
        }
        if gt_labels.len() != gt_boxes.len() {
            return Err(MapError::Length { what: "gt_labels", expected: gt_boxes.len(), found: gt_labels.len() });
        }
        check("boxes", boxes)?;
        check("gt_boxes", gt_boxes)?;
        if let Some(index) = scores.iter().position(|s| s.is_nan()) {
            return Err(MapError::NanScore { index });
        }
        self.images.push(Image {
            boxes: boxes.to_vec(),
            scores: scores.to_vec(),
            labels: labels.to_vec(),
            gt_boxes: gt_boxes.to_vec(),
            gt_labels: gt_labels.to_vec(),
        });
        Ok(())
    }

    /// Images added so far.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether no image was added.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Forgets every image.
    pub fn reset(&mut self) {
        self.images.clear();
    }

    /// pycocotools' AP at 0.50:0.95, 0.50 and 0.75.
    pub fn compute(&self) -> MapSummary {
        let thresholds = iou_thresholds();
        let mut classes: Vec<usize> =
            self.images.iter().flat_map(|im| im.labels.iter().chain(&im.gt_labels).copied()).collect();
        classes.sort_unstable();
        classes.dedup();
        // precision[t][class] at the 101 recalls, for classes with ground truth.
        let mut per_threshold: Vec<Vec<[f64; 101]>> = vec![Vec::new(); thresholds.len()];
        for &class in &classes {
            // Per detection over all images: (score, matched per threshold); and the gt count.
            let mut detections: Vec<(f32, [bool; 10])> = Vec::new();
            let mut gt_count = 0usize;
            for im in &self.images {
                let gts: Vec<&Box4> =
                    im.gt_boxes.iter().zip(&im.gt_labels).filter(|(_, &l)| l == class).map(|(b, _)| b).collect();
                gt_count += gts.len();
                let mut dts: Vec<(f32, &Box4)> = im
                    .boxes
                    .iter()
                    .zip(&im.scores)
                    .zip(&im.labels)
                    .filter(|(_, &l)| l == class)
                    .map(|((b, &s), _)| (s, b))
                    .collect();
                // Decreasing score, stable (numpy's mergesort of -score), the first 100.
                dts.sort_by(|a, b| b.0.total_cmp(&a.0));
                dts.truncate(MAX_DETECTIONS);
                let ious: Vec<Vec<f64>> = dts.iter().map(|(_, d)| gts.iter().map(|g| iou(d, g)).collect()).collect();
                let mut matched = vec![[false; 10]; dts.len()];
                for (t, &threshold) in thresholds.iter().enumerate() {
                    let mut taken = vec![false; gts.len()];
                    for (d, row) in ious.iter().enumerate() {
                        let mut best = threshold.min(1.0 - 1e-10);
                        let mut m = None;
                        for (g, &v) in row.iter().enumerate() {
                            if taken[g] || v < best {
                                continue;
                            }
                            best = v;
                            m = Some(g);
                        }
                        if let Some(g) = m {
                            taken[g] = true;
                            matched[d][t] = true;
                        }
                    }
                }
                detections.extend(dts.iter().zip(matched).map(|(&(s, _), m)| (s, m)));
            }
            if gt_count == 0 {
                continue;
            }
            // All images' detections in decreasing score, stable across the images' order.
            detections.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (t, out) in per_threshold.iter_mut().enumerate() {
                let (mut tp, mut fp) = (0.0f64, 0.0f64);
                let mut recall = Vec::with_capacity(detections.len());
                let mut precision = Vec::with_capacity(detections.len());
                for &(_, m) in &detections {
                    if m[t] {
                        tp += 1.0;
                    } else {
                        fp += 1.0;
                    }
                    recall.push(tp / gt_count as f64);
                    precision.push(tp / (tp + fp + f64::EPSILON));
                }
                for i in (1..precision.len()).rev() {
                    if precision[i] > precision[i - 1] {
                        precision[i - 1] = precision[i];
                    }
                }
                let mut q = [0.0f64; 101];
                for (r, q) in q.iter_mut().enumerate() {
                    // `np.linspace(0, 1, 101)`: `r * (1 / 100)`, the last exactly 1.
                    let level = if r == 100 { 1.0 } else { r as f64 * (1.0 / 100.0) };
                    // numpy's searchsorted(side="left"): the first recall >= the level.
                    match recall.iter().position(|&v| v >= level) {
                        Some(i) => *q = precision[i],
                        None => break,
                    }
                }
                out.push(q);
            }
        }
        let mean = |ts: &[usize]| -> f64 {
            let values: Vec<f64> = ts.iter().flat_map(|&t| per_threshold[t].iter().flatten().copied()).collect();
            if values.is_empty() {
                -1.0
            } else {
                values.iter().sum::<f64>() / values.len() as f64
            }
        };
        MapSummary { map: mean(&(0..10).collect::<Vec<_>>()), map_50: mean(&[0]), map_75: mean(&[5]) }
    }
}

//! From a single-stage detector's head outputs to detections (torchvision's
//! `postprocess_detections` of RetinaNet, FCOS and SSD).

use super::nms::{suppress, Scratch};
use super::{check_boxes, check_values, clip, Box4, BoxCoder, BoxLinearCoder, DetectError};

/// One image's detections, in decreasing score order: `boxes[i]` (`xyxy`, in the image, clipped
/// to it), `scores[i]` and `labels[i]`, as torchvision's `{"boxes", "scores", "labels"}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Detection {
    pub boxes: Vec<Box4>,
    pub scores: Vec<f32>,
    pub labels: Vec<usize>,
}

/// One feature level's head outputs for one image and its anchors: `cls_logits` is
/// `[anchors, classes]` (per anchor, a logit per class), `bbox_regression` `[anchors, 4]`
/// (codes against `anchors`), and for FCOS `bbox_ctrness` `[anchors]` (a centre-ness logit per
/// anchor), as torchvision's heads give them after their permute and reshape.
#[derive(Clone, Copy, Debug)]
pub struct LevelOutputs<'a> {
    pub cls_logits: &'a [f32],
    pub bbox_regression: &'a [f32],
    pub bbox_ctrness: Option<&'a [f32]>,
    pub anchors: &'a [Box4],
}

/// How a detector's class logits become scores, and which candidates compete for its top-k.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scoring {
    /// A sigmoid per class (times FCOS's centre-ness where given); the top-k over each level's
    /// (anchor, class) pairs (RetinaNet, FCOS).
    Sigmoid,
    /// A softmax over the classes, class 0 the background and never detected; the top-k per
    /// class over all levels' anchors (SSD).
    Softmax,
}

/// How a detector's regression codes become boxes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decoder {
    /// Centre offsets and log-scales (RetinaNet, Faster R-CNN, SSD).
    Box(BoxCoder),
    /// Distances to the edges (FCOS).
    Linear(BoxLinearCoder),
}

/// A single-stage detector's post-processing, per image (`postprocess_detections` of
/// torchvision's RetinaNet, FCOS and SSD). RetinaNet and FCOS ([`Scoring::Sigmoid`]): at each level, the class scores above `score_thresh`
/// (sigmoids of the logits; for FCOS the square root of that times the centre-ness's sigmoid),
/// the `topk_candidates` best of them (decreasing, ties by index), their boxes decoded from
/// their anchors and clipped to the image; then, over all levels, NMS per class at
/// `nms_thresh`, and the `detections_per_img` best. SSD ([`Scoring::Softmax`]): every anchor's
/// box decoded and clipped, its softmax over the classes, then per class but the background
/// the scores above `score_thresh` and their `topk_candidates` best, then the same NMS and cut.
/// Its buffers are kept, so a warm call with
/// bounded sizes allocates nothing (the [`Detection`] written into keeps its own).
///
/// ```
/// use cnn::detect::{Detection, LevelOutputs, Postprocess};
///
/// let anchors = [[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 15.0]];
/// // Two anchors, two classes: anchor 0 is class 1 (logit 3), anchor 1 nothing.
/// let logits = [-4.0, 3.0, -4.0, -4.0];
/// let codes = [0.0; 8];
/// let mut post = Postprocess::retinanet();
/// let mut out = Detection::default();
/// let level = LevelOutputs { cls_logits: &logits, bbox_regression: &codes, bbox_ctrness: None, anchors: &anchors };
/// post.detect_into(&[level], 2, (20, 20), &mut out).unwrap();
/// assert_eq!((out.boxes, out.labels), (vec![[0.0, 0.0, 10.0, 10.0]], vec![1]));
/// ```
#[derive(Clone, Debug)]
pub struct Postprocess {
    pub score_thresh: f32,
    pub nms_thresh: f32,
    pub detections_per_img: usize,
    pub topk_candidates: usize,
    pub decoder: Decoder,
    pub scoring: Scoring,
    candidates: Vec<(usize, f32)>,
    /// SSD: every level's boxes, decoded and clipped, and their class probabilities.
    all_boxes: Vec<Box4>,
    probabilities: Vec<f32>,
    boxes: Vec<Box4>,
    scores: Vec<f32>,
    labels: Vec<usize>,
    nms: Scratch,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Decoder {
    fn decode_one(&self, code: &[f32; 4], reference: &Box4) -> Box4 {
        match self {
            Decoder::Box(coder) => coder.decode_one(code, reference),
            Decoder::Linear(coder) => coder.decode_one(code, reference),
        }
    }
}

impl Postprocess {
    /// A post-processing with these settings.
    pub fn new(
        score_thresh: f32,
        nms_thresh: f32,
        detections_per_img: usize,
        topk_candidates: usize,
        decoder: Decoder,
    ) -> Self {
        Postprocess {
            score_thresh,
            nms_thresh,
            detections_per_img,
            topk_candidates,
            decoder,
            scoring: Scoring::Sigmoid,
            candidates: Vec::new(),
            all_boxes: Vec::new(),
            probabilities: Vec::new(),
            boxes: Vec::new(),
            scores: Vec::new(),
            labels: Vec::new(),
            nms: Scratch::default(),
        }
    }

    /// torchvision's RetinaNet: `score_thresh=0.05`, `nms_thresh=0.5`, `detections_per_img=300`,
    /// `topk_candidates=1000`, `BoxCoder` weights `(1, 1, 1, 1)`.
    pub fn retinanet() -> Self {
        Self::new(0.05, 0.5, 300, 1000, Decoder::Box(BoxCoder::new([1.0, 1.0, 1.0, 1.0])))
    }

    /// torchvision's SSD300: `score_thresh=0.01`, `nms_thresh=0.45`, `detections_per_img=200`,
    /// `topk_candidates=400`, `BoxCoder` weights `(10, 10, 5, 5)`, softmax scores (SSDlite320
    /// sets `0.001`, `0.55`, `300`, `300`).
    pub fn ssd() -> Self {
        let mut p = Self::new(0.01, 0.45, 200, 400, Decoder::Box(BoxCoder::new([10.0, 10.0, 5.0, 5.0])));
        p.scoring = Scoring::Softmax;
        p
    }

    /// torchvision's SSDlite320: SSD's post-processing with `score_thresh=0.001`,
    /// `nms_thresh=0.55`, `detections_per_img=300`, `topk_candidates=300`.
    pub fn ssdlite() -> Self {
        let mut p = Self::ssd();
        (p.score_thresh, p.nms_thresh, p.detections_per_img, p.topk_candidates) = (0.001, 0.55, 300, 300);
        p
    }

    /// torchvision's FCOS: `score_thresh=0.2`, `nms_thresh=0.6`, `detections_per_img=100`,
    /// `topk_candidates=1000`, `BoxLinearCoder(normalize_by_size=True)`.
    pub fn fcos() -> Self {
        Self::new(0.2, 0.6, 100, 1000, Decoder::Linear(BoxLinearCoder { normalize_by_size: true }))
    }

    /// The detections of one image of `image_size` (`(height, width)`) from its `levels`, with
    /// `num_classes` logits per anchor, written into `out` (its buffers reused).
    ///
    /// # Errors
    /// A level whose lengths disagree with its anchors and `num_classes`, a logit or code that
    /// is not finite, or an anchor that is not `xyxy`.
    pub fn detect_into(
        &mut self,
        levels: &[LevelOutputs<'_>],
        num_classes: usize,
        image_size: (usize, usize),
        out: &mut Detection,
    ) -> Result<(), DetectError> {
        self.boxes.clear();
        self.scores.clear();
        self.labels.clear();
        self.all_boxes.clear();
        self.probabilities.clear();
        let (h, w) = (image_size.0 as f32, image_size.1 as f32);
        for level in levels {
            let n = level.anchors.len();
            let lists = [
                Some(("cls_logits", level.cls_logits, n * num_classes)),
                Some(("bbox_regression", level.bbox_regression, n * 4)),
                level.bbox_ctrness.map(|c| ("bbox_ctrness", c, n)),
            ];
            for (what, values, expected) in lists.into_iter().flatten() {
                check_values(what, values, expected)?;
            }
            check_boxes("anchors", level.anchors, true)?;
            if self.scoring == Scoring::Softmax {
                // Every anchor's box and class probabilities; the classes compete below.
                for (a, (logits, c)) in
                    level.cls_logits.chunks_exact(num_classes).zip(level.bbox_regression.chunks_exact(4)).enumerate()
                {
                    let b = self.decoder.decode_one(&[c[0], c[1], c[2], c[3]], &level.anchors[a]);
                    self.all_boxes.push(clip(b, w, h));
                    softmax_into(logits, &mut self.probabilities);
                }
                continue;
            }
            self.candidates.clear();
            for (i, &logit) in level.cls_logits.iter().enumerate() {
                let score = match level.bbox_ctrness {
                    Some(c) => (sigmoid(logit) * sigmoid(c[i / num_classes])).sqrt(),
                    None => sigmoid(logit),
                };
                if score > self.score_thresh {
                    self.candidates.push((i, score));
                }
            }
            // The best `topk_candidates`, decreasing (ties by index); an in-place sort.
            self.candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            self.candidates.truncate(self.topk_candidates);
            for &(i, score) in &self.candidates {
                let (anchor, label) = (i / num_classes, i % num_classes);
                let c = &level.bbox_regression[anchor * 4..anchor * 4 + 4];
                let b = self.decoder.decode_one(&[c[0], c[1], c[2], c[3]], &level.anchors[anchor]);
                self.boxes.push(clip(b, w, h));
                self.scores.push(score);
                self.labels.push(label);
            }
        }
        if self.scoring == Scoring::Softmax {
            // Per class but the background, over all anchors: the scores above the threshold,
            // the top-k of them (decreasing, ties by anchor), in class order.
            for label in 1..num_classes {
                self.candidates.clear();
                for (a, p) in self.probabilities.chunks_exact(num_classes).enumerate() {
                    if p[label] > self.score_thresh {
                        self.candidates.push((a, p[label]));
                    }
                }
                self.candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                self.candidates.truncate(self.topk_candidates);
                for &(a, score) in &self.candidates {
                    self.boxes.push(self.all_boxes[a]);
                    self.scores.push(score);
                    self.labels.push(label);
                }
            }
        }
        if self.nms_thresh.is_nan() {
            return Err(DetectError::NanThreshold);
        }
        suppress(&self.boxes, &self.scores, Some(&self.labels), self.nms_thresh, &mut self.nms);
        out.keep(&self.boxes, &self.scores, &self.labels, &self.nms.keep, self.detections_per_img);
        Ok(())
    }
}

impl Detection {
    /// The candidates `keep` names (NMS's survivors, best first), at most `limit` of them, in
    /// place of what the detection held (its buffers reused).
    pub(super) fn keep(&mut self, boxes: &[Box4], scores: &[f32], labels: &[usize], keep: &[usize], limit: usize) {
        self.boxes.clear();
        self.scores.clear();
        self.labels.clear();
        for &k in keep.iter().take(limit) {
            self.boxes.push(boxes[k]);
            self.scores.push(scores[k]);
            self.labels.push(labels[k]);
        }
    }
}

/// `logits`' softmax appended to `out`, as PyTorch's CPU softmax computes it: the exponentials of
/// the logits less their maximum, times the reciprocal of their sum.
pub(super) fn softmax_into(logits: &[f32], out: &mut Vec<f32>) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let start = out.len();
    out.extend(logits.iter().map(|&l| (l - max).exp()));
    let inv = 1.0 / out[start..].iter().sum::<f32>();
    out[start..].iter_mut().for_each(|p| *p *= inv);
}

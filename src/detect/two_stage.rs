//! The post-processing of a two-stage detector (Faster R-CNN) around its networks: the region
//! proposals from the RPN head's outputs (`RegionProposalNetwork.filter_proposals` in eval mode)
//! and the detections from the box head's outputs on the pooled proposals
//! (`RoIHeads.postprocess_detections`), with torchvision's settings and order.

use super::nms::{suppress, Scratch};
use super::postprocess::{softmax_into, Detection};
use super::{check_boxes, check_values, clip, Box4, BoxCoder, DetectError};

/// One feature level's RPN head outputs for one image: an objectness logit per anchor
/// (`[anchors]`, torchvision's `[H * W * A]` order), box deltas (`[anchors, 4]`) and the anchors.
#[derive(Clone, Copy, Debug)]
pub struct RpnLevel<'a> {
    pub objectness: &'a [f32],
    pub bbox_deltas: &'a [f32],
    pub anchors: &'a [Box4],
}

/// One image's region proposals, in decreasing objectness: `boxes[i]` (`xyxy`, clipped to the
/// image) and `scores[i]` (the objectness's sigmoid).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Proposals {
    pub boxes: Vec<Box4>,
    pub scores: Vec<f32>,
}

/// torchvision's `RegionProposalNetwork` after its head, in eval mode: at each level the
/// `pre_nms_top_n` anchors of highest objectness (decreasing, ties by index), their boxes
/// decoded (`BoxCoder` weights `(1, 1, 1, 1)`) and clipped to the image, those narrower or
/// lower than `min_size` and those whose objectness's sigmoid is under `score_thresh` dropped,
/// then NMS within each level at `nms_thresh` and the `post_nms_top_n` best over all levels.
/// Its buffers are kept: a warm call allocates nothing.
///
/// ```
/// use cnn::detect::{Proposals, RegionProposals, RpnLevel};
///
/// let anchors = [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0]];
/// let level = RpnLevel { objectness: &[2.0, 1.0, -1.0], bbox_deltas: &[0.0; 12], anchors: &anchors };
/// let mut out = Proposals::default();
/// RegionProposals::faster_rcnn().proposals_into(&[level], (32, 32), &mut out).unwrap();
/// // The second box overlaps the first (IoU 0.68 < 0.7): all three remain, best first.
/// assert_eq!(out.boxes, anchors.to_vec());
/// ```
#[derive(Clone, Debug)]
pub struct RegionProposals {
    pub pre_nms_top_n: usize,
    pub post_nms_top_n: usize,
    pub nms_thresh: f32,
    pub score_thresh: f32,
    pub min_size: f32,
    coder: BoxCoder,
    candidates: Vec<(usize, f32)>,
    boxes: Vec<Box4>,
    scores: Vec<f32>,
    levels: Vec<usize>,
    nms: Scratch,
}

impl RegionProposals {
    /// Proposals with these settings.
    pub fn new(pre_nms_top_n: usize, post_nms_top_n: usize, nms_thresh: f32, score_thresh: f32, min_size: f32) -> Self {
        RegionProposals {
            pre_nms_top_n,
            post_nms_top_n,
            nms_thresh,
            score_thresh,
            min_size,
            coder: BoxCoder::new([1.0, 1.0, 1.0, 1.0]),
            candidates: Vec::new(),
            boxes: Vec::new(),
            scores: Vec::new(),
            levels: Vec::new(),
            nms: Scratch::default(),
        }
    }

    /// torchvision's `FasterRCNN` at test time: `rpn_pre_nms_top_n_test=1000`,
    /// `rpn_post_nms_top_n_test=1000`, `rpn_nms_thresh=0.7`, `rpn_score_thresh=0.0`, and its
    /// `min_size` of `1e-3`. (`fasterrcnn_mobilenet_v3_large_fpn` sets `score_thresh` 0.05.)
    pub fn faster_rcnn() -> Self {
        Self::new(1000, 1000, 0.7, 0.0, 1e-3)
    }

    /// The proposals of one image of `image_size` (`(height, width)`) from its `levels`, written
    /// into `out` (its buffers reused).
    ///
    /// # Errors
    /// A level whose lengths disagree with its anchors, a value that is not finite, an anchor
    /// that is not `xyxy`, a NaN threshold.
    pub fn proposals_into(
        &mut self,
        levels: &[RpnLevel<'_>],
        image_size: (usize, usize),
        out: &mut Proposals,
    ) -> Result<(), DetectError> {
        if self.nms_thresh.is_nan() {
            return Err(DetectError::NanThreshold);
        }
        self.boxes.clear();
        self.scores.clear();
        self.levels.clear();
        let (h, w) = (image_size.0 as f32, image_size.1 as f32);
        for (l, level) in levels.iter().enumerate() {
            let n = level.anchors.len();
            for (what, values, expected) in
                [("objectness", level.objectness, n), ("bbox_deltas", level.bbox_deltas, n * 4)]
            {
                check_values(what, values, expected)?;
            }
            check_boxes("anchors", level.anchors, true)?;
            // The level's best `pre_nms_top_n` by logit (decreasing, ties by index).
            self.candidates.clear();
            self.candidates.extend(level.objectness.iter().copied().enumerate());
            self.candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            self.candidates.truncate(self.pre_nms_top_n);
            for &(a, logit) in &self.candidates {
                let d = &level.bbox_deltas[a * 4..a * 4 + 4];
                let b = self.coder.decode_one(&[d[0], d[1], d[2], d[3]], &level.anchors[a]);
                let b = clip(b, w, h);
                let score = 1.0 / (1.0 + (-logit).exp());
                // `remove_small_boxes`, then `scores >= score_thresh`.
                if b[2] - b[0] >= self.min_size && b[3] - b[1] >= self.min_size && score >= self.score_thresh {
                    self.boxes.push(b);
                    self.scores.push(score);
                    self.levels.push(l);
                }
            }
        }
        suppress(&self.boxes, &self.scores, Some(&self.levels), self.nms_thresh, &mut self.nms);
        out.boxes.clear();
        out.scores.clear();
        for &k in self.nms.keep.iter().take(self.post_nms_top_n) {
            out.boxes.push(self.boxes[k]);
            out.scores.push(self.scores[k]);
        }
        Ok(())
    }
}

/// torchvision's `RoIHeads.postprocess_detections` (Faster R-CNN's box head after its
/// predictor): for each proposal the classes' softmax and a box per class decoded against it
/// (`BoxCoder` weights `(10, 10, 5, 5)`), clipped to the image; the background (class 0)
/// dropped, then every (proposal, class) pair above `score_thresh` and at least `1e-2` wide and
/// high, NMS per class at `nms_thresh`, and the `detections_per_img` best. Its buffers are
/// kept: a warm call allocates nothing.
#[derive(Clone, Debug)]
pub struct RoiHeadsPostprocess {
    pub score_thresh: f32,
    pub nms_thresh: f32,
    pub detections_per_img: usize,
    coder: BoxCoder,
    probabilities: Vec<f32>,
    boxes: Vec<Box4>,
    scores: Vec<f32>,
    labels: Vec<usize>,
    nms: Scratch,
}

impl RoiHeadsPostprocess {
    /// A post-processing with these settings.
    pub fn new(score_thresh: f32, nms_thresh: f32, detections_per_img: usize) -> Self {
        RoiHeadsPostprocess {
            score_thresh,
            nms_thresh,
            detections_per_img,
            coder: BoxCoder::new([10.0, 10.0, 5.0, 5.0]),
            probabilities: Vec::new(),
            boxes: Vec::new(),
            scores: Vec::new(),
            labels: Vec::new(),
            nms: Scratch::default(),
        }
    }

    /// torchvision's `FasterRCNN`: `box_score_thresh=0.05`, `box_nms_thresh=0.5`,
    /// `box_detections_per_img=100`.
    pub fn faster_rcnn() -> Self {
        Self::new(0.05, 0.5, 100)
    }

    /// The detections of one image of `image_size` (`(height, width)`) from the box head's
    /// `class_logits` (`[proposals, num_classes]`) and `box_regression` (`[proposals,
    /// num_classes, 4]`) on its `proposals`, written into `out` (its buffers reused).
    ///
    /// # Errors
    /// Lengths that disagree with the proposals and `num_classes`, a value that is not finite,
    /// a proposal that is not `xyxy`, a NaN threshold.
    pub fn detect_into(
        &mut self,
        class_logits: &[f32],
        box_regression: &[f32],
        proposals: &[Box4],
        num_classes: usize,
        image_size: (usize, usize),
        out: &mut Detection,
    ) -> Result<(), DetectError> {
        if self.nms_thresh.is_nan() {
            return Err(DetectError::NanThreshold);
        }
        let n = proposals.len();
        check_values("class_logits", class_logits, n * num_classes)?;
        check_values("box_regression", box_regression, n * num_classes * 4)?;
        check_boxes("proposals", proposals, true)?;
        self.boxes.clear();
        self.scores.clear();
        self.labels.clear();
        let (h, w) = (image_size.0 as f32, image_size.1 as f32);
        for (p, logits) in class_logits.chunks_exact(num_classes.max(1)).enumerate() {
            self.probabilities.clear();
            softmax_into(logits, &mut self.probabilities);
            for label in 1..num_classes {
                let score = self.probabilities[label];
                if score <= self.score_thresh {
                    continue;
                }
                let d = &box_regression[(p * num_classes + label) * 4..][..4];
                let b = clip(self.coder.decode_one(&[d[0], d[1], d[2], d[3]], &proposals[p]), w, h);
                if b[2] - b[0] >= 1e-2 && b[3] - b[1] >= 1e-2 {
                    self.boxes.push(b);
                    self.scores.push(score);
                    self.labels.push(label);
                }
            }
        }
        suppress(&self.boxes, &self.scores, Some(&self.labels), self.nms_thresh, &mut self.nms);
        out.keep(&self.boxes, &self.scores, &self.labels, &self.nms.keep, self.detections_per_img);
        Ok(())
    }
}

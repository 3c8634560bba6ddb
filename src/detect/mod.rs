//! Object detection's box operations, with `torchvision.ops`' names and semantics: boxes as
//! `[x1, y1, x2, y2]` (`xyxy`, corners, `x2 >= x1`, `y2 >= y1`) unless a format says otherwise.
//!
//! | `cnn::detect` | torchvision |
//! |---|---|
//! | [`box_area`] | `torchvision.ops.box_area` |
//! | [`box_convert`] | `torchvision.ops.box_convert(boxes, in_fmt, out_fmt)` |
//! | [`box_iou`] | `torchvision.ops.box_iou` |
//! | [`generalized_box_iou`] | `torchvision.ops.generalized_box_iou` |
//! | [`nms`], [`try_nms`] | `torchvision.ops.nms` |
//! | [`batched_nms`], [`try_batched_nms`] | `torchvision.ops.batched_nms` |
//! | [`AnchorGenerator`] | `torchvision.models.detection.anchor_utils.AnchorGenerator` |
//! | [`DefaultBoxGenerator`] | `torchvision.models.detection.anchor_utils.DefaultBoxGenerator` (SSD) |
//! | [`BoxCoder`] `encode` / `decode` | `torchvision.models.detection._utils.BoxCoder` `encode_single` / `decode_single` |
//! | [`BoxLinearCoder`] `encode` / `decode` | `torchvision.models.detection._utils.BoxLinearCoder` (FCOS) |
//! | [`Matcher`] `assign` | `torchvision.models.detection._utils.Matcher.__call__` |
//! | [`roi_align`], [`roi_align_into`] | `torchvision.ops.roi_align` (forward) |
//! | [`MultiScaleRoiAlign`] `pool` | `torchvision.ops.MultiScaleRoIAlign` (forward) |
//! | [`Postprocess`] `detect_into` | `postprocess_detections` of `RetinaNet`, `FCOS`, `SSD` (one image) |
//! | [`normalize_and_resize`], [`resized_size`], [`resize_boxes`] | `GeneralizedRCNNTransform` (eval: normalize, resize; `postprocess`'s box mapping) |
//! | [`sigmoid_focal_loss`] | `torchvision.ops.sigmoid_focal_loss(..., reduction="sum")` |
//! | [`smooth_l1_loss`] | `F.smooth_l1_loss(..., reduction="sum")` |
//! | [`generalized_box_iou_loss`] | `torchvision.ops.generalized_box_iou_loss(..., reduction="sum")` |
//!
//! Bad input (a box with a NaN or infinite coordinate, `x2 < x1` where corners are required, a
//! score or class list of another length) is a [`DetectError`] naming the box and its numbers;
//! [`nms`] and [`batched_nms`] keep torchvision's signatures and panic with that message, their
//! `try_` forms return it.
//!
//! ```
//! use cnn::detect::{box_iou, nms};
//!
//! let boxes = [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0]];
//! let scores = [0.9, 0.8, 0.7];
//! // The second box overlaps the first by 81 / 119 of their union: suppressed at 0.5.
//! assert_eq!(nms(&boxes, &scores, 0.5), vec![0, 2]);
//! let iou = box_iou(&boxes[..1], &boxes).unwrap();
//! assert!((iou[0][1] - 81.0 / 119.0).abs() < 1e-6);
//! ```

mod anchors;
mod boxes;
mod coder;
mod loss;
mod matcher;
mod nms;
mod postprocess;
mod roi_align;
mod transform;
mod two_stage;

pub use anchors::{AnchorGenerator, DefaultBoxGenerator};
pub use boxes::{box_area, box_convert, box_iou, generalized_box_iou, BoxFormat};
pub use coder::{BoxCoder, BoxLinearCoder, BBOX_XFORM_CLIP};
pub use loss::{generalized_box_iou_loss, sigmoid_focal_loss, smooth_l1_loss};
pub use matcher::{Match, Matcher};
pub use nms::{batched_nms, nms, try_batched_nms, try_nms};
pub use postprocess::{Decoder, Detection, LevelOutputs, Postprocess, Scoring};
pub use roi_align::{roi_align, roi_align_backward, roi_align_into, FeatureLevel, MultiScaleRoiAlign, RoiAlign};
pub use transform::{normalize_and_resize, resize_boxes, resized_size};
pub use two_stage::{Proposals, RegionProposals, RoiHeadsPostprocess, RpnLevel};

use std::fmt;

/// A box as the four numbers written.
pub type Box4 = [f32; 4];

/// What is wrong with the input of a box operation.
#[derive(Clone, Debug, PartialEq)]
pub enum DetectError {
    /// A box with a NaN or infinite coordinate: which list, its index, the box.
    NotFinite { what: &'static str, index: usize, value: Box4 },
    /// A box whose corners are the wrong way round (`x2 < x1` or `y2 < y1`).
    Inverted { what: &'static str, index: usize, value: Box4 },
    /// A value that is NaN or infinite in a list of numbers: which list, the index, the value.
    NotFiniteValue { what: &'static str, index: usize, value: f32 },
    /// A list whose length differs from the boxes'.
    Length { what: &'static str, expected: usize, found: usize },
    /// A score that is NaN.
    NanScore { index: usize },
    /// An IoU threshold that is NaN.
    NanThreshold,
    /// A NaN in a matcher's quality matrix: its row (ground truth) and column (prediction).
    NanQuality { gt: usize, prediction: usize },
    /// An anchor size or aspect ratio that is not a positive finite number, at its level.
    AnchorValue { level: usize, value: f32 },
    /// A default-box scale, aspect ratio or step that is not a positive finite number.
    DefaultBoxValue { value: f32 },
    /// A feature map that is empty or larger than the image, at its level.
    FeatureSize { level: usize, size: (usize, usize), image: (usize, usize) },
    /// A region's batch index that is not an integer below the batch size.
    BatchIndex { index: usize, value: f32, batch: usize },
    /// Nothing to work on where something is needed (a matcher without ground truth).
    Empty { what: &'static str },
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::NotFinite { what, index, value } => {
                write!(f, "{what}[{index}] = {value:?} has a coordinate that is not finite")
            }
            DetectError::Inverted { what, index, value } => write!(
                f,
                "{what}[{index}] = {value:?} is not [x1, y1, x2, y2] with x2 >= x1 and y2 >= y1 (convert other formats \
                 with box_convert)"
            ),
            DetectError::NotFiniteValue { what, index, value } => write!(f, "{what}[{index}] is {value}"),
            DetectError::Length { what, expected, found } => {
                write!(f, "{what} has {found} entries where {expected} are expected")
            }
            DetectError::NanScore { index } => write!(f, "scores[{index}] is NaN"),
            DetectError::NanThreshold => write!(f, "the IoU threshold is NaN"),
            DetectError::NanQuality { gt, prediction } => write!(f, "quality[{gt}][{prediction}] is NaN"),
            DetectError::AnchorValue { level, value } => {
                write!(f, "anchor sizes and aspect ratios are positive numbers; level {level} has {value}")
            }
            DetectError::DefaultBoxValue { value } => {
                write!(f, "default-box scales, aspect ratios and steps are positive numbers, not {value}")
            }
            DetectError::FeatureSize { level, size, image } => write!(
                f,
                "feature map {level} is {}x{}, which is empty or larger than the {}x{} image",
                size.0, size.1, image.0, image.1
            ),
            DetectError::BatchIndex { index, value, batch } => {
                write!(f, "boxes[{index}] has batch index {value}, not an integer below the batch of {batch}")
            }
            DetectError::Empty { what } => write!(f, "there are no {what}"),
        }
    }
}

impl std::error::Error for DetectError {}

/// `values` holds `expected` finite numbers.
fn check_values(what: &'static str, values: &[f32], expected: usize) -> Result<(), DetectError> {
    if values.len() != expected {
        return Err(DetectError::Length { what, expected, found: values.len() });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(DetectError::NotFiniteValue { what, index, value: values[index] }),
        None => Ok(()),
    }
}

/// A box clipped to an image `w` wide and `h` high (`box_ops.clip_boxes_to_image`).
fn clip(b: Box4, w: f32, h: f32) -> Box4 {
    [b[0].clamp(0.0, w), b[1].clamp(0.0, h), b[2].clamp(0.0, w), b[3].clamp(0.0, h)]
}

/// Every box finite, and with `corners` in `xyxy` order.
fn check_boxes(what: &'static str, boxes: &[Box4], corners: bool) -> Result<(), DetectError> {
    for (index, &value) in boxes.iter().enumerate() {
        if value.iter().any(|v| !v.is_finite()) {
            return Err(DetectError::NotFinite { what, index, value });
        }
        if corners && (value[2] < value[0] || value[3] < value[1]) {
            return Err(DetectError::Inverted { what, index, value });
        }
    }
    Ok(())
}

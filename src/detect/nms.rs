//! Non-maximum suppression (`torchvision.ops.nms` and `batched_nms`).

use super::{check_boxes, Box4, DetectError};

/// The indices of the boxes `nms` keeps, in decreasing score order: a box is dropped when its
/// IoU with a kept box of higher score is above `iou_threshold`. Equal scores keep the boxes'
/// order (torchvision sorts stably); the IoU is torchvision's, in f32.
///
/// # Panics
/// On bad input, with [`try_nms`]'s error: a box not finite or not `[x1, y1, x2, y2]`, another
/// number of scores than boxes, a NaN score or threshold.
#[track_caller]
pub fn nms(boxes: &[Box4], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    try_nms(boxes, scores, iou_threshold).unwrap_or_else(|e| panic!("nms: {e}"))
}

/// [`nms`], with bad input as an error.
///
/// # Errors
/// See [`nms`].
pub fn try_nms(boxes: &[Box4], scores: &[f32], iou_threshold: f32) -> Result<Vec<usize>, DetectError> {
    validate(boxes, scores, iou_threshold)?;
    let mut scratch = Scratch::default();
    suppress(boxes, scores, None, iou_threshold, &mut scratch);
    Ok(scratch.keep)
}

/// [`nms`] within each class: boxes of different `classes` never suppress each other. The kept
/// indices are in decreasing score order (equal scores in the boxes' order), as torchvision's.
///
/// # Panics
/// On bad input, with [`try_batched_nms`]'s error.
#[track_caller]
pub fn batched_nms(boxes: &[Box4], scores: &[f32], classes: &[usize], iou_threshold: f32) -> Vec<usize> {
    try_batched_nms(boxes, scores, classes, iou_threshold).unwrap_or_else(|e| panic!("batched_nms: {e}"))
}

/// [`batched_nms`], with bad input as an error.
///
/// # Errors
/// See [`nms`]; also another number of classes than boxes.
pub fn try_batched_nms(
    boxes: &[Box4],
    scores: &[f32],
    classes: &[usize],
    iou_threshold: f32,
) -> Result<Vec<usize>, DetectError> {
    if classes.len() != boxes.len() {
        return Err(DetectError::Length { what: "classes", expected: boxes.len(), found: classes.len() });
    }
    validate(boxes, scores, iou_threshold)?;
    let mut scratch = Scratch::default();
    suppress(boxes, scores, Some(classes), iou_threshold, &mut scratch);
    Ok(scratch.keep)
}

/// The buffers of a suppression, kept by callers that run many (post-processing per image), so
/// that a warm one allocates nothing; `keep` is its result.
#[derive(Clone, Debug, Default)]
pub(super) struct Scratch {
    order: Vec<usize>,
    areas: Vec<f32>,
    suppressed: Vec<bool>,
    pub(super) keep: Vec<usize>,
}

/// The checks of the public NMS: `xyxy` finite boxes, one score each, no NaN.
fn validate(boxes: &[Box4], scores: &[f32], iou_threshold: f32) -> Result<(), DetectError> {
    check_boxes("boxes", boxes, true)?;
    if scores.len() != boxes.len() {
        return Err(DetectError::Length { what: "scores", expected: boxes.len(), found: scores.len() });
    }
    if let Some(index) = scores.iter().position(|s| s.is_nan()) {
        return Err(DetectError::NanScore { index });
    }
    if iou_threshold.is_nan() {
        return Err(DetectError::NanThreshold);
    }
    Ok(())
}

/// Greedy suppression in decreasing score order, within a class where `classes` is given; the
/// kept indices in `scratch.keep`. Boxes whose corners are the wrong way round (a detector's
/// decoded predictions can be) take part as torchvision's kernel takes them, by the same formula.
pub(super) fn suppress(
    boxes: &[Box4],
    scores: &[f32],
    classes: Option<&[usize]>,
    iou_threshold: f32,
    scratch: &mut Scratch,
) {
    let Scratch { order, areas, suppressed, keep } = scratch;
    order.clear();
    order.extend(0..boxes.len());
    // Equal scores keep the boxes' order, as torchvision's `sort(stable=True)`; the index
    // breaks ties, so the in-place (allocation-free) sort gives the stable order.
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    areas.clear();
    areas.extend(boxes.iter().map(|b| (b[2] - b[0]) * (b[3] - b[1])));
    suppressed.clear();
    suppressed.resize(boxes.len(), false);
    keep.clear();
    for (k, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let a = &boxes[i];
        for &j in &order[k + 1..] {
            if suppressed[j] || classes.is_some_and(|c| c[j] != c[i]) {
                continue;
            }
            let b = &boxes[j];
            let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
            let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
            let inter = w * h;
            // torchvision compares the f32 IoU with the threshold as a double.
            if f64::from(inter / (areas[i] + areas[j] - inter)) > f64::from(iou_threshold) {
                suppressed[j] = true;
            }
        }
    }
}

//! The losses of detectors, summed, each with its gradient: `torchvision.ops.sigmoid_focal_loss`
//! (RetinaNet, FCOS), `F.smooth_l1_loss` (Faster R-CNN, SSD) and
//! `torchvision.ops.generalized_box_iou_loss` (FCOS), all with `reduction="sum"`; divide the
//! loss and the gradient by a count for a mean. Sums and intermediate values are f64.

use super::{check_boxes, Box4, DetectError};

fn same_length(what: &'static str, expected: usize, found: usize) -> Result<(), DetectError> {
    if expected == found {
        Ok(())
    } else {
        Err(DetectError::Length { what, expected, found })
    }
}

/// `torchvision.ops.sigmoid_focal_loss(inputs, targets, alpha, gamma, reduction="sum")` (Lin et
/// al. 2017): binary cross-entropy of the logits `inputs` against `targets` (in `[0, 1]`),
/// weighted by `(1 - p_t)^gamma` and, for `alpha >= 0`, by `alpha` for positives and
/// `1 - alpha` for negatives. Writes d(loss)/d(inputs) to `grad` and returns the loss.
/// RetinaNet uses `alpha = 0.25`, `gamma = 2`.
///
/// ```
/// use cnn::detect::sigmoid_focal_loss;
///
/// let mut grad = [0.0; 2];
/// let loss = sigmoid_focal_loss(&[2.0, -1.0], &[1.0, 0.0], 0.25, 2.0, &mut grad).unwrap();
/// assert!(loss > 0.0 && grad[0] < 0.0 && grad[1] > 0.0);
/// ```
///
/// # Errors
/// `targets` or `grad` of another length than `inputs`.
pub fn sigmoid_focal_loss(
    inputs: &[f32],
    targets: &[f32],
    alpha: f32,
    gamma: f32,
    grad: &mut [f32],
) -> Result<f32, DetectError> {
    same_length("targets", inputs.len(), targets.len())?;
    same_length("grad", inputs.len(), grad.len())?;
    let (alpha, gamma) = (f64::from(alpha), f64::from(gamma));
    let mut total = 0.0f64;
    for ((&x, &t), g) in inputs.iter().zip(targets).zip(grad.iter_mut()) {
        let (x, t) = (f64::from(x), f64::from(t));
        let p = 1.0 / (1.0 + (-x).exp());
        // BCE with logits, stable for large |x|.
        let ce = x.max(0.0) - x * t + (-x.abs()).exp().ln_1p();
        let p_t = p * t + (1.0 - p) * (1.0 - t);
        let q = 1.0 - p_t;
        let weight = if alpha >= 0.0 { alpha * t + (1.0 - alpha) * (1.0 - t) } else { 1.0 };
        let modulator = q.powf(gamma);
        total += weight * ce * modulator;
        // d(p_t)/dx = p (1 - p) (2t - 1); d(q^gamma)/dx = -gamma q^(gamma - 1) d(p_t)/dx.
        let d_modulator =
            if gamma == 0.0 { 0.0 } else { -gamma * q.powf(gamma - 1.0) * p * (1.0 - p) * (2.0 * t - 1.0) };
        *g = (weight * ((p - t) * modulator + ce * d_modulator)) as f32;
    }
    Ok(total as f32)
}

/// `F.smooth_l1_loss(input, target, beta=beta, reduction="sum")`: `0.5 d² / beta` where
/// `|d| < beta`, else `|d| - 0.5 beta` (`beta = 0` is the L1 loss). Writes d(loss)/d(input) to
/// `grad` and returns the loss. Faster R-CNN's box head uses `beta = 1 / 9`.
///
/// # Errors
/// `target` or `grad` of another length than `input`.
pub fn smooth_l1_loss(input: &[f32], target: &[f32], beta: f32, grad: &mut [f32]) -> Result<f32, DetectError> {
    same_length("target", input.len(), target.len())?;
    same_length("grad", input.len(), grad.len())?;
    let beta = f64::from(beta);
    let mut total = 0.0f64;
    for ((&x, &y), g) in input.iter().zip(target).zip(grad.iter_mut()) {
        let d = f64::from(x) - f64::from(y);
        if d.abs() < beta {
            total += 0.5 * d * d / beta;
            *g = (d / beta) as f32;
        } else {
            total += d.abs() - 0.5 * beta;
            // PyTorch's sign: 0 at d = 0 (only reached with beta = 0).
            *g = if d > 0.0 {
                1.0
            } else if d < 0.0 {
                -1.0
            } else {
                0.0
            };
        }
    }
    Ok(total as f32)
}

/// `torchvision.ops.generalized_box_iou_loss(boxes1, boxes2, reduction="sum", eps)`: `1 - GIoU`
/// of each pair `boxes1[i]`, `boxes2[i]` (predictions and their targets). Writes
/// d(loss)/d(boxes1) to `grad` and returns the loss. FCOS uses `eps = 1e-7`, torchvision's
/// default. Where two coordinates are equal, PyTorch's `min`/`max` give each half the gradient;
/// here the prediction's side takes it whole or not at all, as for any other input.
///
/// # Errors
/// Lists of different lengths, or a box not finite or not `xyxy`.
pub fn generalized_box_iou_loss(
    boxes1: &[Box4],
    boxes2: &[Box4],
    eps: f32,
    grad: &mut [Box4],
) -> Result<f32, DetectError> {
    check_boxes("boxes1", boxes1, true)?;
    check_boxes("boxes2", boxes2, true)?;
    same_length("boxes2", boxes1.len(), boxes2.len())?;
    same_length("grad", boxes1.len(), grad.len())?;
    let eps = f64::from(eps);
    let mut total = 0.0f64;
    for ((p, t), g) in boxes1.iter().zip(boxes2).zip(grad.iter_mut()) {
        let [x1, y1, x2, y2] = p.map(f64::from);
        let [u1, v1, u2, v2] = t.map(f64::from);
        let area = (x2 - x1) * (y2 - y1);
        let d_area = [-(y2 - y1), -(x2 - x1), y2 - y1, x2 - x1];
        let (iw, ih) = (x2.min(u2) - x1.max(u1), y2.min(v2) - y1.max(v1));
        let overlap = iw > 0.0 && ih > 0.0;
        let inter = if overlap { iw * ih } else { 0.0 };
        // d(iw)/d(x1, y1, x2, y2) and d(ih)/d(...): which side of each min/max the prediction is.
        let d_inter = if overlap {
            [
                if x1 > u1 { -ih } else { 0.0 },
                if y1 > v1 { -iw } else { 0.0 },
                if x2 < u2 { ih } else { 0.0 },
                if y2 < v2 { iw } else { 0.0 },
            ]
        } else {
            [0.0; 4]
        };
        let union = area + (u2 - u1) * (v2 - v1) - inter;
        let (cw, ch) = (x2.max(u2) - x1.min(u1), y2.max(v2) - y1.min(v1));
        let enclosing = cw * ch;
        let d_enclosing = [
            if x1 < u1 { -ch } else { 0.0 },
            if y1 < v1 { -cw } else { 0.0 },
            if x2 > u2 { ch } else { 0.0 },
            if y2 > v2 { cw } else { 0.0 },
        ];
        let (ue, ce) = (union + eps, enclosing + eps);
        total += 1.0 - inter / ue + (enclosing - union) / ce;
        for k in 0..4 {
            let d_union = d_area[k] - d_inter[k];
            let d_iou = d_inter[k] / ue - inter / (ue * ue) * d_union;
            let d_gap = (d_enclosing[k] - d_union) / ce - (enclosing - union) / (ce * ce) * d_enclosing[k];
            g[k] = (-d_iou + d_gap) as f32;
        }
    }
    Ok(total as f32)
}

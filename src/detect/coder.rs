//! Box regression targets (`torchvision.models.detection._utils.BoxCoder`): a box as offsets
//! from a reference box (an anchor or a proposal), and back.

use super::{check_boxes, Box4, DetectError};

/// `log(1000 / 16)`: torchvision's default bound on decoded log-scales, so that `exp` cannot
/// overflow a box's size.
pub const BBOX_XFORM_CLIP: f32 = 4.135_166_6;

/// torchvision's `BoxCoder(weights, bbox_xform_clip)`: encodes a box `g` against a reference
/// `r` as `[wx (gx - rx) / rw, wy (gy - ry) / rh, ww log(gw / rw), wh log(gh / rh)]` (centres
/// and sizes), and decodes such codes back, the log-scales clipped at `bbox_xform_clip`.
/// RetinaNet and Faster R-CNN's RPN use weights `(1, 1, 1, 1)`, Faster R-CNN's box head
/// `(10, 10, 5, 5)`, SSD `(10, 10, 5, 5)`.
///
/// ```
/// use cnn::detect::BoxCoder;
///
/// let coder = BoxCoder::new([1.0, 1.0, 1.0, 1.0]);
/// let anchor = [[0.0, 0.0, 10.0, 10.0]];
/// let gt = [[2.0, 1.0, 12.0, 21.0]];
/// let codes = coder.encode(&gt, &anchor).unwrap();
/// let back = coder.decode(&codes, &anchor).unwrap();
/// assert!(back[0].iter().zip(&gt[0]).all(|(a, b)| (a - b).abs() < 1e-5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxCoder {
    pub weights: [f32; 4],
    pub bbox_xform_clip: f32,
}

/// The checks of an encode (`codes` false: boxes in `xyxy`) or a decode (`codes` true: any
/// finite codes) of `values` against `references`, one each.
fn check_pairs(values: &[Box4], references: &[Box4], codes: bool) -> Result<(), DetectError> {
    check_boxes(if codes { "codes" } else { "boxes" }, values, !codes)?;
    check_boxes("references", references, true)?;
    if references.len() != values.len() {
        return Err(DetectError::Length { what: "references", expected: values.len(), found: references.len() });
    }
    Ok(())
}

/// Centre and size of an `xyxy` box, as torchvision computes them.
fn centre_size(b: &Box4) -> (f32, f32, f32, f32) {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    (b[0] + 0.5 * w, b[1] + 0.5 * h, w, h)
}

impl BoxCoder {
    /// A coder with `weights` and the default clip, [`BBOX_XFORM_CLIP`].
    pub fn new(weights: [f32; 4]) -> Self {
        BoxCoder { weights, bbox_xform_clip: BBOX_XFORM_CLIP }
    }

    /// The codes of `boxes` against `references`, one each (`encode_single(boxes, references)`).
    ///
    /// # Errors
    /// Lists of different lengths, or a box not finite or not `xyxy`.
    pub fn encode(&self, boxes: &[Box4], references: &[Box4]) -> Result<Vec<[f32; 4]>, DetectError> {
        check_pairs(boxes, references, false)?;
        let [wx, wy, ww, wh] = self.weights;
        Ok(boxes
            .iter()
            .zip(references)
            .map(|(g, r)| {
                let (gx, gy, gw, gh) = centre_size(g);
                let (rx, ry, rw, rh) = centre_size(r);
                [wx * (gx - rx) / rw, wy * (gy - ry) / rh, ww * (gw / rw).ln(), wh * (gh / rh).ln()]
            })
            .collect())
    }

    /// The boxes that `codes` describe against `references`, one each (`decode_single`).
    ///
    /// # Errors
    /// Lists of different lengths, a reference not finite or not `xyxy`, or a code not finite.
    pub fn decode(&self, codes: &[[f32; 4]], references: &[Box4]) -> Result<Vec<Box4>, DetectError> {
        check_pairs(codes, references, true)?;
        Ok(codes.iter().zip(references).map(|(c, r)| self.decode_one(c, r)).collect())
    }

    /// The box `code` describes against `reference` (both checked by the caller).
    pub(super) fn decode_one(&self, code: &[f32; 4], reference: &Box4) -> Box4 {
        let [wx, wy, ww, wh] = self.weights;
        let (rx, ry, rw, rh) = centre_size(reference);
        let (dx, dy) = (code[0] / wx, code[1] / wy);
        let (dw, dh) = ((code[2] / ww).min(self.bbox_xform_clip), (code[3] / wh).min(self.bbox_xform_clip));
        let (x, y) = (dx * rw + rx, dy * rh + ry);
        let (half_w, half_h) = (0.5 * (dw.exp() * rw), 0.5 * (dh.exp() * rh));
        [x - half_w, y - half_h, x + half_w, y + half_h]
    }
}

/// torchvision's `BoxLinearCoder(normalize_by_size)` (FCOS): a box as the distances from the
/// reference's centre to its left, top, right and bottom edges, divided by the reference's
/// width and height when `normalize_by_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxLinearCoder {
    pub normalize_by_size: bool,
}

impl BoxLinearCoder {
    /// The codes of `boxes` against `references`, one each (`encode(references, boxes)`).
    ///
    /// # Errors
    /// Lists of different lengths, or a box not finite or not `xyxy`.
    pub fn encode(&self, boxes: &[Box4], references: &[Box4]) -> Result<Vec<[f32; 4]>, DetectError> {
        check_pairs(boxes, references, false)?;
        Ok(boxes
            .iter()
            .zip(references)
            .map(|(b, r)| {
                let (cx, cy) = (0.5 * (r[0] + r[2]), 0.5 * (r[1] + r[3]));
                let t = [cx - b[0], cy - b[1], b[2] - cx, b[3] - cy];
                if self.normalize_by_size {
                    let (w, h) = (r[2] - r[0], r[3] - r[1]);
                    [t[0] / w, t[1] / h, t[2] / w, t[3] / h]
                } else {
                    t
                }
            })
            .collect())
    }

    /// The boxes that `codes` describe against `references`, one each (`decode`).
    ///
    /// # Errors
    /// Lists of different lengths, a reference not finite or not `xyxy`, or a code not finite.
    pub fn decode(&self, codes: &[[f32; 4]], references: &[Box4]) -> Result<Vec<Box4>, DetectError> {
        check_pairs(codes, references, true)?;
        Ok(codes.iter().zip(references).map(|(c, r)| self.decode_one(c, r)).collect())
    }

    /// The box `code` describes against `reference` (both checked by the caller).
    pub(super) fn decode_one(&self, code: &[f32; 4], reference: &Box4) -> Box4 {
        let r = reference;
        let (cx, cy) = (0.5 * (r[0] + r[2]), 0.5 * (r[1] + r[3]));
        let c = if self.normalize_by_size {
            let (w, h) = (r[2] - r[0], r[3] - r[1]);
            [code[0] * w, code[1] * h, code[2] * w, code[3] * h]
        } else {
            *code
        };
        [cx - c[0], cy - c[1], cx + c[2], cy + c[3]]
    }
}

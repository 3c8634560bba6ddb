//! Box formats, areas and overlaps (`torchvision.ops.boxes`).

use super::{check_boxes, Box4, DetectError};

/// How a box's four numbers are meant (`torchvision.ops.box_convert`'s `in_fmt` / `out_fmt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoxFormat {
    /// `[x1, y1, x2, y2]`: the corners.
    Xyxy,
    /// `[x1, y1, w, h]`: a corner and the size.
    Xywh,
    /// `[cx, cy, w, h]`: the centre and the size.
    Cxcywh,
}

/// The boxes in `out_fmt`, as torchvision computes them (through `xyxy`, in f32).
///
/// # Errors
/// A box with a coordinate that is not finite.
pub fn box_convert(boxes: &[Box4], in_fmt: BoxFormat, out_fmt: BoxFormat) -> Result<Vec<Box4>, DetectError> {
    check_boxes("boxes", boxes, false)?;
    if in_fmt == out_fmt {
        return Ok(boxes.to_vec());
    }
    Ok(boxes
        .iter()
        .map(|&b| {
            let [x1, y1, x2, y2] = match in_fmt {
                BoxFormat::Xyxy => b,
                BoxFormat::Xywh => [b[0], b[1], b[0] + b[2], b[1] + b[3]],
                BoxFormat::Cxcywh => {
                    let (hw, hh) = (0.5 * b[2], 0.5 * b[3]);
                    [b[0] - hw, b[1] - hh, b[0] + hw, b[1] + hh]
                }
            };
            match out_fmt {
                BoxFormat::Xyxy => [x1, y1, x2, y2],
                BoxFormat::Xywh => [x1, y1, x2 - x1, y2 - y1],
                BoxFormat::Cxcywh => {
                    let (w, h) = (x2 - x1, y2 - y1);
                    [x1 + 0.5 * w, y1 + 0.5 * h, w, h]
                }
            }
        })
        .collect())
}

/// `(x2 - x1) * (y2 - y1)` of each box.
///
/// # Errors
/// A box that is not finite or not in `xyxy` order.
pub fn box_area(boxes: &[Box4]) -> Result<Vec<f32>, DetectError> {
    check_boxes("boxes", boxes, true)?;
    Ok(boxes.iter().map(area).collect())
}

fn area(b: &Box4) -> f32 {
    (b[2] - b[0]) * (b[3] - b[1])
}

/// The intersection and union of two boxes, as torchvision's `_box_inter_union`.
fn inter_union(a: &Box4, b: &Box4, area_a: f32, area_b: f32) -> (f32, f32) {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    (inter, area_a + area_b - inter)
}

/// The IoU of every box of `boxes1` with every box of `boxes2`: `iou[i][j]`. Two boxes of no
/// area give `0 / 0`, NaN, as in torchvision.
///
/// # Errors
/// A box that is not finite or not in `xyxy` order.
pub fn box_iou(boxes1: &[Box4], boxes2: &[Box4]) -> Result<Vec<Vec<f32>>, DetectError> {
    pairwise(boxes1, boxes2, |_, _, inter, union| inter / union)
}

/// `f(a, b, intersection, union)` for every pair, `[i][j]`, after checking both lists.
fn pairwise(
    boxes1: &[Box4],
    boxes2: &[Box4],
    f: impl Fn(&Box4, &Box4, f32, f32) -> f32,
) -> Result<Vec<Vec<f32>>, DetectError> {
    check_boxes("boxes1", boxes1, true)?;
    check_boxes("boxes2", boxes2, true)?;
    let areas2: Vec<f32> = boxes2.iter().map(area).collect();
    Ok(boxes1
        .iter()
        .map(|a| {
            let area_a = area(a);
            boxes2
                .iter()
                .zip(&areas2)
                .map(|(b, &area_b)| {
                    let (inter, union) = inter_union(a, b, area_a, area_b);
                    f(a, b, inter, union)
                })
                .collect()
        })
        .collect())
}

/// The generalized IoU of every pair (Rezatofighi et al. 2019): the IoU less the part of the
/// smallest enclosing box that the union leaves empty, in `[-1, 1]`.
///
/// # Errors
/// A box that is not finite or not in `xyxy` order.
pub fn generalized_box_iou(boxes1: &[Box4], boxes2: &[Box4]) -> Result<Vec<Vec<f32>>, DetectError> {
    pairwise(boxes1, boxes2, |a, b, inter, union| {
        let w = (a[2].max(b[2]) - a[0].min(b[0])).max(0.0);
        let h = (a[3].max(b[3]) - a[1].min(b[1])).max(0.0);
        let enclosing = w * h;
        inter / union - (enclosing - union) / enclosing
    })
}

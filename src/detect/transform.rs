//! The image transform of torchvision's detectors (`GeneralizedRCNNTransform` in eval mode):
//! normalize, resize so that the shorter side is `min_size` unless the longer would pass
//! `max_size`, and map the detected boxes back to the original image.

use super::{Box4, DetectError};
use cnn_runtime::upsample::{upsample_forward, UpsampleMode, UpsampleSpec};

/// The `(height, width)` `GeneralizedRCNNTransform(min_size, max_size)` resizes an image of
/// `(height, width)` to: the scale `min(min_size / shorter, max_size / longer)` and the sizes
/// `floor(size · scale)`, in f64 as its eager Python and `F.interpolate(...,
/// recompute_scale_factor=True)` compute them.
pub fn resized_size(size: (usize, usize), min_size: f32, max_size: f32) -> (usize, usize) {
    let (h, w) = (size.0 as f64, size.1 as f64);
    let scale = (f64::from(min_size) / h.min(w)).min(f64::from(max_size) / h.max(w));
    ((h * scale).floor() as usize, (w * scale).floor() as usize)
}

/// `image` (`[channels, height, width]` of `size`, values in `[0, 1]`) normalized by `mean` and
/// `std` per channel and resized bilinearly to [`resized_size`], as torchvision's detectors
/// prepare their input (ImageNet's `mean = [0.485, 0.456, 0.406]`, `std = [0.229, 0.224,
/// 0.225]`; RetinaNet and FCOS `min_size = 800`, `max_size = 1333`; SSDlite320 resizes to a
/// fixed 320x320 instead). Returns the image and its new size.
///
/// # Errors
/// An image of another length than `mean.len()` channels of `size`, or `std` of another length.
pub fn normalize_and_resize(
    image: &[f32],
    size: (usize, usize),
    mean: &[f32],
    std: &[f32],
    min_size: f32,
    max_size: f32,
) -> Result<(Vec<f32>, (usize, usize)), DetectError> {
    let (c, (h, w)) = (mean.len(), size);
    if std.len() != c {
        return Err(DetectError::Length { what: "std", expected: c, found: std.len() });
    }
    if image.len() != c * h * w {
        return Err(DetectError::Length { what: "image", expected: c * h * w, found: image.len() });
    }
    if h == 0 || w == 0 {
        return Err(DetectError::Empty { what: "pixels in the image" });
    }
    let normalized: Vec<f32> = image
        .chunks_exact(h * w)
        .zip(mean.iter().zip(std))
        .flat_map(|(plane, (&m, &s))| plane.iter().map(move |&v| (v - m) / s))
        .collect();
    let (h_out, w_out) = resized_size(size, min_size, max_size);
    let spec = UpsampleSpec {
        c,
        h_in: h,
        w_in: w,
        h_out,
        w_out,
        mode: UpsampleMode::Bilinear,
        align_corners: false,
        // `recompute_scale_factor=True`: the source indices from the sizes.
        scale: (None, None),
    };
    let mut out = vec![0.0; c * h_out * w_out];
    upsample_forward(&spec, 1, &normalized, &mut out);
    Ok((out, (h_out, w_out)))
}

/// `boxes` of an image of size `from` mapped to the same image at size `to` (`(height,
/// width)`), as torchvision's `resize_boxes` (ratios in f32): detections on the resized input
/// back to the original image.
pub fn resize_boxes(boxes: &[Box4], from: (usize, usize), to: (usize, usize)) -> Vec<Box4> {
    let (rh, rw) = (to.0 as f32 / from.0 as f32, to.1 as f32 / from.1 as f32);
    boxes.iter().map(|b| [b[0] * rw, b[1] * rh, b[2] * rw, b[3] * rh]).collect()
}

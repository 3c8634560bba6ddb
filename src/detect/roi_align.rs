//! `torchvision.ops.roi_align`: a fixed-size map for each region of interest, by bilinear
//! sampling (Mask R-CNN's RoIAlign), as two-stage detectors pool their proposals.

use super::DetectError;

/// The geometry of one [`roi_align`] call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoiAlign {
    /// `(height, width)` of each region's output map.
    pub output_size: (usize, usize),
    /// Box coordinates times this are map coordinates (`1 / stride` of the feature map).
    pub spatial_scale: f32,
    /// Samples per output bin along each axis; `0` (torchvision's `-1`) takes
    /// `ceil(bin size)` of them, adapting to the region.
    pub sampling_ratio: usize,
    /// Shift the boxes by half a pixel (`aligned=True`, Detectron2's corrected RoIAlign); without
    /// it regions are at least one pixel on each side, as in the original.
    pub aligned: bool,
}

/// Along one axis of `len` pixels, the two pixels around `v` (already within `[-1, len]`) and
/// the weight of the second, as torchvision's `bilinear_interpolate`: at or past the last pixel,
/// both are the last and the weight 0.
fn axis(v: f32, len: usize) -> (usize, usize, f32) {
    let v = v.max(0.0);
    let low = v as usize;
    if low >= len - 1 {
        (len - 1, len - 1, 0.0)
    } else {
        (low, low + 1, v - low as f32)
    }
}

/// One bilinear sample: four `(offset, weight)` pairs in a `[H, W]` plane, or none outside.
fn sample(y: f32, x: f32, h: usize, w: usize) -> Option<[(usize, f32); 4]> {
    let (hf, wf) = (h as f32, w as f32);
    if y < -1.0 || y > hf || x < -1.0 || x > wf {
        return None;
    }
    let ((y_low, y_high, ly), (x_low, x_high, lx)) = (axis(y, h), axis(x, w));
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    Some([
        (y_low * w + x_low, hy * hx),
        (y_low * w + x_high, hy * lx),
        (y_high * w + x_low, ly * hx),
        (y_high * w + x_high, ly * lx),
    ])
}

/// Where one region's bins sample its map: the region's corner and bin sizes in map
/// coordinates, the samples per bin along each axis and their count, as torchvision computes
/// them.
struct Bins {
    x0: f32,
    y0: f32,
    bin_h: f32,
    bin_w: f32,
    grid_h: usize,
    grid_w: usize,
    count: f32,
}

impl Bins {
    fn new(b: &[f32; 5], roi: RoiAlign) -> Self {
        let (ph, pw) = roi.output_size;
        let offset = if roi.aligned { 0.5 } else { 0.0 };
        let (x0, y0) = (b[1] * roi.spatial_scale - offset, b[2] * roi.spatial_scale - offset);
        let (mut roi_w, mut roi_h) = (b[3] * roi.spatial_scale - offset - x0, b[4] * roi.spatial_scale - offset - y0);
        if !roi.aligned {
            (roi_w, roi_h) = (roi_w.max(1.0), roi_h.max(1.0));
        }
        let (bin_h, bin_w) = (roi_h / ph as f32, roi_w / pw as f32);
        let grid = |given: usize, size: f32, bins: usize| {
            if given > 0 {
                given
            } else {
                (size / bins as f32).ceil().max(0.0) as usize
            }
        };
        let (grid_h, grid_w) = (grid(roi.sampling_ratio, roi_h, ph), grid(roi.sampling_ratio, roi_w, pw));
        Bins { x0, y0, bin_h, bin_w, grid_h, grid_w, count: (grid_h * grid_w).max(1) as f32 }
    }

    /// Each bilinear sample of bin `(py, px)` in a `[h, w]` plane, in torchvision's order.
    fn samples(&self, py: usize, px: usize, (h, w): (usize, usize), mut f: impl FnMut([(usize, f32); 4])) {
        for iy in 0..self.grid_h {
            let y = self.y0 + py as f32 * self.bin_h + (iy as f32 + 0.5) * self.bin_h / self.grid_h as f32;
            for ix in 0..self.grid_w {
                let x = self.x0 + px as f32 * self.bin_w + (ix as f32 + 0.5) * self.bin_w / self.grid_w as f32;
                if let Some(taps) = sample(y, x, h, w) {
                    f(taps);
                }
            }
        }
    }
}

/// The checks of [`roi_align_into`] and [`roi_align_backward`]: `values` holds the input map,
/// `pooled` the regions' outputs (or their gradient), the boxes are finite and in the batch.
fn check_roi(
    values: (&'static str, usize),
    input_shape: [usize; 4],
    boxes: &[[f32; 5]],
    roi: RoiAlign,
    pooled: (&'static str, usize),
) -> Result<(), DetectError> {
    let [n, c, h, w] = input_shape;
    let (ph, pw) = roi.output_size;
    if h == 0 || w == 0 || ph == 0 || pw == 0 {
        return Err(DetectError::Empty { what: "pixels in the input map or the output size" });
    }
    if values.1 != n * c * h * w {
        return Err(DetectError::Length { what: values.0, expected: n * c * h * w, found: values.1 });
    }
    if pooled.1 != boxes.len() * c * ph * pw {
        return Err(DetectError::Length { what: pooled.0, expected: boxes.len() * c * ph * pw, found: pooled.1 });
    }
    for (index, b) in boxes.iter().enumerate() {
        if b.iter().any(|v| !v.is_finite()) {
            return Err(DetectError::NotFinite { what: "boxes", index, value: [b[1], b[2], b[3], b[4]] });
        }
        if b[0] < 0.0 || b[0].fract() != 0.0 || b[0] as usize >= n {
            return Err(DetectError::BatchIndex { index, value: b[0], batch: n });
        }
    }
    Ok(())
}

/// `torchvision.ops.roi_align(input, boxes, output_size, spatial_scale, sampling_ratio,
/// aligned)` into `out` (`[K, C, output_h, output_w]`), from `input` (`[N, C, H, W]`, shape
/// `input_shape`) and `boxes` (`[batch_index, x1, y1, x2, y2]`, torchvision's `Tensor[K, 5]`).
/// Allocates nothing.
///
/// # Errors
/// `input` or `out` of another length than the shapes give, a box not finite, a batch index
/// that is not an integer below `N`, an empty output size or map.
pub fn roi_align_into(
    input: &[f32],
    input_shape: [usize; 4],
    boxes: &[[f32; 5]],
    roi: RoiAlign,
    out: &mut [f32],
) -> Result<(), DetectError> {
    check_roi(("input", input.len()), input_shape, boxes, roi, ("out", out.len()))?;
    let [_, c, h, w] = input_shape;
    let (ph, pw) = roi.output_size;
    let plane = h * w;
    for (b, out) in boxes.iter().zip(out.chunks_exact_mut(c * ph * pw)) {
        let image = &input[b[0] as usize * c * plane..][..c * plane];
        let bins = Bins::new(b, roi);
        for (ch, out) in out.chunks_exact_mut(ph * pw).enumerate() {
            let values = &image[ch * plane..][..plane];
            for py in 0..ph {
                for px in 0..pw {
                    let mut sum = 0.0f32;
                    bins.samples(py, px, (h, w), |taps| {
                        sum += taps.iter().map(|&(at, weight)| weight * values[at]).sum::<f32>();
                    });
                    out[py * pw + px] = sum / bins.count;
                }
            }
        }
    }
    Ok(())
}

/// The gradient of [`roi_align_into`] with respect to its input: each output bin's gradient
/// `grad_output` (`[K, C, output_h, output_w]`) spread over the pixels its samples read, with
/// their bilinear weights over the sample count, added to `grad_input` (`[N, C, H, W]`), as
/// torchvision's `roi_align` backward does (regions are in order, so the sums are
/// deterministic). Zero `grad_input` first for the gradient alone. Allocates nothing.
///
/// ```
/// use cnn::detect::{roi_align_backward, RoiAlign};
///
/// // One region averaging columns 1..3 of row 0..4 in one output bin: its gradient of 1 lands
/// // on those pixels.
/// let roi = RoiAlign { output_size: (1, 1), spatial_scale: 1.0, sampling_ratio: 2, aligned: true };
/// let mut grad = vec![0.0; 16];
/// roi_align_backward(&[1.0], [1, 1, 4, 4], &[[0.0, 1.5, 0.5, 3.5, 3.5]], roi, &mut grad).unwrap();
/// assert!((grad.iter().sum::<f32>() - 1.0).abs() < 1e-6);
/// assert_eq!(grad[0], 0.0);
/// ```
///
/// # Errors
/// As [`roi_align_into`], for `grad_output` and `grad_input`.
pub fn roi_align_backward(
    grad_output: &[f32],
    input_shape: [usize; 4],
    boxes: &[[f32; 5]],
    roi: RoiAlign,
    grad_input: &mut [f32],
) -> Result<(), DetectError> {
    check_roi(("grad_input", grad_input.len()), input_shape, boxes, roi, ("grad_output", grad_output.len()))?;
    let [_, c, h, w] = input_shape;
    let (ph, pw) = roi.output_size;
    let plane = h * w;
    for (b, grad_output) in boxes.iter().zip(grad_output.chunks_exact(c * ph * pw)) {
        let image = &mut grad_input[b[0] as usize * c * plane..][..c * plane];
        let bins = Bins::new(b, roi);
        for (ch, dy) in grad_output.chunks_exact(ph * pw).enumerate() {
            let dx = &mut image[ch * plane..][..plane];
            for py in 0..ph {
                for px in 0..pw {
                    // As torchvision: the bin's gradient times the weight, over the count.
                    let (g, count) = (dy[py * pw + px], bins.count);
                    bins.samples(py, px, (h, w), |taps| {
                        taps.iter().for_each(|&(at, weight)| dx[at] += g * weight / count)
                    });
                }
            }
        }
    }
    Ok(())
}

/// [`roi_align_into`] into a new `Vec` (`[K, C, output_h, output_w]`).
///
/// ```
/// use cnn::detect::{roi_align, RoiAlign};
///
/// // One 1-channel 4x4 map whose value is its column: a region over columns 1..3 averages 2.
/// let map: Vec<f32> = (0..16).map(|i| (i % 4) as f32).collect();
/// let roi = RoiAlign { output_size: (1, 1), spatial_scale: 1.0, sampling_ratio: 2, aligned: true };
/// let out = roi_align(&map, [1, 1, 4, 4], &[[0.0, 1.5, 0.5, 3.5, 3.5]], roi).unwrap();
/// assert!((out[0] - 2.0).abs() < 1e-6);
/// ```
///
/// # Errors
/// As [`roi_align_into`].
pub fn roi_align(
    input: &[f32],
    input_shape: [usize; 4],
    boxes: &[[f32; 5]],
    roi: RoiAlign,
) -> Result<Vec<f32>, DetectError> {
    let mut out = vec![0.0; boxes.len() * input_shape[1] * roi.output_size.0 * roi.output_size.1];
    roi_align_into(input, input_shape, boxes, roi, &mut out)?;
    Ok(out)
}

/// torchvision's `MultiScaleRoIAlign(featmap_names, output_size, sampling_ratio)` (Faster
/// R-CNN's box pooling over a feature pyramid): each region is pooled by [`roi_align`]
/// (`aligned=False`) from one level, `floor(canonical_level + log2(sqrt(area) /
/// canonical_scale) + 1e-6)` clamped to the levels there are, each level's scale the power of
/// two nearest its size over the image's. Faster R-CNN uses `output_size (7, 7)`,
/// `sampling_ratio 2`, `canonical_scale 224`, `canonical_level 4`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MultiScaleRoiAlign {
    pub output_size: (usize, usize),
    pub sampling_ratio: usize,
    pub canonical_scale: f32,
    pub canonical_level: f32,
}

/// One feature level for [`MultiScaleRoiAlign::pool`]: its values and `[N, C, H, W]`.
#[derive(Clone, Copy, Debug)]
pub struct FeatureLevel<'a> {
    pub values: &'a [f32],
    pub shape: [usize; 4],
}

impl MultiScaleRoiAlign {
    /// Faster R-CNN's box pooling: `MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)`, over the
    /// levels there are.
    pub fn faster_rcnn() -> Self {
        MultiScaleRoiAlign { output_size: (7, 7), sampling_ratio: 2, canonical_scale: 224.0, canonical_level: 4.0 }
    }

    /// The pooled regions (`[K, C, output_h, output_w]`) of `boxes` (`[batch_index, x1, y1, x2,
    /// y2]` in image pixels) over `levels` (finest first) of images of `image_size`.
    ///
    /// # Errors
    /// No level, levels of different batch or channel counts, and [`roi_align_into`]'s.
    pub fn pool(
        &self,
        levels: &[FeatureLevel<'_>],
        image_size: (usize, usize),
        boxes: &[[f32; 5]],
    ) -> Result<Vec<f32>, DetectError> {
        let Some(first) = levels.first() else { return Err(DetectError::Empty { what: "feature levels" }) };
        let (n, c) = (first.shape[0], first.shape[1]);
        for l in levels {
            if l.shape[0] != n || l.shape[1] != c {
                return Err(DetectError::Length {
                    what: "a feature level's batch or channels",
                    expected: n * c,
                    found: l.shape[0] * l.shape[1],
                });
            }
        }
        // `_infer_scale`: 2^round(log2(feature / image)) on the height, log2 in f32.
        let scales: Vec<f32> = levels
            .iter()
            .map(|l| {
                let approx = (l.shape[2] as f64 / image_size.0 as f64) as f32;
                2f64.powf(f64::from(approx.log2().round_ties_even())) as f32
            })
            .collect();
        let k_min = -scales[0].log2();
        let k_max = -scales[scales.len() - 1].log2();
        let (k_min, k_max) = (k_min.trunc(), k_max.trunc());
        let per_box = c * self.output_size.0 * self.output_size.1;
        let mut out = vec![0.0; boxes.len() * per_box];
        let roi = |scale| RoiAlign {
            output_size: self.output_size,
            spatial_scale: scale,
            sampling_ratio: self.sampling_ratio,
            aligned: false,
        };
        for (b, out) in boxes.iter().zip(out.chunks_exact_mut(per_box)) {
            let level = if levels.len() == 1 {
                0
            } else {
                let s = ((b[3] - b[1]) * (b[4] - b[2])).sqrt();
                let target = (self.canonical_level + (s / self.canonical_scale).log2() + 1e-6).floor();
                (target.clamp(k_min, k_max) - k_min) as usize
            };
            let l = &levels[level];
            roi_align_into(l.values, l.shape, std::slice::from_ref(b), roi(scales[level]), out)?;
        }
        Ok(out)
    }
}

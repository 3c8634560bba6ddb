//! Upsampling (`nn.Upsample`, `F.interpolate`) in the modes `nearest`, `nearest-exact` and
//! `bilinear`, with PyTorch's index arithmetic to the bit: its source indices are computed in
//! `f32` from the scale the user gave (`1 / scale_factor`) or from the sizes (`in / out`), as
//! ATen's `UpSample.h` does, so that every output reads the pixels PyTorch's does.

use crate::kernels::conv::check_len;

/// How output pixels are computed from input pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsampleMode {
    /// The pixel at `floor(dst · scale)` (PyTorch's `nearest`, kept for compatibility with
    /// OpenCV's rounding).
    Nearest,
    /// The pixel at `floor((dst + 0.5) · scale)` (`nearest-exact`).
    NearestExact,
    /// The weighted mean of the 2x2 pixels around the source point (`bilinear`).
    Bilinear,
}

/// One upsampling layer: `[c, h_in, w_in]` to `[c, h_out, w_out]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpsampleSpec {
    pub c: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub mode: UpsampleMode,
    /// `align_corners=True`: the corner pixels of input and output are aligned (bilinear only).
    pub align_corners: bool,
    /// The `scale_factor` per axis as given, which PyTorch uses for the source indices (unless
    /// `recompute_scale_factor`); `None` where a size was given, when the sizes' ratio is used.
    pub scale: (Option<f64>, Option<f64>),
}

impl UpsampleSpec {
    /// Input elements per sample.
    pub const fn in_len(&self) -> usize {
        self.c * self.h_in * self.w_in
    }
    /// Output elements per sample.
    pub const fn out_len(&self) -> usize {
        self.c * self.h_out * self.w_out
    }
}

/// The source position of output index `dst` on one axis: `(i0, i1, l0, l1)`, the output being
/// `l0 · x[i0] + l1 · x[i1]`.
#[derive(Clone, Copy)]
struct Axis {
    ratio: f32,
    len_in: usize,
    len_out: usize,
    mode: UpsampleMode,
    align_corners: bool,
}

impl Axis {
    fn new(spec: &UpsampleSpec, len_in: usize, len_out: usize, scale: Option<f64>) -> Self {
        // compute_scales_value: 1 / scale in f64 rounded to f32, else in / out in f32.
        let from_sizes = || len_in as f32 / len_out as f32;
        let given = || match scale {
            Some(s) if s > 0.0 => (1.0 / s) as f32,
            _ => from_sizes(),
        };
        let ratio = match spec.mode {
            UpsampleMode::Bilinear if spec.align_corners => {
                if len_out > 1 {
                    (len_in - 1) as f32 / (len_out - 1) as f32
                } else {
                    0.0
                }
            }
            _ => given(),
        };
        Axis { ratio, len_in, len_out, mode: spec.mode, align_corners: spec.align_corners }
    }

    #[inline]
    fn at(&self, dst: usize) -> (usize, usize, f32, f32) {
        let last = self.len_in - 1;
        match self.mode {
            UpsampleMode::Nearest => {
                let i = if self.len_out == self.len_in {
                    dst
                } else if self.len_out == 2 * self.len_in {
                    dst >> 1
                } else {
                    ((dst as f32 * self.ratio).floor() as usize).min(last)
                };
                (i, i, 1.0, 0.0)
            }
            UpsampleMode::NearestExact => {
                let i = (((dst as f64 + 0.5) as f32 * self.ratio).floor() as usize).min(last);
                (i, i, 1.0, 0.0)
            }
            UpsampleMode::Bilinear => {
                if self.len_out == self.len_in {
                    return (dst, dst, 1.0, 0.0);
                }
                let real = if self.align_corners {
                    self.ratio * dst as f32
                } else {
                    (self.ratio * (dst as f32 + 0.5) - 0.5).max(0.0)
                };
                let i0 = (real.floor() as usize).min(last);
                let l1 = (real - i0 as f32).clamp(0.0, 1.0);
                let i1 = if i0 < last { i0 + 1 } else { i0 };
                (i0, i1, 1.0 - l1, l1)
            }
        }
    }
}

/// Upsamples `n` NCHW samples of layer `spec` from `input` to `output`.
///
/// # Panics
/// If a slice is shorter than `spec` and `n` need.
#[track_caller]
pub fn upsample_forward(spec: &UpsampleSpec, n: usize, input: &[f32], output: &mut [f32]) {
    check_len("input", input.len(), n * spec.in_len());
    check_len("output", output.len(), n * spec.out_len());
    let rows = Axis::new(spec, spec.h_in, spec.h_out, spec.scale.0);
    let cols = Axis::new(spec, spec.w_in, spec.w_out, spec.scale.1);
    let (plane_in, plane_out) = (spec.h_in * spec.w_in, spec.h_out * spec.w_out);
    let planes = input[..n * spec.in_len()].chunks_exact(plane_in).zip(output.chunks_exact_mut(plane_out));
    for (x, y) in planes {
        for (oh, y) in y.chunks_exact_mut(spec.w_out).enumerate() {
            let (h0, h1, a0, a1) = rows.at(oh);
            let (r0, r1) = (&x[h0 * spec.w_in..][..spec.w_in], &x[h1 * spec.w_in..][..spec.w_in]);
            if spec.mode == UpsampleMode::Bilinear {
                for (ow, y) in y.iter_mut().enumerate() {
                    let (w0, w1, b0, b1) = cols.at(ow);
                    *y = a0 * (b0 * r0[w0] + b1 * r0[w1]) + a1 * (b0 * r1[w0] + b1 * r1[w1]);
                }
            } else {
                for (ow, y) in y.iter_mut().enumerate() {
                    *y = r0[cols.at(ow).0];
                }
            }
        }
    }
}

/// The gradient of [`upsample_forward`]: each output gradient goes back to the pixels it was
/// computed from, with the same weights, in one fixed order. Written to `grad_input`, or added
/// to it when `accumulate`.
///
/// # Panics
/// If a slice is shorter than `spec` and `n` need.
#[track_caller]
pub fn upsample_backward(spec: &UpsampleSpec, n: usize, grad_output: &[f32], grad_input: &mut [f32], accumulate: bool) {
    check_len("grad_output", grad_output.len(), n * spec.out_len());
    check_len("grad_input", grad_input.len(), n * spec.in_len());
    let rows = Axis::new(spec, spec.h_in, spec.h_out, spec.scale.0);
    let cols = Axis::new(spec, spec.w_in, spec.w_out, spec.scale.1);
    let (plane_in, plane_out) = (spec.h_in * spec.w_in, spec.h_out * spec.w_out);
    let grad_input = &mut grad_input[..n * spec.in_len()];
    if !accumulate {
        grad_input.fill(0.0);
    }
    let planes = grad_output[..n * spec.out_len()].chunks_exact(plane_out).zip(grad_input.chunks_exact_mut(plane_in));
    for (dy, dx) in planes {
        for (oh, dy) in dy.chunks_exact(spec.w_out).enumerate() {
            let (h0, h1, a0, a1) = rows.at(oh);
            for (ow, &g) in dy.iter().enumerate() {
                let (w0, w1, b0, b1) = cols.at(ow);
                if spec.mode == UpsampleMode::Bilinear {
                    dx[h0 * spec.w_in + w0] += a0 * b0 * g;
                    dx[h0 * spec.w_in + w1] += a0 * b1 * g;
                    dx[h1 * spec.w_in + w0] += a1 * b0 * g;
                    dx[h1 * spec.w_in + w1] += a1 * b1 * g;
                } else {
                    dx[h0 * spec.w_in + w0] += g;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    fn spec(size_in: (usize, usize), size_out: (usize, usize), mode: UpsampleMode, align: bool) -> UpsampleSpec {
        UpsampleSpec {
            c: 2,
            h_in: size_in.0,
            w_in: size_in.1,
            h_out: size_out.0,
            w_out: size_out.1,
            mode,
            align_corners: align,
            scale: (None, None),
        }
    }

    /// Values PyTorch gives (torch 2.x, float32) for `x = arange(12).reshape(1, 1, 3, 4)`.
    #[test]
    fn matches_pytorch_on_a_small_map() {
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let one = |s: UpsampleSpec| {
            let s = UpsampleSpec { c: 1, ..s };
            let mut y = vec![0.0; s.out_len()];
            upsample_forward(&s, 1, &x, &mut y);
            y
        };
        // F.interpolate(x, size=(2, 6), mode="nearest")[0, 0]
        assert_eq!(
            one(spec((3, 4), (2, 6), UpsampleMode::Nearest, false)),
            [0., 0., 1., 2., 2., 3., 4., 4., 5., 6., 6., 7.]
        );
        // F.interpolate(x, size=(2, 6), mode="nearest-exact")[0, 0]
        assert_eq!(
            one(spec((3, 4), (2, 6), UpsampleMode::NearestExact, false)),
            [0., 1., 1., 2., 3., 3., 8., 9., 9., 10., 11., 11.]
        );
        // F.interpolate(x, scale_factor=1.5, mode="bilinear")[0, 0, 0]: the first row of 4x6.
        let s = UpsampleSpec { scale: (Some(1.5), Some(1.5)), ..spec((3, 4), (4, 6), UpsampleMode::Bilinear, false) };
        let y = one(s);
        for (got, want) in y[..6].iter().zip([0.0, 0.5, 1.1666666, 1.8333334, 2.5, 3.0]) {
            assert!((got - want).abs() < 1e-6, "{y:?}");
        }
        // F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True)[0, 0, 1]
        let y = one(spec((3, 4), (5, 7), UpsampleMode::Bilinear, true));
        for (got, want) in y[7..14].iter().zip([2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]) {
            assert!((got - want).abs() < 1e-6, "{y:?}");
        }
    }

    /// The backward pass is the adjoint of the forward one: `<f(x), dy> = <x, f'(dy)>`.
    #[test]
    fn backward_is_the_adjoint_over_swept_sizes() {
        let modes = [
            (UpsampleMode::Nearest, false),
            (UpsampleMode::NearestExact, false),
            (UpsampleMode::Bilinear, false),
            (UpsampleMode::Bilinear, true),
        ];
        let sizes = [((1, 1), (3, 2)), ((3, 4), (6, 8)), ((5, 3), (7, 10)), ((4, 4), (4, 9)), ((6, 5), (3, 2))];
        for (mode, align) in modes {
            for (a, b) in sizes {
                for scale in [None, Some(b.0 as f64 / a.0 as f64 + 0.01)] {
                    let s = UpsampleSpec { scale: (scale, None), ..spec(a, b, mode, align) };
                    let n = 2;
                    let x = reference::values(n * s.in_len(), 5);
                    let dy = reference::values(n * s.out_len(), 6);
                    let mut y = vec![0.0; n * s.out_len()];
                    upsample_forward(&s, n, &x, &mut y);
                    let mut dx = vec![f32::NAN; n * s.in_len()];
                    upsample_backward(&s, n, &dy, &mut dx, false);
                    let lhs: f64 = y.iter().zip(&dy).map(|(a, b)| *a as f64 * *b as f64).sum();
                    let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| *a as f64 * *b as f64).sum();
                    assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()), "{s:?}: {lhs} vs {rhs}");
                    let mut acc = vec![1.0; n * s.in_len()];
                    upsample_backward(&s, n, &dy, &mut acc, true);
                    for (a, d) in acc.iter().zip(&dx) {
                        assert!((a - 1.0 - d).abs() < 1e-5);
                    }
                }
            }
        }
    }
}

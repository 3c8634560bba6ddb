//! Padding of each channel's map (`nn.ZeroPad2d`, `nn.ReflectionPad2d`, `nn.ReplicationPad2d`,
//! `F.pad(mode="circular")`, and the `padding_mode` of `nn.Conv2d`): every output pixel is an
//! input pixel or zero, so the backward pass sends each output gradient to the pixel it came
//! from.

use crate::kernels::conv::check_len;

/// Where the pixels outside the map come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    /// Zeros (`nn.ZeroPad2d`, `padding_mode="zeros"`).
    Zeros,
    /// The map mirrored at its edge, the edge itself not repeated (`nn.ReflectionPad2d`).
    Reflect,
    /// The edge pixel repeated (`nn.ReplicationPad2d`).
    Replicate,
    /// The map repeated (`padding_mode="circular"`).
    Circular,
}

/// One padding layer: `[c, h, w]` to `[c, top + h + bottom, left + w + right]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PadSpec {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub left: usize,
    pub right: usize,
    pub top: usize,
    pub bottom: usize,
    pub mode: PadMode,
}

impl PadSpec {
    /// Output height.
    pub const fn h_out(&self) -> usize {
        self.top + self.h + self.bottom
    }
    /// Output width.
    pub const fn w_out(&self) -> usize {
        self.left + self.w + self.right
    }
    /// Input elements per sample.
    pub const fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Output elements per sample.
    pub const fn out_len(&self) -> usize {
        self.c * self.h_out() * self.w_out()
    }
}

/// The input index along one axis of output index `o`, or `None` for a zero.
#[inline]
fn source(mode: PadMode, o: usize, before: usize, len: usize) -> Option<usize> {
    let i = o as isize - before as isize;
    let n = len as isize;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    let i = match mode {
        PadMode::Zeros => return None,
        PadMode::Reflect => {
            // PyTorch takes paddings below the size, so one reflection reaches.
            if i < 0 {
                -i
            } else {
                2 * (n - 1) - i
            }
        }
        PadMode::Replicate => i.clamp(0, n - 1),
        PadMode::Circular => i.rem_euclid(n),
    };
    Some(i as usize)
}

/// Pads `n` NCHW samples of layer `spec` from `input` into `output`.
///
/// # Panics
/// If a slice is shorter than `spec` and `n` need.
#[track_caller]
pub fn pad2d_forward(spec: &PadSpec, n: usize, input: &[f32], output: &mut [f32]) {
    check_len("input", input.len(), n * spec.in_len());
    check_len("output", output.len(), n * spec.out_len());
    let (wo, plane_out) = (spec.w_out(), spec.h_out() * spec.w_out());
    let planes = input[..n * spec.in_len()].chunks_exact(spec.h * spec.w).zip(output.chunks_exact_mut(plane_out));
    for (x, y) in planes {
        for (oh, y) in y.chunks_exact_mut(wo).enumerate() {
            let Some(ih) = source(spec.mode, oh, spec.top, spec.h) else {
                y.fill(0.0);
                continue;
            };
            let row = &x[ih * spec.w..][..spec.w];
            // The middle is the row itself; only the borders are looked up.
            y[spec.left..spec.left + spec.w].copy_from_slice(row);
            for ow in (0..spec.left).chain(spec.left + spec.w..wo) {
                y[ow] = source(spec.mode, ow, spec.left, spec.w).map_or(0.0, |iw| row[iw]);
            }
        }
    }
}

/// The gradient of [`pad2d_forward`], written to `grad_input` or added to it when `accumulate`.
///
/// # Panics
/// If a slice is shorter than `spec` and `n` need.
#[track_caller]
pub fn pad2d_backward(spec: &PadSpec, n: usize, grad_output: &[f32], grad_input: &mut [f32], accumulate: bool) {
    check_len("grad_output", grad_output.len(), n * spec.out_len());
    check_len("grad_input", grad_input.len(), n * spec.in_len());
    let (wo, plane_out) = (spec.w_out(), spec.h_out() * spec.w_out());
    let grad_input = &mut grad_input[..n * spec.in_len()];
    let planes =
        grad_output[..n * spec.out_len()].chunks_exact(plane_out).zip(grad_input.chunks_exact_mut(spec.h * spec.w));
    for (dy, dx) in planes {
        // The middle first, as a copy (or a sum), then the borders added in output order.
        for ih in 0..spec.h {
            let from = &dy[(spec.top + ih) * wo + spec.left..][..spec.w];
            let to = &mut dx[ih * spec.w..][..spec.w];
            if accumulate {
                to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
            } else {
                to.copy_from_slice(from);
            }
        }
        if spec.mode == PadMode::Zeros {
            continue;
        }
        for (oh, dy) in dy.chunks_exact(wo).enumerate() {
            let ih = source(spec.mode, oh, spec.top, spec.h).expect("every row has a source but with zeros");
            let inside = (spec.top..spec.top + spec.h).contains(&oh);
            for (ow, &g) in dy.iter().enumerate() {
                if inside && (spec.left..spec.left + spec.w).contains(&ow) {
                    continue;
                }
                let iw = source(spec.mode, ow, spec.left, spec.w).expect("every column has a source but with zeros");
                dx[ih * spec.w + iw] += g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    fn spec(c: usize, h: usize, w: usize, lrtb: [usize; 4], mode: PadMode) -> PadSpec {
        PadSpec { c, h, w, left: lrtb[0], right: lrtb[1], top: lrtb[2], bottom: lrtb[3], mode }
    }

    /// First rows of what PyTorch gives for `arange(12.).reshape(1, 1, 3, 4)` padded by
    /// `(2, 1, 1, 2)` (left, right, top, bottom).
    #[test]
    fn matches_pytorch_on_a_small_map() {
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let run = |mode| {
            let s = spec(1, 3, 4, [2, 1, 1, 2], mode);
            let mut y = vec![f32::NAN; s.out_len()];
            pad2d_forward(&s, 1, &x, &mut y);
            y
        };
        // Rows of 7: F.pad(x, (2, 1, 1, 2), mode)[0, 0, :2].
        assert_eq!(run(PadMode::Zeros)[..14], [0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 1., 2., 3., 0.]);
        assert_eq!(run(PadMode::Reflect)[..14], [6., 5., 4., 5., 6., 7., 6., 2., 1., 0., 1., 2., 3., 2.]);
        assert_eq!(run(PadMode::Replicate)[..14], [0., 0., 0., 1., 2., 3., 3., 0., 0., 0., 1., 2., 3., 3.]);
        assert_eq!(run(PadMode::Circular)[..14], [10., 11., 8., 9., 10., 11., 8., 2., 3., 0., 1., 2., 3., 0.]);
        // The last row, the second below the map.
        assert_eq!(run(PadMode::Reflect)[35..], [2., 1., 0., 1., 2., 3., 2.]);
        assert_eq!(run(PadMode::Circular)[35..], [6., 7., 4., 5., 6., 7., 4.]);
    }

    /// The backward pass is the adjoint of the forward one: `<f(x), dy> = <x, f'(dy)>`.
    #[test]
    fn backward_is_the_adjoint_over_swept_sizes() {
        let pads = [[0, 0, 0, 0], [1, 1, 1, 1], [2, 0, 1, 3], [0, 3, 2, 0]];
        for mode in [PadMode::Zeros, PadMode::Reflect, PadMode::Replicate, PadMode::Circular] {
            for (h, w) in [(1, 1), (4, 5), (7, 4)] {
                for p in pads {
                    let fits = match mode {
                        PadMode::Reflect => p[0].max(p[1]) < w && p[2].max(p[3]) < h,
                        PadMode::Circular => p[0].max(p[1]) <= w && p[2].max(p[3]) <= h,
                        _ => true,
                    };
                    if !fits {
                        continue;
                    }
                    let (s, n) = (spec(3, h, w, p, mode), 2);
                    let x = reference::values(n * s.in_len(), 7);
                    let dy = reference::values(n * s.out_len(), 8);
                    let mut y = vec![f32::NAN; n * s.out_len()];
                    pad2d_forward(&s, n, &x, &mut y);
                    let mut dx = vec![f32::NAN; n * s.in_len()];
                    pad2d_backward(&s, n, &dy, &mut dx, false);
                    let lhs: f64 = y.iter().zip(&dy).map(|(a, b)| *a as f64 * *b as f64).sum();
                    let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| *a as f64 * *b as f64).sum();
                    assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()), "{s:?}: {lhs} vs {rhs}");
                    let mut acc = vec![1.0; n * s.in_len()];
                    pad2d_backward(&s, n, &dy, &mut acc, true);
                    assert!(acc.iter().zip(&dx).all(|(a, d)| (a - 1.0 - d).abs() < 1e-5));
                }
            }
        }
    }
}

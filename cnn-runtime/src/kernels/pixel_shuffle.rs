//! `nn.PixelShuffle(r)` and `nn.PixelUnshuffle(r)`: channels `[C·r², H, W]` rearranged into
//! `[C, H·r, W·r]` and back, `out[c, h·r + i, w·r + j] = in[c·r² + i·r + j, h, w]`. Each is the
//! other's gradient.

use crate::kernels::conv::check_len;

/// For each of `n` samples, moves `[c·r², h, w]` (`shuffled == false`) to `[c, h·r, w·r]`, or
/// the reverse when `shuffled` (the input is then `[c, h·r, w·r]`): `PixelShuffle` is
/// `rearrange(n, c, h, w, r, x, y, false, _)`, `PixelUnshuffle` the same with `true`. Written to
/// `y`, or added to it when `accumulate`.
///
/// # Panics
/// If a slice is shorter than `n` samples.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn pixel_shuffle(
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    r: usize,
    x: &[f32],
    y: &mut [f32],
    unshuffle: bool,
    accumulate: bool,
) {
    let len = c * r * r * h * w;
    check_len("input", x.len(), n * len);
    check_len("output", y.len(), n * len);
    let (wide, plane) = (w * r, h * w);
    for s in 0..n {
        for ch in 0..c {
            for i in 0..r {
                for j in 0..r {
                    // One small channel `(ch, i, j)` of `[h, w]` against the big plane's pixels
                    // `(h·r + i, w·r + j)`.
                    let small = s * len + ((ch * r + i) * r + j) * plane;
                    let big = s * len + ch * r * r * plane + i * wide + j;
                    for row in 0..h {
                        for col in 0..w {
                            let (a, b) = (small + row * w + col, big + row * r * wide + col * r);
                            let (from, to) = if unshuffle { (b, a) } else { (a, b) };
                            if accumulate {
                                y[to] += x[from];
                            } else {
                                y[to] = x[from];
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffles_as_pytorch_and_back() {
        // nn.PixelShuffle(2)(torch.arange(16.).reshape(1, 4, 2, 2))[0, 0].flatten()
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut y = vec![0.0; 16];
        pixel_shuffle(1, 1, 2, 2, 2, &x, &mut y, false, false);
        assert_eq!(y, [0., 4., 1., 5., 8., 12., 9., 13., 2., 6., 3., 7., 10., 14., 11., 15.]);
        let mut back = vec![0.0; 16];
        pixel_shuffle(1, 1, 2, 2, 2, &y, &mut back, true, false);
        assert_eq!(back, x);
        // Two samples, two channels, r = 3, odd sizes: unshuffle undoes shuffle; accumulate adds.
        let x: Vec<f32> = (0..2 * 2 * 9 * 3 * 5).map(|v| v as f32).collect();
        let mut y = vec![0.0; x.len()];
        pixel_shuffle(2, 2, 3, 5, 3, &x, &mut y, false, false);
        let mut back = vec![1.0; x.len()];
        pixel_shuffle(2, 2, 3, 5, 3, &y, &mut back, true, true);
        assert!(back.iter().zip(&x).all(|(b, x)| *b == x + 1.0));
    }
}

//! Transposes of each sample: `permute(0, 2, 3, 1)` and back (`[C, H·W]` to `[H·W, C]`), and
//! `channel_shuffle(g)` (`[g, C/g]` blocks of one channel's map each to `[C/g, g]`).

use crate::kernels::conv::check_len;

/// For each of `n` samples, a `[rows, cols]` matrix of `block`-element entries becomes
/// `[cols, rows]`, written to `y` (or added to it, with `accumulate`): the gradient of a
/// transpose is the transpose back.
///
/// # Panics
/// If a slice is shorter than `n` samples.
#[track_caller]
pub fn transpose(n: usize, rows: usize, cols: usize, block: usize, x: &[f32], y: &mut [f32], accumulate: bool) {
    let len = rows * cols * block;
    check_len("input", x.len(), n * len);
    check_len("output", y.len(), n * len);
    for (x, y) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)).take(n) {
        if block == 1 {
            // ConvNeXt's permutes: element by element, where a copy per element was a call to
            // `memcpy` each (9% of ConvNeXt-T's inference, measured on an AVX2 EPYC).
            if accumulate {
                transpose_elements::<true>(rows, cols, x, y);
            } else {
                transpose_elements::<false>(rows, cols, x, y);
            }
            continue;
        }
        for r in 0..rows {
            for c in 0..cols {
                let from = &x[(r * cols + c) * block..][..block];
                let to = &mut y[(c * rows + r) * block..][..block];
                if accumulate {
                    to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
                } else {
                    to.copy_from_slice(from);
                }
            }
        }
    }
}

/// Side of the square tiles a transpose of single elements moves at a time: the tile's rows of
/// the input and of the output stay in L1 while it is read across and written down.
const TILE: usize = 16;

/// One `[rows, cols]` matrix of single elements to `[cols, rows]`, written or (with `ADD`) added,
/// tile by tile.
#[inline]
fn transpose_elements<const ADD: bool>(rows: usize, cols: usize, x: &[f32], y: &mut [f32]) {
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            let c1 = (c0 + TILE).min(cols);
            for c in c0..c1 {
                let to = &mut y[c * rows + r0..c * rows + r1];
                for (t, r) in to.iter_mut().zip(r0..r1) {
                    let v = x[r * cols + c];
                    if ADD {
                        *t += v;
                    } else {
                        *t = v;
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
    fn channels_last_and_back() {
        // One sample of 2 channels x 3 pixels.
        let x = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0];
        let mut y = [0.0; 6];
        transpose(1, 2, 3, 1, &x, &mut y, false);
        assert_eq!(y, [0.0, 10.0, 1.0, 11.0, 2.0, 12.0]);
        let mut back = [0.0; 6];
        transpose(1, 3, 2, 1, &y, &mut back, false);
        assert_eq!(back, x);
    }

    /// Matrices larger than a tile, with partial tiles on both sides, written and added, against
    /// the definition.
    #[test]
    fn tiles_match_the_definition() {
        for (rows, cols) in [(1, 1), (1, 37), (37, 1), (16, 16), (35, 50), (96, 49)] {
            let x: Vec<f32> = (0..2 * rows * cols).map(|v| v as f32).collect();
            let mut y = vec![0.5; x.len()];
            transpose(2, rows, cols, 1, &x, &mut y, false);
            let mut z = vec![0.5; x.len()];
            transpose(2, rows, cols, 1, &x, &mut z, true);
            for s in 0..2 {
                for r in 0..rows {
                    for c in 0..cols {
                        let (from, to) = (s * rows * cols + r * cols + c, s * rows * cols + c * rows + r);
                        assert_eq!(y[to], x[from], "{rows}x{cols} ({r}, {c})");
                        assert_eq!(z[to], x[from] + 0.5, "{rows}x{cols} ({r}, {c}) added");
                    }
                }
            }
        }
    }

    #[test]
    fn shuffles_channels_as_pytorch() {
        // nn.ChannelShuffle(2) on 6 channels of one pixel: [0, 3, 1, 4, 2, 5]; two samples.
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut y = vec![0.0; 12];
        transpose(2, 2, 3, 1, &x, &mut y, false);
        assert_eq!(y, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0, 6.0, 9.0, 7.0, 10.0, 8.0, 11.0]);
        // Blocks of 2 (a channel's map) move whole.
        let mut z = vec![0.0; 12];
        transpose(1, 2, 3, 2, &x, &mut z, false);
        assert_eq!(z, [0.0, 1.0, 6.0, 7.0, 2.0, 3.0, 8.0, 9.0, 4.0, 5.0, 10.0, 11.0]);
        transpose(1, 2, 3, 2, &x, &mut z, true);
        assert_eq!(z[2], 12.0);
    }
}

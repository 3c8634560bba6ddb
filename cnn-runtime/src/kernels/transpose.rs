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

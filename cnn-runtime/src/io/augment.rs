//! Data augmentation as torchvision's transforms do it, on flat `[c, h, w]` images:
//! [`RandomCrop`], [`RandomHorizontalFlip`], [`Normalize`], chained with [`Compose`]. A
//! [`Loader`](super::Loader) applies them to each sample as it makes a batch (see
//! [`Loader::augment`](super::Loader::augment)), drawing from a generator keyed by the
//! loader's seed, the epoch and the sample's index, so an image's augmentation does not depend
//! on the batch size or the thread count.
//!
//! ```
//! use cnn_runtime::data::augment::{Compose, Normalize, RandomCrop, RandomHorizontalFlip};
//! use cnn_runtime::data::{Dataset, Loader};
//!
//! let data = Dataset { images: vec![[0.5f32; 3 * 8 * 8]; 10], labels: vec![0; 10] };
//! let pipeline = Compose::new()
//!     .then(RandomCrop { size: (8, 8), padding: 2 })
//!     .then(RandomHorizontalFlip(0.5))
//!     .then(Normalize { mean: vec![0.5; 3], std: vec![0.25; 3] });
//! let mut loader = Loader::new(&data, 4, 0).augment([3, 8, 8], pipeline);
//! let (xs, _) = loader.next_batch().unwrap();
//! assert_eq!(xs.len(), 4);
//! ```

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A random (or fixed) change to one image.
pub trait Transform: Send + Sync + std::fmt::Debug {
    /// Changes one `[c, h, w]` image (`shape`) in place, drawing what it needs from `rng`.
    fn apply(&self, shape: [usize; 3], image: &mut [f32], rng: &mut ChaCha8Rng);

    /// Whether the transform fits images of `shape`; the message says why not.
    fn check(&self, shape: [usize; 3]) -> Result<(), String> {
        let _ = shape;
        Ok(())
    }
}

/// `transforms.RandomCrop(size, padding)`: the image padded with `padding` zeros on every side,
/// then a `size` window cut at a uniformly random place. The network's input size is fixed, so
/// `size` must be the image's own `(h, w)`: the crop then shifts the image by up to `padding`
/// pixels each way, filling with zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomCrop {
    /// `(height, width)` of the crop.
    pub size: (usize, usize),
    /// Zeros added on each side first.
    pub padding: usize,
}

/// The largest padding [`RandomCrop`] takes: a shift of any size up to it, added to a pixel's
/// position, fits an `isize`.
pub const MAX_PADDING: usize = (isize::MAX / 4) as usize;

impl Transform for RandomCrop {
    fn apply(&self, [c, h, w]: [usize; 3], image: &mut [f32], rng: &mut ChaCha8Rng) {
        let p = self.padding as i64;
        let (dy, dx) = (rng.random_range(-p..=p) as isize, rng.random_range(-p..=p) as isize);
        if (dy, dx) == (0, 0) {
            return;
        }
        // In place, without a copy (a loader augments every sample of every batch): each
        // pixel reads one `(dy, dx)` further on, so walking away from that direction reads
        // every source before it is overwritten.
        let (h, w) = (h as isize, w as isize);
        for plane in image.chunks_exact_mut((h * w) as usize).take(c) {
            for yi in 0..h {
                let y = if dy >= 0 { yi } else { h - 1 - yi };
                for xi in 0..w {
                    let x = if dx >= 0 { xi } else { w - 1 - xi };
                    let (sy, sx) = (y + dy, x + dx);
                    let inside = (0..h).contains(&sy) && (0..w).contains(&sx);
                    plane[(y * w + x) as usize] = if inside { plane[(sy * w + sx) as usize] } else { 0.0 };
                }
            }
        }
    }

    fn check(&self, [_, h, w]: [usize; 3]) -> Result<(), String> {
        // A shift is drawn from -padding..=padding and added to a pixel's position: both must
        // stay within isize.
        if self.padding > MAX_PADDING {
            return Err(format!(
                "RandomCrop padding {} is too large: it must be at most {MAX_PADDING} (a crop that far out holds only zeros)",
                self.padding
            ));
        }
        if self.size != (h, w) {
            return Err(format!(
                "RandomCrop size {:?} differs from the images' {h}x{w}: a network's input size is fixed, so crop to ({h}, {w}) with padding",
                self.size
            ));
        }
        Ok(())
    }
}

/// `transforms.RandomHorizontalFlip(p)`: the image mirrored left to right with probability `p`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomHorizontalFlip(pub f32);

impl Transform for RandomHorizontalFlip {
    fn apply(&self, [_, _, w]: [usize; 3], image: &mut [f32], rng: &mut ChaCha8Rng) {
        if rng.random::<f32>() < self.0 {
            image.chunks_exact_mut(w).for_each(<[f32]>::reverse);
        }
    }

    fn check(&self, _: [usize; 3]) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.0) {
            return Err(format!("RandomHorizontalFlip probability {} is outside [0, 1]", self.0));
        }
        Ok(())
    }
}

/// `transforms.Normalize(mean, std)`: each channel `c` becomes `(x - mean[c]) / std[c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    /// One mean per channel.
    pub mean: Vec<f32>,
    /// One standard deviation per channel.
    pub std: Vec<f32>,
}

impl Transform for Normalize {
    fn apply(&self, [c, h, w]: [usize; 3], image: &mut [f32], _: &mut ChaCha8Rng) {
        for (ch, plane) in image.chunks_exact_mut(h * w).take(c).enumerate() {
            let (m, s) = (self.mean[ch], self.std[ch]);
            plane.iter_mut().for_each(|v| *v = (*v - m) / s);
        }
    }

    fn check(&self, [c, _, _]: [usize; 3]) -> Result<(), String> {
        if self.mean.len() != c || self.std.len() != c {
            return Err(format!(
                "Normalize has {} means and {} deviations for {c} channels",
                self.mean.len(),
                self.std.len()
            ));
        }
        // NaN is refused too: it is not greater than zero.
        if let Some(s) = self.std.iter().find(|s| s.partial_cmp(&&0.0) != Some(std::cmp::Ordering::Greater)) {
            return Err(format!("Normalize deviation {s} is not positive"));
        }
        Ok(())
    }
}

/// `transforms.Compose([...])`: transforms applied in order.
#[derive(Debug, Default)]
pub struct Compose {
    steps: Vec<Box<dyn Transform>>,
}

impl Compose {
    /// No transform yet.
    pub fn new() -> Self {
        Compose::default()
    }

    /// This pipeline followed by `t`.
    pub fn then(mut self, t: impl Transform + 'static) -> Self {
        self.steps.push(Box::new(t));
        self
    }
}

impl Transform for Compose {
    fn apply(&self, shape: [usize; 3], image: &mut [f32], rng: &mut ChaCha8Rng) {
        self.steps.iter().for_each(|t| t.apply(shape, image, rng));
    }

    fn check(&self, shape: [usize; 3]) -> Result<(), String> {
        self.steps.iter().try_for_each(|t| t.check(shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn image() -> Vec<f32> {
        (0..2 * 4 * 5).map(|i| i as f32 + 1.0).collect()
    }

    #[test]
    fn random_crop_shifts_with_zero_fill_by_at_most_the_padding() {
        let crop = RandomCrop { size: (4, 5), padding: 1 };
        let mut seen = std::collections::HashSet::new();
        for seed in 0..60 {
            let mut x = image();
            crop.apply([2, 4, 5], &mut x, &mut ChaCha8Rng::seed_from_u64(seed));
            // Find the shift that explains the result.
            let shift = (-1..=1isize).flat_map(|dy| (-1..=1isize).map(move |dx| (dy, dx))).find(|&(dy, dx)| {
                (0..2 * 4 * 5).all(|i| {
                    let (c, y, x0) = (i / 20, (i % 20 / 5) as isize, (i % 5) as isize);
                    let (sy, sx) = (y + dy, x0 + dx);
                    let want = if (0..4).contains(&sy) && (0..5).contains(&sx) {
                        (c * 20) as f32 + (sy * 5 + sx) as f32 + 1.0
                    } else {
                        0.0
                    };
                    x[i] == want
                })
            });
            seen.insert(shift.expect("every result is a shift of at most one pixel"));
        }
        assert_eq!(seen.len(), 9, "all nine shifts occur: {seen:?}");
        assert!(crop.check([2, 4, 5]).is_ok());
        assert!(RandomCrop { size: (3, 5), padding: 1 }.check([2, 4, 5]).unwrap_err().contains("crop to (4, 5)"));
    }

    #[test]
    fn flip_normalize_and_compose() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut x = image();
        RandomHorizontalFlip(1.0).apply([2, 4, 5], &mut x, &mut rng);
        assert_eq!(&x[..5], &[5.0, 4.0, 3.0, 2.0, 1.0]);
        let mut y = image();
        RandomHorizontalFlip(0.0).apply([2, 4, 5], &mut y, &mut rng);
        assert_eq!(y, image());
        let norm = Normalize { mean: vec![1.0, 21.0], std: vec![2.0, 4.0] };
        let mut z = image();
        norm.apply([2, 4, 5], &mut z, &mut rng);
        assert_eq!((z[0], z[19], z[20], z[39]), (0.0, 9.5, 0.0, 4.75));
        let both = Compose::new().then(RandomHorizontalFlip(1.0)).then(norm.clone());
        let mut w = image();
        both.apply([2, 4, 5], &mut w, &mut rng);
        assert_eq!(w[0], (5.0 - 1.0) / 2.0, "flipped, then normalised");
        assert!(Compose::new().then(Normalize { mean: vec![0.0], std: vec![1.0] }).check([2, 4, 5]).is_err());
        assert!(RandomHorizontalFlip(1.5).check([2, 4, 5]).is_err());
    }
}

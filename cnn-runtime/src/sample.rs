//! One sample of a network's input or output, `[f32; N]`, as code generic over networks sees
//! it: a network's `Input` and `Output` types are arrays whose length is a literal, which a
//! generic function cannot name (`[f32; N::INPUT_LEN]` is not Rust), so it reaches them
//! through this trait instead.

use std::fmt::Debug;

mod sealed {
    pub trait Sealed {}
    impl<const N: usize> Sealed for [f32; N] {}
}

/// A sample, `[f32; N]`: what `cnn::Network::Input` and `cnn::Network::Output` are.
///
/// Implemented for every `[f32; N]` and nothing else (sealed), so a batch of samples is one
/// contiguous run of floats, sample after sample, as a PyTorch `[N, C, H, W]` tensor.
///
/// ```
/// use cnn_runtime::Sample;
///
/// fn mean<S: Sample>(xs: &[S]) -> f32 {
///     let all = S::flatten(xs);
///     all.iter().sum::<f32>() / all.len() as f32
/// }
/// assert_eq!(<[f32; 3]>::LEN, 3);
/// assert_eq!(mean(&[[1.0, 2.0], [3.0, 6.0]]), 3.0);
/// ```
pub trait Sample: sealed::Sealed + Copy + Debug + PartialEq + Send + Sync + 'static {
    /// Elements in one sample.
    const LEN: usize;

    /// The sample's elements.
    fn as_slice(&self) -> &[f32];

    /// The sample's elements, mutably.
    fn as_mut_slice(&mut self) -> &mut [f32];

    /// A batch's elements, sample after sample.
    fn flatten(xs: &[Self]) -> &[f32];

    /// A batch's elements, mutably.
    fn flatten_mut(xs: &mut [Self]) -> &mut [f32];

    /// `flat` read as samples, or `None` when its length is not a whole number of them.
    fn from_flat(flat: &[f32]) -> Option<&[Self]>;

    /// `n` samples of zeros, built on the heap (a large sample would not fit on the stack).
    fn zeroed_vec(n: usize) -> Vec<Self>;
}

impl<const N: usize> Sample for [f32; N] {
    const LEN: usize = N;

    fn as_slice(&self) -> &[f32] {
        self
    }

    fn as_mut_slice(&mut self) -> &mut [f32] {
        self
    }

    fn flatten(xs: &[Self]) -> &[f32] {
        xs.as_flattened()
    }

    fn flatten_mut(xs: &mut [Self]) -> &mut [f32] {
        xs.as_flattened_mut()
    }

    fn from_flat(flat: &[f32]) -> Option<&[Self]> {
        if N == 0 {
            return flat.is_empty().then_some(&[]);
        }
        match flat.as_chunks::<N>() {
            (whole, []) => Some(whole),
            _ => None,
        }
    }

    fn zeroed_vec(n: usize) -> Vec<Self> {
        crate::params::zeroed_rows(n)
    }
}

#[cfg(test)]
mod tests {
    use super::Sample;

    #[test]
    fn flat_views_are_the_samples_in_order() {
        let mut xs = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        assert_eq!(<[f32; 3]>::flatten(&xs), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        <[f32; 3]>::flatten_mut(&mut xs)[4] = 0.0;
        assert_eq!(xs[1], [4.0, 0.0, 6.0]);
        assert_eq!(<[f32; 3]>::from_flat(&[1.0, 2.0, 3.0]), Some(&[[1.0, 2.0, 3.0]][..]));
        assert_eq!(<[f32; 3]>::from_flat(&[1.0, 2.0]), None);
        assert_eq!(<[f32; 0]>::from_flat(&[]), Some(&[][..]));
        assert_eq!(<[f32; 0]>::from_flat(&[1.0]), None);
        assert_eq!(<[f32; 2]>::zeroed_vec(3), vec![[0.0; 2]; 3]);
        assert_eq!(xs[0].as_slice(), &[1.0, 2.0, 3.0]);
    }
}

//! One sample of a network's input or output, `[f32; N]`, as code generic over networks sees
//! it: a network's `Input` and `Output` types are arrays whose length is a literal, which a
//! generic function cannot name (`[f32; N::INPUT_LEN]` is not Rust), so it reaches them
//! through this trait instead.

use std::fmt::Debug;

mod sealed {
    pub trait Sealed {}
    impl<const N: usize> Sealed for [f32; N] {}
    impl<T: super::NamedOutputs> Sealed for T {}
}

/// A sample: what `cnn::Network::Input` and `cnn::Network::Output` are, `[f32; N]`, or for a
/// network with several named outputs the struct `cnn!` generates for them (one `[f32; N]`
/// field per output, laid out one after another).
///
/// Implemented for every `[f32; N]` and those structs, nothing else (sealed), so a batch of
/// samples is one contiguous run of floats, sample after sample, as a PyTorch `[N, C, H, W]`
/// tensor (for named outputs: each sample's outputs in order, each flattened).
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

    /// `flat` read as samples, mutably; `None` as for [`Self::from_flat`].
    fn from_flat_mut(flat: &mut [f32]) -> Option<&mut [Self]>;

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

    fn from_flat_mut(flat: &mut [f32]) -> Option<&mut [Self]> {
        if N == 0 {
            return flat.is_empty().then_some(&mut []);
        }
        match flat.as_chunks_mut::<N>() {
            (whole, []) => Some(whole),
            _ => None,
        }
    }

    fn zeroed_vec(n: usize) -> Vec<Self> {
        crate::params::zeroed_rows(n)
    }
}

/// One output of a network: its name (`""` for the one output of a network without named
/// outputs), its shape per sample and where its elements start in a sample of
/// `cnn::Network::Output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// The name written after `output` in the network (`p3`), the field of the outputs struct.
    pub name: &'static str,
    /// The shape of one sample's output, `[C, H, W]` or `[F]`.
    pub shape: &'static [usize],
    /// Its first element's index in a sample's flat elements.
    pub offset: usize,
}

impl OutputSpec {
    /// Elements of one sample's output.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the output has no elements (never, for a network that compiled).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This output's elements in one sample's flat elements.
    ///
    /// # Panics
    /// If `sample` is shorter than the output's end.
    #[track_caller]
    pub fn of<'a>(&self, sample: &'a [f32]) -> &'a [f32] {
        &sample[self.offset..self.offset + self.len()]
    }
}

/// The outputs struct `cnn!` generates for a network with several named outputs
/// (`output p3 ... output p4`): it is a [`Sample`] through this trait.
///
/// # Safety
/// `Self` must be `#[repr(C)]` with nothing but `[f32; N]` fields, `LEN` elements in all, so
/// that it is `LEN` contiguous `f32`s without padding and every bit pattern of them (all zeros
/// included) is a valid value.
#[doc(hidden)]
pub unsafe trait NamedOutputs: Copy + Debug + PartialEq + Send + Sync + 'static {
    /// Elements in all fields.
    const LEN: usize;
}

impl<T: NamedOutputs> Sample for T {
    const LEN: usize = <T as NamedOutputs>::LEN;

    fn as_slice(&self) -> &[f32] {
        // SAFETY: by `NamedOutputs`' contract `T` is `LEN` contiguous, initialised `f32`s.
        unsafe { std::slice::from_raw_parts((self as *const T).cast::<f32>(), <T as NamedOutputs>::LEN) }
    }

    fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as `as_slice`, and any `f32`s written keep `T` valid.
        unsafe { std::slice::from_raw_parts_mut((self as *mut T).cast::<f32>(), <T as NamedOutputs>::LEN) }
    }

    fn flatten(xs: &[Self]) -> &[f32] {
        // SAFETY: `T` is `LEN` `f32`s without padding, so `xs.len()` of them one after another
        // are `xs.len() * LEN` contiguous `f32`s (the length cannot overflow: they exist).
        unsafe { std::slice::from_raw_parts(xs.as_ptr().cast::<f32>(), xs.len() * <T as NamedOutputs>::LEN) }
    }

    fn flatten_mut(xs: &mut [Self]) -> &mut [f32] {
        // SAFETY: as `flatten`; any `f32`s written keep every `T` valid.
        unsafe { std::slice::from_raw_parts_mut(xs.as_mut_ptr().cast::<f32>(), xs.len() * <T as NamedOutputs>::LEN) }
    }

    fn from_flat(flat: &[f32]) -> Option<&[Self]> {
        let len = <T as NamedOutputs>::LEN;
        if len == 0 || !flat.len().is_multiple_of(len) || flat.as_ptr().align_offset(std::mem::align_of::<T>()) != 0 {
            return None;
        }
        // SAFETY: `flat` holds `flat.len() / LEN` whole `T`s' worth of `f32`s at `T`'s alignment
        // (which is `f32`'s: `T` has only `f32` arrays), and every bit pattern is a valid `T`.
        Some(unsafe { std::slice::from_raw_parts(flat.as_ptr().cast::<T>(), flat.len() / len) })
    }

    fn from_flat_mut(flat: &mut [f32]) -> Option<&mut [Self]> {
        let len = <T as NamedOutputs>::LEN;
        if len == 0 || !flat.len().is_multiple_of(len) || flat.as_ptr().align_offset(std::mem::align_of::<T>()) != 0 {
            return None;
        }
        // SAFETY: as `from_flat`, borrowed mutably: any `f32`s written keep every `T` valid.
        Some(unsafe { std::slice::from_raw_parts_mut(flat.as_mut_ptr().cast::<T>(), flat.len() / len) })
    }

    fn zeroed_vec(n: usize) -> Vec<Self> {
        let mut v: Vec<T> = Vec::with_capacity(n);
        // SAFETY: the capacity holds `n` values; all-zero bytes are a valid `T` (`f32`s of 0.0).
        unsafe {
            std::ptr::write_bytes(v.as_mut_ptr(), 0, n);
            v.set_len(n);
        }
        v
    }
}

/// An outputs struct of zeros, boxed (without building it on the stack), or by value.
#[doc(hidden)]
pub fn zeroed_outputs_box<T: NamedOutputs>() -> Box<T> {
    let layout = std::alloc::Layout::new::<T>();
    if layout.size() == 0 {
        return Box::new(zeroed_outputs());
    }
    // SAFETY: the layout's size is not zero.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `ptr` was allocated by the global allocator with `T`'s layout, as `Box` does, and
    // holds all-zero bytes: a valid `T` by `NamedOutputs`' contract.
    unsafe { Box::from_raw(ptr) }
}

/// An outputs struct of zeros, by value (for small ones).
#[doc(hidden)]
pub fn zeroed_outputs<T: NamedOutputs>() -> T {
    // SAFETY: all-zero bytes are a valid `T` by `NamedOutputs`' contract.
    unsafe { std::mem::zeroed() }
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

    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Two {
        a: [f32; 2],
        b: [f32; 3],
    }

    // SAFETY: `#[repr(C)]`, two `f32` arrays, 5 elements.
    unsafe impl super::NamedOutputs for Two {
        const LEN: usize = 5;
    }

    #[test]
    fn named_outputs_are_their_fields_in_order() {
        let mut xs = [Two { a: [1.0, 2.0], b: [3.0, 4.0, 5.0] }, Two { a: [6.0, 7.0], b: [8.0, 9.0, 10.0] }];
        assert_eq!(<Two as Sample>::LEN, 5);
        assert_eq!(Two::flatten(&xs), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        Two::flatten_mut(&mut xs)[7] = -1.0;
        assert_eq!(xs[1].b, [-1.0, 9.0, 10.0]);
        xs[0].as_mut_slice()[1] = 0.5;
        assert_eq!(xs[0].a, [1.0, 0.5]);
        let flat = Two::flatten(&xs).to_vec();
        assert_eq!(Two::from_flat(&flat), Some(&xs[..]));
        assert_eq!(Two::from_flat(&flat[..4]), None);
        assert_eq!(Two::zeroed_vec(2), vec![Two { a: [0.0; 2], b: [0.0; 3] }; 2]);
        assert_eq!(*super::zeroed_outputs_box::<Two>(), super::zeroed_outputs::<Two>());
        let spec = super::OutputSpec { name: "b", shape: &[3, 1, 1], offset: 2 };
        assert_eq!(spec.of(xs[1].as_slice()), &[-1.0, 9.0, 10.0]);
    }
}

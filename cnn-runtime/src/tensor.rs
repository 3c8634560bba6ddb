//! An owned tensor: what a network hands out when it shows a layer's output.

/// A tensor with its shape: `data` holds the elements in row-major order (NCHW's `[c, h, w]`
/// for a feature map of one sample, so the same bytes as a contiguous PyTorch tensor).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The size of each dimension.
    pub shape: Vec<usize>,
    /// The elements, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

impl Tensor {
    /// Plane `i` of a `[c, h, w]` tensor (one channel's feature map), `h · w` values.
    ///
    /// # Panics
    /// If the tensor is not 3-dimensional or `i` is not below `c`.
    #[track_caller]
    pub fn plane(&self, i: usize) -> &[f32] {
        let [c, h, w] = self.shape[..] else { panic!("plane: the tensor has shape {:?}, not [c, h, w]", self.shape) };
        assert!(i < c, "plane {i} of {c}");
        &self.data[i * h * w..(i + 1) * h * w]
    }
}

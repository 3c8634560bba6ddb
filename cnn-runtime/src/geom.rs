//! Layer geometry known at compile time.
//!
//! The `cnn!` macro emits one zero-sized type per layer and implements one of these traits for it,
//! so each kernel is monomorphized for its layer: every loop bound is a constant the optimizer
//! sees. The `*Spec` structs hold the numbers; the traits attach a spec to a type.

/// Shape of a 2-D convolution over one NCHW sample, as `nn.Conv2d` defines it
/// (dilation 1, one group).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dSpec {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Zero padding above and below.
    pub ph: usize,
    /// Zero padding left and right.
    pub pw: usize,
}

impl Conv2dSpec {
    /// Output height: `(h_in + 2 ph - kh) / sh + 1`, floor division as in PyTorch.
    pub const fn h_out(&self) -> usize {
        (self.h_in + 2 * self.ph - self.kh) / self.sh + 1
    }
    /// Output width: `(w_in + 2 pw - kw) / sw + 1`.
    pub const fn w_out(&self) -> usize {
        (self.w_in + 2 * self.pw - self.kw) / self.sw + 1
    }
    /// Elements of one input sample.
    pub const fn in_len(&self) -> usize {
        self.c_in * self.h_in * self.w_in
    }
    /// Elements of one output sample.
    pub const fn out_len(&self) -> usize {
        self.c_out * self.h_out() * self.w_out()
    }
    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    pub const fn col_rows(&self) -> usize {
        self.c_in * self.kh * self.kw
    }
    /// Elements of one sample's im2col matrix.
    pub const fn col_len(&self) -> usize {
        self.col_rows() * self.h_out() * self.w_out()
    }
    /// Weight elements, layout `[c_out, c_in, kh, kw]`.
    pub const fn weight_len(&self) -> usize {
        self.c_out * self.col_rows()
    }
    /// Whether the spec describes a convolution with at least one output pixel.
    pub const fn is_valid(&self) -> bool {
        self.c_in > 0
            && self.c_out > 0
            && self.kh > 0
            && self.kw > 0
            && self.sh > 0
            && self.sw > 0
            && self.h_in + 2 * self.ph >= self.kh
            && self.w_in + 2 * self.pw >= self.kw
    }
}

/// A type standing for one convolution layer.
pub trait Conv2dGeom {
    /// The layer's numbers.
    const SPEC: Conv2dSpec;
}

/// Shape of a 2-D max pooling over one NCHW sample, as `nn.MaxPool2d(kernel_size, stride)`
/// defines it (no padding, dilation 1, floor mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dSpec {
    /// Channels (unchanged by pooling).
    pub c: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
}

impl Pool2dSpec {
    /// Output height: `(h_in - kh) / sh + 1`.
    pub const fn h_out(&self) -> usize {
        (self.h_in - self.kh) / self.sh + 1
    }
    /// Output width: `(w_in - kw) / sw + 1`.
    pub const fn w_out(&self) -> usize {
        (self.w_in - self.kw) / self.sw + 1
    }
    /// Elements of one input sample.
    pub const fn in_len(&self) -> usize {
        self.c * self.h_in * self.w_in
    }
    /// Elements of one output sample.
    pub const fn out_len(&self) -> usize {
        self.c * self.h_out() * self.w_out()
    }
    /// Whether the spec describes a pooling with at least one output pixel.
    pub const fn is_valid(&self) -> bool {
        self.c > 0
            && self.kh > 0
            && self.kw > 0
            && self.sh > 0
            && self.sw > 0
            && self.h_in >= self.kh
            && self.w_in >= self.kw
    }
}

/// A type standing for one max-pooling layer.
pub trait Pool2dGeom {
    /// The layer's numbers.
    const SPEC: Pool2dSpec;
}

/// Shape of a fully connected layer, as `nn.Linear(in_features, out_features)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinearSpec {
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
}

impl LinearSpec {
    /// Weight elements, layout `[out_features, in_features]`.
    pub const fn weight_len(&self) -> usize {
        self.in_features * self.out_features
    }
}

/// A type standing for one linear layer.
pub trait LinearGeom {
    /// The layer's numbers.
    const SPEC: LinearSpec;
}

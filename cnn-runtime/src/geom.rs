//! Layer geometry known at compile time.
//!
//! The `cnn!` macro emits one zero-sized type per layer and implements one of these traits for it,
//! so each kernel is monomorphized for its layer: every loop bound is a constant the optimizer
//! sees. The `*Spec` structs hold the numbers; the traits attach a spec to a type.

/// Shape of a 2-D convolution over one NCHW sample, as `nn.Conv2d` defines it.
///
/// Padding may differ between the two sides of an axis (`padding='same'` with an even kernel
/// pads one more row below than above, as PyTorch does).
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
    /// Zero padding above.
    pub ph: usize,
    /// Zero padding on the left.
    pub pw: usize,
    /// Zero padding below.
    pub ph_end: usize,
    /// Zero padding on the right.
    pub pw_end: usize,
    /// Vertical dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Channel groups: both channel counts are divisible by it.
    pub groups: usize,
}

impl Conv2dSpec {
    /// A convolution with symmetric padding, no dilation and one group.
    pub const fn simple(
        c_in: usize,
        c_out: usize,
        h_in: usize,
        w_in: usize,
        k: (usize, usize),
        s: (usize, usize),
        p: (usize, usize),
    ) -> Self {
        Conv2dSpec {
            c_in,
            c_out,
            h_in,
            w_in,
            kh: k.0,
            kw: k.1,
            sh: s.0,
            sw: s.1,
            ph: p.0,
            pw: p.1,
            ph_end: p.0,
            pw_end: p.1,
            dh: 1,
            dw: 1,
            groups: 1,
        }
    }
    /// Output height: `(h_in + pads - dh (kh - 1) - 1) / sh + 1`, floor division as in PyTorch.
    pub const fn h_out(&self) -> usize {
        (self.h_in + self.ph + self.ph_end - self.dh * (self.kh - 1) - 1) / self.sh + 1
    }
    /// Output width.
    pub const fn w_out(&self) -> usize {
        (self.w_in + self.pw + self.pw_end - self.dw * (self.kw - 1) - 1) / self.sw + 1
    }
    /// Elements of one input sample.
    pub const fn in_len(&self) -> usize {
        self.c_in * self.h_in * self.w_in
    }
    /// Elements of one output sample.
    pub const fn out_len(&self) -> usize {
        self.c_out * self.h_out() * self.w_out()
    }
    /// Input channels of one group.
    pub const fn group_in(&self) -> usize {
        self.c_in / self.groups
    }
    /// Output channels of one group.
    pub const fn group_out(&self) -> usize {
        self.c_out / self.groups
    }
    /// Rows of one group's im2col matrix: one per (input channel of the group, kernel row,
    /// kernel column); the whole matrix stacks the groups' rows.
    pub const fn group_rows(&self) -> usize {
        self.group_in() * self.kh * self.kw
    }
    /// Rows of the im2col matrix, all groups.
    pub const fn col_rows(&self) -> usize {
        self.c_in * self.kh * self.kw
    }
    /// Elements of one sample's im2col matrix.
    pub const fn col_len(&self) -> usize {
        self.col_rows() * self.h_out() * self.w_out()
    }
    /// Weight elements, layout `[c_out, c_in / groups, kh, kw]`.
    pub const fn weight_len(&self) -> usize {
        self.c_out * self.group_rows()
    }
    /// Whether the input is read as it lies: a 1x1 kernel, stride 1, no padding, so one sample's
    /// NCHW input already is its `[c_in, h·w]` im2col matrix.
    pub const fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.sh == 1
            && self.sw == 1
            && self.ph == 0
            && self.pw == 0
            && self.ph_end == 0
            && self.pw_end == 0
    }
    /// Whether the spec describes a convolution with at least one output pixel.
    pub const fn is_valid(&self) -> bool {
        self.c_in > 0
            && self.c_out > 0
            && self.groups > 0
            && self.c_in.is_multiple_of(self.groups)
            && self.c_out.is_multiple_of(self.groups)
            && self.kh > 0
            && self.kw > 0
            && self.sh > 0
            && self.sw > 0
            && self.dh > 0
            && self.dw > 0
            && self.h_in + self.ph + self.ph_end > self.dh * (self.kh - 1)
            && self.w_in + self.pw + self.pw_end > self.dw * (self.kw - 1)
    }
}

/// A type standing for one convolution layer.
pub trait Conv2dGeom {
    /// The layer's numbers.
    const SPEC: Conv2dSpec;
}

/// Shape of a 2-D pooling over one NCHW sample: `nn.MaxPool2d`, `nn.AvgPool2d` (with padding
/// and `ceil_mode`) or their adaptive forms.
///
/// The output size is given rather than derived, because `ceil_mode` and the adaptive forms
/// each have their own rule; the macro computes it with PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dSpec {
    /// Channels (unchanged by pooling).
    pub c: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output height.
    pub h_out: usize,
    /// Output width.
    pub w_out: usize,
    /// Window height (unused when adaptive).
    pub kh: usize,
    /// Window width (unused when adaptive).
    pub kw: usize,
    /// Vertical stride (unused when adaptive).
    pub sh: usize,
    /// Horizontal stride (unused when adaptive).
    pub sw: usize,
    /// Padding above and below (unused when adaptive).
    pub ph: usize,
    /// Padding left and right (unused when adaptive).
    pub pw: usize,
    /// Adaptive pooling: output cell `i` of an axis of length `len` covers
    /// `floor(i·len/out) .. ceil((i+1)·len/out)`.
    pub adaptive: bool,
    /// Average pooling divides by the window including its padding (`count_include_pad=True`).
    pub count_include_pad: bool,
    /// Vertical dilation of a max pool's window (1: contiguous; PyTorch's `dilation`).
    pub dh: usize,
    /// Horizontal dilation of a max pool's window.
    pub dw: usize,
    /// Average pooling divides by this instead of the window's size when not 0 (PyTorch's
    /// `divisor_override`).
    pub divisor_override: usize,
}

/// One output cell's window along one axis: the input range it covers, clipped to the input,
/// and its length before clipping to the input (but after clipping to the padded input), which
/// is what `count_include_pad` divides by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First input index.
    pub lo: usize,
    /// One past the last input index.
    pub hi: usize,
    /// Window length counting padding.
    pub padded: usize,
}

impl Pool2dSpec {
    /// A max pooling without padding, floor mode, as `nn.MaxPool2d(k, s)`.
    pub const fn simple(c: usize, h_in: usize, w_in: usize, k: (usize, usize), s: (usize, usize)) -> Self {
        Pool2dSpec {
            c,
            h_in,
            w_in,
            h_out: (h_in - k.0) / s.0 + 1,
            w_out: (w_in - k.1) / s.1 + 1,
            kh: k.0,
            kw: k.1,
            sh: s.0,
            sw: s.1,
            ph: 0,
            pw: 0,
            adaptive: false,
            count_include_pad: true,
            dh: 1,
            dw: 1,
            divisor_override: 0,
        }
    }
    /// Whether a max pool's window has holes (a dilation above 1).
    pub const fn is_dilated(&self) -> bool {
        !self.adaptive && (self.dh > 1 || self.dw > 1)
    }
    /// Elements of one input sample.
    pub const fn in_len(&self) -> usize {
        self.c * self.h_in * self.w_in
    }
    /// Elements of one output sample.
    pub const fn out_len(&self) -> usize {
        self.c * self.h_out * self.w_out
    }
    /// The window of output row `o`.
    #[inline(always)]
    pub const fn row(&self, o: usize) -> Window {
        window(self.h_in, self.h_out, self.kh, self.sh, self.ph, self.adaptive, o)
    }
    /// The window of output column `o`.
    #[inline(always)]
    pub const fn col(&self, o: usize) -> Window {
        window(self.w_in, self.w_out, self.kw, self.sw, self.pw, self.adaptive, o)
    }
    /// Whether every output cell's window holds at least one input element.
    pub const fn is_valid(&self) -> bool {
        if self.c == 0 || self.h_in == 0 || self.w_in == 0 || self.h_out == 0 || self.w_out == 0 {
            return false;
        }
        if self.adaptive {
            return true;
        }
        if self.kh == 0 || self.kw == 0 || self.sh == 0 || self.sw == 0 {
            return false;
        }
        let (r, c) = (self.row(self.h_out - 1), self.col(self.w_out - 1));
        r.lo < r.hi && c.lo < c.hi
    }
}

#[inline(always)]
const fn window(len: usize, out: usize, k: usize, s: usize, p: usize, adaptive: bool, o: usize) -> Window {
    if adaptive {
        let lo = o * len / out;
        let hi = ((o + 1) * len).div_ceil(out);
        return Window { lo, hi, padded: hi - lo };
    }
    // In padded coordinates the window is [o·s, o·s + k), cut at the padded input's end.
    let start = o * s;
    let mut end = start + k;
    if end > len + 2 * p {
        end = len + 2 * p;
    }
    let lo = start.saturating_sub(p);
    let hi = end.saturating_sub(p);
    let hi = if hi > len { len } else { hi };
    Window { lo, hi: if hi > lo { hi } else { lo }, padded: end - start }
}

/// A type standing for one pooling layer.
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
    /// Rows the layer multiplies per sample: 1 for a flat input, the pixels of a channels-last
    /// map for a per-pixel layer (ConvNeXt's), whose product is then a full matrix product even
    /// at batch 1.
    const ROWS_PER_SAMPLE: usize = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_windows_follow_pytorch() {
        // MaxPool2d(3, 2, padding=1) on 5: windows [-1, 2), [1, 4), [3, 6) -> clipped.
        let w: Vec<Window> = (0..3).map(|o| window(5, 3, 3, 2, 1, false, o)).collect();
        assert_eq!(
            w,
            [
                Window { lo: 0, hi: 2, padded: 3 },
                Window { lo: 1, hi: 4, padded: 3 },
                Window { lo: 3, hi: 5, padded: 3 }
            ]
        );
        // AvgPool2d(2, 2, ceil_mode=True) on 5: the last window [4, 6) is cut at the input's
        // end, and counts 1 element either way.
        assert_eq!(window(5, 3, 2, 2, 0, false, 2), Window { lo: 4, hi: 5, padded: 1 });
        // Adaptive 5 -> 3: [0, 2), [1, 4), [3, 5).
        let a: Vec<(usize, usize)> = (0..3).map(|o| window(5, 3, 0, 0, 0, true, o)).map(|w| (w.lo, w.hi)).collect();
        assert_eq!(a, [(0, 2), (1, 4), (3, 5)]);
    }
}

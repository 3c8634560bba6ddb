//! Shape inference with PyTorch's formulas, free of any macro machinery so it can be unit
//! tested as plain functions. Every function checks its arithmetic and returns what went wrong
//! instead of panicking.

use std::fmt;

/// The shape of one sample's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `[channels, height, width]`.
    Chw(usize, usize, usize),
    /// `[features]`, with the `[c, h, w]` it was flattened from, if any.
    Flat(usize, Option<(usize, usize, usize)>),
    /// `[height, width, channels]`: channels-last, after `permute(0, 2, 3, 1)`.
    Hwc(usize, usize, usize),
    /// `[channels, length]`: what `conv1d` reads and writes (after a `view`).
    Cl(usize, usize),
}

impl Shape {
    /// Elements in one sample.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Chw(c, h, w) => c * h * w,
            Shape::Flat(n, _) => n,
            Shape::Hwc(h, w, c) => h * w * c,
            Shape::Cl(c, l) => c * l,
        }
    }

    /// The channels (features of a flat value): what a concatenation joins and a gate scales.
    /// Channels (features of a flat value) and elements per channel of one sample: what a
    /// normalization over channels walks.
    pub fn channels_plane(&self) -> (usize, usize) {
        match *self {
            Shape::Chw(c, h, w) | Shape::Hwc(h, w, c) => (c, h * w),
            Shape::Cl(c, l) => (c, l),
            Shape::Flat(c, _) => (c, 1),
        }
    }

    pub fn channels(&self) -> usize {
        match *self {
            Shape::Chw(c, ..) | Shape::Hwc(_, _, c) | Shape::Flat(c, _) | Shape::Cl(c, _) => c,
        }
    }

    /// The same shape with `c` channels (features).
    pub fn with_channels(&self, c: usize) -> Shape {
        match *self {
            Shape::Chw(_, h, w) => Shape::Chw(c, h, w),
            Shape::Hwc(h, w, _) => Shape::Hwc(h, w, c),
            Shape::Cl(_, l) => Shape::Cl(c, l),
            Shape::Flat(..) => Shape::Flat(c, None),
        }
    }

    /// Elements per channel (1 for a flat value), in the layout the value is stored in.
    pub fn plane(&self) -> usize {
        match *self {
            Shape::Chw(_, h, w) | Shape::Hwc(h, w, _) => h * w,
            Shape::Cl(_, l) => l,
            Shape::Flat(..) => 1,
        }
    }

    /// The dimensions, as PyTorch would print them without the batch.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Chw(c, h, w) => vec![c, h, w],
            Shape::Flat(n, _) => vec![n],
            Shape::Hwc(h, w, c) => vec![h, w, c],
            Shape::Cl(c, l) => vec![c, l],
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Shape::Chw(c, h, w) => write!(f, "[{c}, {h}, {w}]"),
            Shape::Flat(n, _) => write!(f, "[{n}]"),
            Shape::Hwc(h, w, c) => write!(f, "[{h}, {w}, {c}] (channels-last)"),
            Shape::Cl(c, l) => write!(f, "[{c}, {l}]"),
        }
    }
}

/// Elements above which an activation or parameter tensor is refused: its `[f32; N]` would not
/// be a sensible type, and size arithmetic must not overflow.
pub const MAX_ELEMENTS: usize = 1 << 32;

/// A height-width pair: kernel, stride or padding.
pub type Hw = (usize, usize);

/// Something that makes a layer's shape wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeError {
    /// Declared input channels differ from the incoming ones.
    Channels { expected: usize, found: usize, input: Shape },
    /// Declared input features differ from the incoming ones.
    Features { expected: usize, found: usize, input: Shape },
    /// The (dilated) window does not fit the (padded) input; `padded` is `None` where the
    /// padded size itself overflows.
    Window { kernel: Hw, padded: Option<Hw>, input: Shape, padding: Hw },
    /// A spatial layer after `flatten`.
    NotSpatial { input: Shape },
    /// `linear` on a `[c, h, w]` input.
    NotFlat { input: Shape },
    /// A layer that needs `[c, h, w]` on a channels-last value.
    ChannelsLast { input: Shape },
    /// `layernorm` (over the last dimension) on a `[c, h, w]` value.
    LastDim { input: Shape },
    /// Branches whose outputs cannot be joined: shapes of the first branch and of this one.
    Join { branch: usize, first: Shape, this: Shape, how: &'static str },
    /// A gate whose body's output neither is `[C, 1, 1]` nor the input's shape.
    Gate { input: Shape, body: Shape },
    /// Channels not divisible into `parts` (split chunks, shuffle groups).
    Divide { channels: usize, parts: usize, what: &'static str },
    /// A dimension that is the batch's or past the value's rank (softmax's `dim`).
    Dim { dim: i64, input: Shape },
    /// A declared size that differs from the incoming one (layer norm, scale).
    Size { expected: usize, found: usize, input: Shape },
    /// A permutation other than the two that switch layouts, or one that does not apply here.
    Permute { dims: [usize; 4], input: Shape },
    /// A zero kernel, stride or channel count that slipped past argument checks.
    Zero,
    /// The output or the weights would exceed [`MAX_ELEMENTS`]: what, and its sizes.
    TooLarge { what: &'static str, dims: Vec<usize> },
    /// A channel count not divisible by `groups`.
    Groups { channels: usize, groups: usize, what: &'static str },
    /// `padding=same` with a stride other than 1.
    SameStride,
    /// Pool padding above half the (dilated) window.
    PoolPadding { padding: Hw, kernel: Hw },
    /// `batchnorm1d` / `batchnorm2d` on the other kind of shape.
    BatchNormKind { written: &'static str, input: Shape },
    /// A transposed convolution's `output_padding` not below its stride or its dilation.
    OutputPadding { output_padding: Hw, stride: Hw, dilation: Hw },
    /// A transposed convolution's `output_padding` that passes the padding by the stride or
    /// more (only a dilation above the stride allows it in PyTorch).
    OutputPaddingPastStride { output_padding: Hw, padding: Hw, stride: Hw },
    /// A transposed convolution whose padding crops away its whole output: `full` is the size
    /// before cropping.
    Cropped { full: Hw, padding: Hw, input: Shape },
    /// `upsample` given both `size` and `scale_factor` (`both`), or neither.
    UpsampleTarget { both: bool },
    /// `align_corners=true` in a mode that does not interpolate.
    AlignCorners { mode: &'static str },
    /// A scale factor that leaves no pixels (`[h, w]` after scaling).
    Vanished { scale: String, input: Shape },
    /// Padding that the mode cannot take on this input: `[left, right, top, bottom]`, and
    /// whether the limit is the size itself (`circular`) or one less (`reflect`).
    PadTooLarge { mode: &'static str, padding: [usize; 4], input: Shape, inclusive: bool },
    /// A height or width not divisible by a factor (`pixel_unshuffle`).
    Indivisible { what: &'static str, size: usize, by: usize, input: Shape },
    /// A mistake a layer kind words itself, in its own file: the message and the hint.
    Own { message: String, hint: Option<String> },
}

/// The outcome of one layer: its output shape if it has one, and what was wrong.
///
/// Some mistakes still leave the output defined (a wrong declared channel count), so checking
/// goes on with it and later mistakes are reported in the same compile.
#[derive(Debug, PartialEq, Eq)]
pub struct Inferred {
    pub output: Option<Shape>,
    pub errors: Vec<ShapeError>,
}

impl Inferred {
    pub fn ok(output: Shape) -> Self {
        Inferred { output: Some(output), errors: Vec::new() }
    }
    pub fn fail(error: ShapeError) -> Self {
        Inferred { output: None, errors: vec![error] }
    }
}

/// A layer that keeps its input's shape and declares its channels (`None` for `_`): the input,
/// and an error when the declared count differs (checking goes on with the input's shape).
pub fn keep_channels(input: Shape, declared: Option<usize>) -> Inferred {
    let found = input.channels();
    match declared.filter(|&c| c != found) {
        Some(expected) => Inferred { output: Some(input), errors: vec![ShapeError::Size { expected, found, input }] },
        None => Inferred::ok(input),
    }
}

/// The error for a layer that needs `[c, h, w]` on `input`.
pub fn not_spatial(input: Shape) -> ShapeError {
    match input {
        Shape::Hwc(..) => ShapeError::ChannelsLast { input },
        _ => ShapeError::NotSpatial { input },
    }
}

pub fn checked_len(dims: &[usize], what: &'static str) -> Result<usize, ShapeError> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| ShapeError::TooLarge { what, dims: dims.to_vec() })
}

/// Output length along one axis: `(len + pads - span) / stride + 1` where `span = d (k - 1) + 1`,
/// or `None` if the window does not fit.
pub fn window_out(
    len: usize,
    k: usize,
    stride: usize,
    pad_before: usize,
    pad_after: usize,
    dilation: usize,
) -> Option<usize> {
    let padded = len.checked_add(pad_before)?.checked_add(pad_after)?;
    let span = dilation.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    if stride == 0 || padded < span {
        return None;
    }
    Some((padded - span) / stride + 1)
}

/// How a convolution pads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPadding {
    /// `(h, w)` on both sides.
    Symmetric(Hw),
    /// `'same'`: total `d (k - 1)`, the extra one after.
    Same,
    /// TensorFlow's `'SAME'` (timm's `Conv2dSame`, `padding='same'` of its `tf_` models): an
    /// output of `ceil(in / s)`, the padding that takes split as `'same'` splits it, the extra
    /// one after; any stride.
    SameTf,
}

/// A convolution's padding, resolved: `(top, left, bottom, right)`.
pub type Pads = (usize, usize, usize, usize);

/// `nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, groups)` on `input`; `c_in` is
/// `None` for `_`. Returns the inference and the resolved padding.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    input: Shape,
    c_in: Option<usize>,
    c_out: usize,
    kernel: Hw,
    stride: Hw,
    padding: ConvPadding,
    dilation: Hw,
    groups: usize,
) -> (Inferred, Pads) {
    let Shape::Chw(c, h, w) = input else {
        return (Inferred::fail(not_spatial(input)), (0, 0, 0, 0));
    };
    let mut errors = Vec::new();
    if let Some(expected) = c_in.filter(|&e| e != c) {
        errors.push(ShapeError::Channels { expected, found: c, input });
    }
    if c_out == 0
        || kernel.0 == 0
        || kernel.1 == 0
        || stride.0 == 0
        || stride.1 == 0
        || dilation.0 == 0
        || dilation.1 == 0
        || groups == 0
    {
        errors.push(ShapeError::Zero);
        return (Inferred { output: None, errors }, (0, 0, 0, 0));
    }
    let c_in = c_in.unwrap_or(c);
    for (channels, what) in [(c_in, "input"), (c_out, "output")] {
        if !channels.is_multiple_of(groups) {
            errors.push(ShapeError::Groups { channels, groups, what });
        }
    }
    let pads = match padding {
        ConvPadding::Symmetric((ph, pw)) => (ph, pw, ph, pw),
        ConvPadding::Same => {
            if stride != (1, 1) {
                errors.push(ShapeError::SameStride);
            }
            let th = dilation.0.saturating_mul(kernel.0 - 1);
            let tw = dilation.1.saturating_mul(kernel.1 - 1);
            (th / 2, tw / 2, th - th / 2, tw - tw / 2)
        }
        ConvPadding::SameTf => {
            // max((ceil(in / s) - 1) s + (k - 1) d + 1 - in, 0), as timm's `get_same_padding`.
            let total = |size: usize, k: usize, s: usize, d: usize| {
                (size.div_ceil(s) - 1)
                    .saturating_mul(s)
                    .saturating_add(d.saturating_mul(k - 1))
                    .saturating_add(1)
                    .saturating_sub(size)
            };
            let th = total(h, kernel.0, stride.0, dilation.0);
            let tw = total(w, kernel.1, stride.1, dilation.1);
            (th / 2, tw / 2, th - th / 2, tw - tw / 2)
        }
    };
    if let Err(e) = checked_len(&[c_out, c.max(1) / groups.max(1), kernel.0, kernel.1], "weight") {
        errors.push(e);
        return (Inferred { output: None, errors }, pads);
    }
    let out_h = window_out(h, kernel.0, stride.0, pads.0, pads.2, dilation.0);
    let out_w = window_out(w, kernel.1, stride.1, pads.1, pads.3, dilation.1);
    let output = match (out_h, out_w) {
        // The unfolded input (one row per input channel and kernel tap, one column per output
        // pixel) bounds the scratch memory and the multiply-adds, so that no size sum overflows.
        (Some(ho), Some(wo)) => match checked_len(&[c_out, ho, wo], "output").and(checked_len(
            &[c_in, kernel.0, kernel.1, ho, wo],
            "unfolded input [input channels, kernel height, kernel width, output height, output width]",
        )) {
            Ok(_) => Some(Shape::Chw(c_out, ho, wo)),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        _ => {
            let padded = h
                .checked_add(pads.0)
                .and_then(|h| h.checked_add(pads.2))
                .zip(w.checked_add(pads.1).and_then(|w| w.checked_add(pads.3)));
            let span = |k: usize, d: usize| d.saturating_mul(k - 1).saturating_add(1);
            errors.push(ShapeError::Window {
                kernel: (span(kernel.0, dilation.0), span(kernel.1, dilation.1)),
                padded,
                input,
                padding: (pads.0, pads.1),
            });
            None
        }
    };
    (Inferred { output, errors }, pads)
}

/// `nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding, output_padding, groups, dilation)`
/// on `input`; `c_in` is `None` for `_`. Per axis the output is `(len - 1) s + d (k - 1) +
/// output_padding + 1 - 2 padding`.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d(
    input: Shape,
    c_in: Option<usize>,
    c_out: usize,
    kernel: Hw,
    stride: Hw,
    padding: Hw,
    output_padding: Hw,
    dilation: Hw,
    groups: usize,
) -> Inferred {
    let Shape::Chw(c, h, w) = input else {
        return Inferred::fail(not_spatial(input));
    };
    let mut errors = Vec::new();
    if let Some(expected) = c_in.filter(|&e| e != c) {
        errors.push(ShapeError::Channels { expected, found: c, input });
    }
    if [c_out, kernel.0, kernel.1, stride.0, stride.1, dilation.0, dilation.1, groups].contains(&0) {
        errors.push(ShapeError::Zero);
        return Inferred { output: None, errors };
    }
    let c_in = c_in.unwrap_or(c);
    for (channels, what) in [(c_in, "input"), (c_out, "output")] {
        if !channels.is_multiple_of(groups) {
            errors.push(ShapeError::Groups { channels, groups, what });
        }
    }
    let fits = |op: usize, s: usize, d: usize| op < s || op < d;
    if !fits(output_padding.0, stride.0, dilation.0) || !fits(output_padding.1, stride.1, dilation.1) {
        errors.push(ShapeError::OutputPadding { output_padding, stride, dilation });
        return Inferred { output: None, errors };
    }
    let past = |op: usize, p: usize, s: usize| op > p && op - p >= s;
    if past(output_padding.0, padding.0, stride.0) || past(output_padding.1, padding.1, stride.1) {
        errors.push(ShapeError::OutputPaddingPastStride { output_padding, padding, stride });
        return Inferred { output: None, errors };
    }
    if let Err(e) = checked_len(&[c_in, c_out / groups, kernel.0, kernel.1], "weight") {
        errors.push(e);
        return Inferred { output: None, errors };
    }
    let full = |len: usize, k: usize, s: usize, op: usize, d: usize| {
        (len - 1).checked_mul(s)?.checked_add(d.checked_mul(k - 1)?)?.checked_add(op + 1)
    };
    let (Some(fh), Some(fw)) = (
        full(h, kernel.0, stride.0, output_padding.0, dilation.0),
        full(w, kernel.1, stride.1, output_padding.1, dilation.1),
    ) else {
        // The side that overflows, with the numbers of its formula.
        let (len, k, s, op, d) = match full(h, kernel.0, stride.0, output_padding.0, dilation.0) {
            None => (h, kernel.0, stride.0, output_padding.0, dilation.0),
            Some(_) => (w, kernel.1, stride.1, output_padding.1, dilation.1),
        };
        let what = "output side (in - 1)·stride + dilation·(kernel - 1) + output_padding + 1, for [in, stride, dilation, kernel, output_padding]";
        errors.push(ShapeError::TooLarge { what, dims: vec![len, s, d, k, op] });
        return Inferred { output: None, errors };
    };
    let crop = |full: usize, p: usize| p.checked_mul(2).filter(|&p2| p2 < full).map(|p2| full - p2);
    let (Some(ho), Some(wo)) = (crop(fh, padding.0), crop(fw, padding.1)) else {
        errors.push(ShapeError::Cropped { full: (fh, fw), padding, input });
        return Inferred { output: None, errors };
    };
    // The adjoint convolution's unfolded output gradient bounds the scratch memory.
    match checked_len(&[c_out, ho, wo], "output").and(checked_len(
        &[c_in, kernel.0, kernel.1, h, w],
        "unfolded input [input channels, kernel height, kernel width, input height, input width]",
    )) {
        Ok(_) => Inferred { output: Some(Shape::Chw(c_out, ho, wo)), errors },
        Err(e) => {
            errors.push(e);
            Inferred { output: None, errors }
        }
    }
}

/// `F.pad` in `mode` (`zeros`, `reflect`, `replicate`, `circular`) by `[left, right, top,
/// bottom]` on `input`, with PyTorch's limits: reflection below the size, circular up to it.
pub fn pad2d(input: Shape, padding: [usize; 4], mode: &'static str) -> Inferred {
    let Shape::Chw(c, h, w) = input else {
        return Inferred::fail(not_spatial(input));
    };
    let [l, r, t, b] = padding;
    let fits = |p: usize, len: usize| match mode {
        "reflect" => p < len,
        "circular" => p <= len,
        _ => true,
    };
    if !(fits(l, w) && fits(r, w) && fits(t, h) && fits(b, h)) {
        return Inferred::fail(ShapeError::PadTooLarge { mode, padding, input, inclusive: mode == "circular" });
    }
    let sum = |a: usize, b: usize, c: usize| a.checked_add(b)?.checked_add(c);
    match (sum(t, h, b), sum(l, w, r)) {
        (Some(ho), Some(wo)) => match checked_len(&[c, ho, wo], "output") {
            Ok(_) => Inferred::ok(Shape::Chw(c, ho, wo)),
            Err(e) => Inferred::fail(e),
        },
        _ => Inferred::fail(ShapeError::TooLarge { what: "output", dims: vec![c, h, w, l, r, t, b] }),
    }
}

/// `nn.Upsample(size, scale_factor)` on `input`: the size, or `floor(len · scale)` per axis
/// computed in `f64` as PyTorch does.
pub fn upsample(input: Shape, size: Option<Hw>, scale: Option<(f64, f64)>) -> Inferred {
    let Shape::Chw(c, h, w) = input else {
        return Inferred::fail(not_spatial(input));
    };
    let (ho, wo) = match (size, scale) {
        (Some(_), Some(_)) => return Inferred::fail(ShapeError::UpsampleTarget { both: true }),
        (None, None) => return Inferred::fail(ShapeError::UpsampleTarget { both: false }),
        (Some(size), None) => size,
        (None, Some((sh, sw))) => {
            let (ho, wo) = ((h as f64 * sh).floor(), (w as f64 * sw).floor());
            if ho < 1.0 || wo < 1.0 {
                let scale = if sh == sw { format!("{sh:?}") } else { format!("({sh:?}, {sw:?})") };
                return Inferred::fail(ShapeError::Vanished { scale, input });
            }
            if ho > MAX_ELEMENTS as f64 || wo > MAX_ELEMENTS as f64 {
                return Inferred::fail(ShapeError::TooLarge { what: "output", dims: vec![c, h, w] });
            }
            (ho as usize, wo as usize)
        }
    };
    match checked_len(&[c, ho, wo], "output") {
        Ok(_) => Inferred::ok(Shape::Chw(c, ho, wo)),
        Err(e) => Inferred::fail(e),
    }
}

/// `nn.PixelShuffle(r)` (`unshuffle == false`) or `nn.PixelUnshuffle(r)` on `input`.
pub fn pixel_shuffle(input: Shape, r: usize, unshuffle: bool) -> Inferred {
    let Shape::Chw(c, h, w) = input else {
        return Inferred::fail(not_spatial(input));
    };
    let Some(rr) = r.checked_mul(r).filter(|&rr| rr > 0) else {
        return Inferred::fail(ShapeError::TooLarge { what: "factor", dims: vec![r, r] });
    };
    if unshuffle {
        for (what, size) in [("height", h), ("width", w)] {
            if size % r != 0 {
                return Inferred::fail(ShapeError::Indivisible { what, size, by: r, input });
            }
        }
        return match checked_len(&[c, rr], "output channels") {
            Ok(_) => Inferred::ok(Shape::Chw(c * rr, h / r, w / r)),
            Err(e) => Inferred::fail(e),
        };
    }
    if c % rr != 0 {
        return Inferred::fail(ShapeError::Divide {
            channels: c,
            parts: rr,
            what: "groups, one for each of the r² pixel offsets",
        });
    }
    match checked_len(&[c / rr, h, r, w, r], "output") {
        Ok(_) => Inferred::ok(Shape::Chw(c / rr, h * r, w * r)),
        Err(e) => Inferred::fail(e),
    }
}

/// Output length of a pooling window along one axis, PyTorch's rule: with `ceil_mode` the last
/// window may hang over the end, but must start inside the input or its leading padding.
pub fn pool_out(len: usize, k: usize, stride: usize, pad: usize, ceil: bool) -> Option<usize> {
    let padded = len.checked_add(pad.checked_mul(2)?)?;
    if k == 0 || stride == 0 || padded < k {
        return None;
    }
    let span = padded - k;
    let mut out = if ceil { span.div_ceil(stride) } else { span / stride } + 1;
    if ceil && (out - 1) * stride >= len + pad {
        out -= 1;
    }
    Some(out)
}

/// `nn.MaxPool2d(kernel, stride, padding, ceil_mode)` / `nn.AvgPool2d(...)` on `input`.
pub fn pool2d(input: Shape, kernel: Hw, stride: Hw, padding: Hw, dilation: Hw, ceil: bool) -> Inferred {
    let Shape::Chw(c, h, w) = input else {
        return Inferred::fail(not_spatial(input));
    };
    if kernel.0 == 0 || kernel.1 == 0 || stride.0 == 0 || stride.1 == 0 || dilation.0 == 0 || dilation.1 == 0 {
        return Inferred::fail(ShapeError::Zero);
    }
    // Too much padding is an error, but the output is still defined, so checking goes on.
    // PyTorch holds the padding to half the kernel as written, dilated or not.
    let mut errors = Vec::new();
    if padding.0 > kernel.0 / 2 || padding.1 > kernel.1 / 2 {
        errors.push(ShapeError::PoolPadding { padding, kernel });
    }
    // A dilated window spans d (k - 1) + 1 inputs, which the output size reads as the kernel.
    let span = |k: usize, d: usize| d.checked_mul(k - 1).and_then(|s| s.checked_add(1));
    let (Some(kh), Some(kw)) = (span(kernel.0, dilation.0), span(kernel.1, dilation.1)) else {
        errors.push(ShapeError::TooLarge { what: "window", dims: vec![kernel.0, kernel.1, dilation.0, dilation.1] });
        return Inferred { output: None, errors };
    };
    let kernel = (kh, kw);
    match (pool_out(h, kernel.0, stride.0, padding.0, ceil), pool_out(w, kernel.1, stride.1, padding.1, ceil)) {
        (Some(ho), Some(wo)) => Inferred { output: Some(Shape::Chw(c, ho, wo)), errors },
        _ => {
            let twice = |p: usize, len: usize| p.checked_mul(2).and_then(|p| p.checked_add(len));
            let padded = twice(padding.0, h).zip(twice(padding.1, w));
            errors.push(ShapeError::Window { kernel, padded, input, padding });
            Inferred { output: None, errors }
        }
    }
}

/// `nn.AdaptiveAvgPool2d(size)` / `nn.AdaptiveMaxPool2d(size)` on `input`.
pub fn adaptive_pool2d(input: Shape, size: Hw) -> Inferred {
    let Shape::Chw(c, ..) = input else {
        return Inferred::fail(not_spatial(input));
    };
    if size.0 == 0 || size.1 == 0 {
        return Inferred::fail(ShapeError::Zero);
    }
    match checked_len(&[c, size.0, size.1], "output") {
        Ok(_) => Inferred::ok(Shape::Chw(c, size.0, size.1)),
        Err(e) => Inferred::fail(e),
    }
}

/// `nn.Flatten()`.
pub fn flatten(input: Shape) -> Shape {
    match input {
        Shape::Chw(c, h, w) => Shape::Flat(c * h * w, Some((c, h, w))),
        Shape::Hwc(h, w, c) => Shape::Flat(c * h * w, None),
        Shape::Cl(c, l) => Shape::Flat(c * l, None),
        flat => flat,
    }
}

/// `nn.Linear(f_in, f_out)` on `input`; `f_in` is `None` for `_`. A `[c, h, w]` input is an
/// error, after which checking goes on as if `flatten` had been written.
pub fn linear(input: Shape, f_in: Option<usize>, f_out: usize) -> Inferred {
    if let Shape::Hwc(h, w, c) = input {
        // Per pixel on the channels, as `nn.Linear` acts on the last dimension.
        let mut errors = Vec::new();
        if let Some(expected) = f_in.filter(|&e| e != c) {
            errors.push(ShapeError::Features { expected, found: c, input });
        }
        if f_out == 0 {
            errors.push(ShapeError::Zero);
            return Inferred { output: None, errors };
        }
        return match checked_len(&[h, w, f_out], "output").and(checked_len(&[c, f_out], "weight")) {
            Ok(_) => Inferred { output: Some(Shape::Hwc(h, w, f_out)), errors },
            Err(e) => {
                errors.push(e);
                Inferred { output: None, errors }
            }
        };
    }
    let mut errors = Vec::new();
    if let Shape::Chw(..) | Shape::Cl(..) = input {
        errors.push(ShapeError::NotFlat { input });
    }
    let flat = flatten(input);
    if let Some(expected) = f_in.filter(|&e| e != flat.len()) {
        errors.push(ShapeError::Features { expected, found: flat.len(), input: flat });
    }
    if f_out == 0 {
        errors.push(ShapeError::Zero);
        return Inferred { output: None, errors };
    }
    match checked_len(&[flat.len(), f_out], "weight") {
        Ok(_) => Inferred { output: Some(Shape::Flat(f_out, None)), errors },
        Err(e) => {
            errors.push(e);
            Inferred { output: None, errors }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(input: Shape, c_in: Option<usize>, c_out: usize, k: Hw, s: Hw, p: Hw) -> Inferred {
        conv2d(input, c_in, c_out, k, s, ConvPadding::Symmetric(p), (1, 1), 1).0
    }

    #[test]
    fn lenet_shapes() {
        let x = Shape::Chw(1, 28, 28);
        let x = conv(x, Some(1), 6, (5, 5), (1, 1), (2, 2)).output.unwrap();
        assert_eq!(x, Shape::Chw(6, 28, 28));
        let x = pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), false).output.unwrap();
        let x = conv(x, None, 16, (5, 5), (1, 1), (0, 0)).output.unwrap();
        assert_eq!(x, Shape::Chw(16, 10, 10));
        let x = flatten(pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), false).output.unwrap());
        assert_eq!(x, Shape::Flat(400, Some((16, 5, 5))));
        assert_eq!(linear(x, Some(400), 120).output, Some(Shape::Flat(120, None)));
    }

    #[test]
    fn floor_division_tuples_and_strides() {
        // nn.Conv2d(3, 5, (3, 5), stride=(2, 1), padding=(1, 2)) on 17x13 gives 9x13.
        assert_eq!(conv(Shape::Chw(3, 17, 13), None, 5, (3, 5), (2, 1), (1, 2)).output, Some(Shape::Chw(5, 9, 13)));
        // nn.MaxPool2d(3) on 7x8 gives 2x2; MaxPool2d((2, 3), (1, 2)) on 5x9 gives 4x4.
        assert_eq!(
            pool2d(Shape::Chw(2, 7, 8), (3, 3), (3, 3), (0, 0), (1, 1), false).output,
            Some(Shape::Chw(2, 2, 2))
        );
        assert_eq!(
            pool2d(Shape::Chw(2, 5, 9), (2, 3), (1, 2), (0, 0), (1, 1), false).output,
            Some(Shape::Chw(2, 4, 4))
        );
        assert_eq!(window_out(1, 1, 5, 0, 0, 1), Some(1));
        assert_eq!(window_out(2, 3, 1, 1, 1, 1), Some(2));
        assert_eq!(window_out(2, 5, 1, 1, 1, 1), None);
    }

    /// Values PyTorch gives (`nn.Conv2d(...)(torch.zeros(...)).shape` and the pools').
    #[test]
    fn dilation_groups_same_ceil_and_adaptive() {
        // Conv2d(4, 6, 3, dilation=2, groups=2) on 9x7 -> [6, 5, 3].
        assert_eq!(
            conv2d(Shape::Chw(4, 9, 7), None, 6, (3, 3), (1, 1), ConvPadding::Symmetric((0, 0)), (2, 2), 2).0.output,
            Some(Shape::Chw(6, 5, 3))
        );
        // Conv2d(2, 3, (4, 3), padding='same', dilation=(1, 2)) on 6x5 keeps 6x5, pads (1, 2, 2, 2).
        let (r, pads) = conv2d(Shape::Chw(2, 6, 5), None, 3, (4, 3), (1, 1), ConvPadding::Same, (1, 2), 1);
        assert_eq!((r.output, pads), (Some(Shape::Chw(3, 6, 5)), (1, 2, 2, 2)));
        let (r, _) = conv2d(Shape::Chw(2, 6, 5), None, 3, (3, 3), (2, 2), ConvPadding::Same, (1, 1), 1);
        assert_eq!(r.errors, vec![ShapeError::SameStride]);
        let (r, _) = conv2d(Shape::Chw(6, 6, 5), None, 4, (3, 3), (1, 1), ConvPadding::Symmetric((1, 1)), (1, 1), 4);
        assert_eq!(r.errors, vec![ShapeError::Groups { channels: 6, groups: 4, what: "input" }]);
        // MaxPool2d(3, 2, padding=1) on 7 -> 4; AvgPool2d(2, ceil_mode=True) on 5 -> 3;
        // MaxPool2d(3, 2, ceil_mode=True) on 6 -> 3 (a window may not start in the end padding).
        assert_eq!(pool_out(7, 3, 2, 1, false), Some(4));
        assert_eq!(pool_out(5, 2, 2, 0, true), Some(3));
        assert_eq!(pool_out(6, 3, 2, 0, true), Some(3));
        assert_eq!(pool_out(6, 2, 2, 1, true), Some(4));
        assert_eq!(
            pool2d(Shape::Chw(1, 5, 5), (2, 2), (2, 2), (2, 0), (1, 1), false).errors,
            vec![ShapeError::PoolPadding { padding: (2, 0), kernel: (2, 2) }]
        );
        assert_eq!(adaptive_pool2d(Shape::Chw(3, 5, 7), (2, 9)).output, Some(Shape::Chw(3, 2, 9)));
        // Dilation 2 makes a 3-tap window span 5: (7 + 2 - 5) / 1 + 1 = 5 rows, 4 columns on 6.
        assert_eq!(
            pool2d(Shape::Chw(2, 7, 6), (3, 3), (1, 1), (1, 1), (2, 2), false).output,
            Some(Shape::Chw(2, 5, 4))
        );
        // The padding is held to half the kernel as written (PyTorch refuses k=2, p=2, d=3).
        assert_eq!(
            pool2d(Shape::Chw(1, 9, 9), (2, 2), (1, 1), (2, 2), (3, 3), false).errors,
            vec![ShapeError::PoolPadding { padding: (2, 2), kernel: (2, 2) }]
        );
        // Ceil mode with a dilated window: (8 - 4 + 1) / 2 + 1 = 3 (the last starts inside).
        assert_eq!(pool2d(Shape::Chw(1, 8, 7), (2, 3), (2, 2), (0, 0), (3, 1), true).output, Some(Shape::Chw(1, 3, 3)));
    }

    #[test]
    fn channel_mismatch_keeps_the_output() {
        let r = conv(Shape::Chw(6, 14, 14), Some(8), 16, (3, 3), (1, 1), (0, 0));
        assert_eq!(r.output, Some(Shape::Chw(16, 12, 12)));
        assert_eq!(r.errors, vec![ShapeError::Channels { expected: 8, found: 6, input: Shape::Chw(6, 14, 14) }]);
    }

    #[test]
    fn window_too_large() {
        let r = conv(Shape::Chw(16, 3, 3), None, 8, (5, 5), (1, 1), (0, 0));
        assert_eq!(r.output, None);
        assert_eq!(
            r.errors,
            vec![ShapeError::Window {
                kernel: (5, 5),
                padded: Some((3, 3)),
                input: Shape::Chw(16, 3, 3),
                padding: (0, 0)
            }]
        );
        assert!(pool2d(Shape::Chw(1, 1, 4), (2, 2), (2, 2), (0, 0), (1, 1), false).output.is_none());
    }

    #[test]
    fn linear_without_flatten_goes_on_flattened() {
        let r = linear(Shape::Chw(16, 5, 5), Some(500), 10);
        assert_eq!(r.output, Some(Shape::Flat(10, None)));
        assert_eq!(
            r.errors,
            vec![
                ShapeError::NotFlat { input: Shape::Chw(16, 5, 5) },
                ShapeError::Features { expected: 500, found: 400, input: Shape::Flat(400, Some((16, 5, 5))) }
            ]
        );
    }

    #[test]
    fn spatial_after_flatten_and_zero_and_overflow() {
        let flat = Shape::Flat(10, None);
        assert_eq!(conv(flat, None, 1, (1, 1), (1, 1), (0, 0)).errors, vec![ShapeError::NotSpatial { input: flat }]);
        assert_eq!(
            pool2d(flat, (2, 2), (2, 2), (0, 0), (1, 1), false).errors,
            vec![ShapeError::NotSpatial { input: flat }]
        );
        assert_eq!(pool2d(Shape::Chw(1, 4, 4), (0, 2), (2, 2), (0, 0), (1, 1), false).errors, vec![ShapeError::Zero]);
        assert_eq!(conv(Shape::Chw(1, 4, 4), None, 1, (1, 1), (0, 1), (0, 0)).errors, vec![ShapeError::Zero]);
        assert_eq!(linear(flat, None, 0).errors, vec![ShapeError::Zero]);
        let huge = conv(Shape::Chw(1, 4, 4), None, usize::MAX, (1, 1), (1, 1), (0, 0));
        assert!(matches!(&huge.errors[..], [ShapeError::TooLarge { what: "weight", .. }]), "{:?}", huge.errors);
        assert_eq!(window_out(usize::MAX, 3, 1, usize::MAX, usize::MAX, 1), None);
        let r = conv(Shape::Chw(1, usize::MAX / 4, 4), None, 1, (3, 3), (1, 1), (usize::MAX, 1));
        assert!(r.output.is_none());
        assert_eq!(pool_out(usize::MAX, 2, 1, usize::MAX, true), None);
    }
}
